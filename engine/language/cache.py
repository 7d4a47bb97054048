"""Validated rule bases kept between runs.

Reading, validating and indexing the YAML costs more than the rest of a cold `recommend`. A rule
base whose files are byte for byte the same as last time is read back from a pickle in a cache
folder the caller chooses (the user's own cache directory), keyed by the files' fingerprint and
by the code that validates them. A missing, stale or unreadable entry only costs the load.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from llm_advisor.engine.language.model import KnowledgeBase, RuleFile

Build = Callable[[tuple[RuleFile, ...], str], KnowledgeBase]


def cached_knowledge_base(
    files: tuple[RuleFile, ...], where: str, cache_dir: Path, build: Build
) -> KnowledgeBase:
    """The knowledge base of `files` from `cache_dir`, else `build(files, where)` stored there."""
    from llm_advisor.engine.language.loader import fingerprint

    path = cache_dir / f"rulebase-{fingerprint(files)[:32]}-{_code_version()}.pickle"
    try:
        with path.open("rb") as stored:
            kb = pickle.load(stored)
        if isinstance(kb, KnowledgeBase) and kb.files == files:
            return replace(kb, directory=where)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        pass
    kb = build(files, where)
    import tempfile  # only when writing: a warm start never needs it

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            pickle.dump(kb, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return kb


def _code_version() -> str:
    """A hash of the rule language's code, so that a changed validator never reads a stale entry."""
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()[:16]
