"""Strict JSON Lines rows: only JSON that can be read unambiguously and written back as it was
read (no duplicate keys, no `NaN` or `Infinity`, no unpaired surrogate, bounded nesting)."""

from __future__ import annotations

import json
import math
from typing import Any

from llm_advisor.engine.batch.verdict import RowError, dump_json

MAX_DEPTH = 100
"""Levels of arrays and objects a JSON Lines row may nest: far within Python's recursion limit,
so that any row read can be written back."""


def json_value(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class _NotStrict(ValueError):
    """JSON that Python's parser accepts but that cannot be read unambiguously or written back
    as strict JSON; the message is the whole row error."""

    def __init__(self, message: str, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members; a key given twice is an error (the last value would win)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotStrict(f"key {key!r} appears twice", key)
            seen.add(key)
    return obj


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; one beyond a float's range is an error (it
    would be written back as the non-JSON `Infinity`)."""
    value = float(text)
    if math.isinf(value):
        raise _NotStrict(f"not valid JSON: number out of range: {text[:40]}")
    return value


def _constant(name: str) -> float:
    raise _NotStrict(f"not valid JSON: {name} is not a JSON number")


_DECODE = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=_finite, parse_constant=_constant
).decode


def _depth(value: object) -> int:
    """How many levels of arrays and objects `value` has (counted without recursion)."""
    depth = 0
    level = [value]
    while containers := [v for v in level if isinstance(v, list | dict)]:
        depth += 1
        level = [x for c in containers for x in (c.values() if isinstance(c, dict) else c)]
    return depth


def parse_json(raw: bytes, number: int) -> dict[str, Any] | RowError:
    """A line of JSON Lines as an object, or why it is not one. Only strict JSON that can be
    written back as it was read is accepted: no duplicate keys, no `NaN` or `Infinity`, no
    unpaired surrogate, at most `MAX_DEPTH` levels of nesting."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as err:
        return RowError(f"not valid UTF-8 (byte {err.start + 1} of the line)")
    too_deep = f"not valid JSON: nested more than {MAX_DEPTH} levels deep"
    try:
        obj = _DECODE(text)
    except _NotStrict as err:
        return RowError(str(err), err.item)
    except ValueError as err:
        return RowError(f"not valid JSON: {getattr(err, 'msg', err)}")
    except RecursionError:
        return RowError(too_deep)
    if not isinstance(obj, dict):
        return RowError("expected a JSON object")
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(obj) > MAX_DEPTH:
        return RowError(too_deep)
    if "\\u" in text:  # only an escape can make an unpaired surrogate
        try:
            dump_json(obj).encode("utf-8")
        except UnicodeEncodeError as err:
            code = f"\\u{ord(err.object[err.start]):04x}"
            return RowError(f"not valid Unicode: unpaired surrogate {code}")
    return obj
