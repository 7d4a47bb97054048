"""Output files: written whole or not at all, and never over a file of another kind.

A file is written to a temporary file beside the target and renamed over it, so a reader sees
the old file or the new one, never half of one. An existing target is replaced only when it is
a regular file that already holds the kind of content being written (or nothing): a directory,
a device, an SQLite audit store or a PDF given where SVG is written is refused as bad input.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

from .errors import InputError

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


def check_output(path: Path, kind: str) -> None:
    """Fail, as bad input, when `path` cannot or must not be written with `kind` content."""
    parent = path.parent if str(path.parent) else Path(".")
    shown = str(path)
    if path.is_dir():
        raise InputError(f"output path {shown} is a directory", item=shown)
    if not parent.is_dir():
        raise InputError(f"cannot write {shown}: directory {parent} does not exist", item=shown)
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


def write_output(path: Path, data: bytes, kind: str) -> None:
    """Write `data` (content of `kind`) to `path` atomically, after `check_output`."""
    check_output(path, kind)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}", item=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
