"""Validated rule bases kept between runs.

Reading, validating and indexing the YAML costs more than the rest of a cold `recommend`. A rule
base whose files are byte for byte the same as last time is read back from a pickle in a cache
folder the caller chooses (the user's own cache directory), named by checksums of the files and
of the code that validates them. A missing, stale or unreadable entry only costs the load.
"""

from __future__ import annotations

import functools
import os
import pickle
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from llm_advisor.engine.language.model import KnowledgeBase, RuleFile

Build = Callable[[tuple[RuleFile, ...], str], KnowledgeBase]
CHECKSUM = 8
"""Bytes of the CRC-32 (in hex) that starts an entry, so that a damaged entry is never read."""


def cached_knowledge_base(
    files: tuple[RuleFile, ...], where: str, cache_dir: Path, build: Build
) -> KnowledgeBase:
    """The knowledge base of `files` from `cache_dir`, else `build(files, where)` stored there."""
    ordered = sorted(files, key=lambda f: f.name)
    named = crc(f.name.encode() + b"\0" + f.content for f in ordered)
    code = code_version()
    path = cache_dir / f"rulebase-{named}-{code}.pickle"
    try:
        stored = path.read_bytes()
        body = stored[CHECKSUM:]
        if stored[:CHECKSUM] == _checksum(body):  # else damaged: built again below
            kb = pickle.loads(body)
            if isinstance(kb, KnowledgeBase) and kb.files == files:
                return replace(kb, directory=where)
    except Exception:  # an entry that cannot be read, whatever the damage, only costs the load
        pass
    kb = build(files, where)
    _store(kb, path, code)
    return kb


def _store(kb: KnowledgeBase, path: Path, code: str) -> None:
    """Write an entry atomically, and remove the entries an earlier version of the code left."""
    import tempfile  # only when writing: a warm start never needs it

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        body = pickle.dumps(kb, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as out:
            out.write(_checksum(body) + body)
        os.replace(tmp, path)
        tmp = None
        for entry in path.parent.glob("rulebase-*.pickle"):
            if not entry.name.endswith(f"-{code}.pickle"):
                entry.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@functools.cache
def code_version() -> str:
    """A checksum of the rule language's code, so that a changed validator never reads a stale
    entry."""
    modules = sorted(Path(__file__).parent.glob("*.py"))
    return crc(module.name.encode() + b"\0" + module.read_bytes() for module in modules)


def crc(parts: Iterable[bytes]) -> str:
    """A CRC-32 of `parts`, which spares a warm start loading OpenSSL's hashes. Enough to name an
    entry: a hit is compared byte for byte with the rule files, and the code's checksum only has
    to change when the code does (two versions alike in it are one chance in four billion)."""
    checksum = 0
    for part in parts:
        checksum = zlib.crc32(part + b"\0", checksum)
    return f"{checksum:08x}"


def _checksum(body: bytes) -> bytes:
    return f"{zlib.crc32(body):08x}".encode()
