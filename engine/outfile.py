"""Output files: written whole or not at all, and never over a file of another kind.

A file is written to a temporary file beside the target and renamed over it, so a reader sees
the old file or the new one, never half of one. An existing target is replaced only when it is
a regular file that already holds the kind of content being written (or nothing): a directory,
a device, an SQLite audit store or a PDF given where SVG is written is refused as bad input. A
symbolic link is written through: the file it points to is replaced, the link stays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from llm_advisor.engine.errors import InputError

SIGNATURES = (
    (b"%PDF-", "pdf", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "png", "a PNG image"),
    (b"SQLite format 3\0", "sqlite", "an SQLite database"),
)
"""How files of some kinds start: outputs that are not text, and files never to replace."""
SNIFF_BYTES = 4096


def _is_text(head: bytes) -> bool:
    """Whether the start of a file is UTF-8 text (a character cut off at the end is fine)."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(head) - 3
    return True


def holds(head: bytes, kind: str) -> bool:
    """Whether a file starting with `head` holds content of `kind` (an empty file does)."""
    if not head:
        return True
    for signature, signed, _ in SIGNATURES:
        if head.startswith(signature):
            return kind == signed
    if kind in ("pdf", "png") or not _is_text(head):
        return False
    return kind != "svg" or b"<svg" in head


def describe(head: bytes) -> str:
    for signature, _, name in SIGNATURES:
        if head.startswith(signature):
            return name
    return "text" if _is_text(head) else "binary data"


def target_of(path: Path) -> Path:
    """The file that writing `path` replaces: a symbolic link's destination, else `path`."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def missing_directory(path: Path) -> str | None:
    """Why the directory of `path` cannot hold it (missing, or a file), or None if it can."""
    parent = path.parent
    if parent.is_dir():
        return None
    return (
        f"{parent} is not a directory" if parent.exists() else f"directory {parent} does not exist"
    )


def check_output(path: Path, kind: str) -> None:
    """Fail, as bad input, when `path` cannot or must not be written with `kind` content."""
    shown = str(path)
    path = target_of(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"output path {shown} is a directory", item=shown)
    if (why := missing_directory(path)) is not None:
        raise InputError(f"cannot write {shown}: {why}", item=shown)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {shown}: permission denied", item=shown)
    if not path.exists():
        return
    if not path.is_file():
        raise InputError(f"refusing to replace {shown}: it is not a regular file", item=shown)
    try:
        with path.open("rb") as existing:
            head = existing.read(SNIFF_BYTES)
    except OSError as err:
        raise InputError(f"cannot write {shown}: {err.strerror or err}", item=shown) from None
    if not holds(head, kind):
        raise InputError(
            f"refusing to replace {shown}: it holds {describe(head)}, not {kind.upper()}; "
            "remove it first or choose another name",
            item=shown,
        )


def _cannot_write(path: Path, err: OSError) -> InputError:
    return InputError(f"cannot write {path}: {err.strerror or err}", item=str(path))


@contextmanager
def atomic_output(path: Path, kind: str, buffering: int = -1) -> Iterator[BinaryIO]:
    """A temporary file to write `kind` content into (after `check_output`); it replaces
    `path` when the block finishes and is removed when the block fails."""
    import tempfile  # here, not above: checking a path (a store's, say) needs none of it

    check_output(path, kind)
    target = target_of(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise _cannot_write(path, err) from None
    try:
        with os.fdopen(fd, "wb", buffering=buffering) as out:
            yield out
            try:
                out.flush()
            except OSError as err:  # a full disk, say
                raise _cannot_write(path, err) from None
        umask = os.umask(0)
        os.umask(umask)
        try:
            os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it
            os.replace(tmp, target)
        except OSError as err:  # an immutable file, say
            raise _cannot_write(path, err) from None
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_output(path: Path, data: bytes, kind: str) -> None:
    """Write `data` (content of `kind`) to `path` whole or not at all."""
    with atomic_output(path, kind) as out:
        try:
            out.write(data)
        except OSError as err:
            raise _cannot_write(path, err) from None
