"""Small helpers for the wording of messages."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number: `1 case`, `2 cases`, `1,000 processes`."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def listed(items: tuple[str, ...], last: str = "and") -> str:
    """Items as a sentence lists them: `a`, `a and b`, `a, b and c` (or `a, b or c`)."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def json_number(value: object) -> object:
    """A fact value as JSON shows it: a whole quantity as an integer (`1000`, not `1000.0`)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
