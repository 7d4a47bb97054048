"""Quantities as people say them: `150k` tokens, `$50k`, `3M` dollars, `3d`, `2w`, `4mo`, `1y`.

Values are normalised to plain numbers: a count for `tokens` and `count`, dollars for `usd`,
days for `duration`.
"""

from __future__ import annotations

import math
import re

UNITS = ("tokens", "count", "usd", "duration")
WHOLE_UNITS = ("tokens", "count")
"""The units that count things: their quantities are whole numbers."""

_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_DAYS = {
    "d": 1,
    "day": 1,
    "days": 1,
    "w": 7,
    "wk": 7,
    "week": 7,
    "weeks": 7,
    "mo": 30,
    "month": 30,
    "months": 30,
    "y": 365,
    "yr": 365,
    "year": 365,
    "years": 365,
}
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_SCALED = re.compile(rf"^{_NUMBER}\s*([kmbt]?)$")
_DURATION = re.compile(rf"^{_NUMBER}\s*([a-z]+)$")
_LEADING_NUMBER = re.compile(r"[\d.,]+")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_NOUNS = {"tokens": ("tokens", "token"), "count": ("examples", "example", "pairs")}
MAX_VALUE = 1e18
MIN_VALUE = 1e-4
"""The smallest quantity other than 0 (the inference engine cannot read smaller numbers)."""

EXAMPLES = {
    "tokens": "150k, 5M, 4B",
    "count": "0, 40, 20k",
    "usd": "$5k, 250k, $3M",
    "duration": "5d, 3w, 4mo, 1y",
}


class QuantityError(ValueError):
    """A quantity that cannot be parsed; the message says what is expected."""


def parse(text: str, unit: str) -> float:
    """Parse `text` as a quantity of `unit`; raises `QuantityError` with a helpful message."""
    raw = str(text).strip().lower().replace("_", "")
    if unit == "usd":
        raw = raw.removeprefix("$").removesuffix("usd").removesuffix("dollars").strip()
    for noun in _NOUNS.get(unit, ()):
        raw = raw.removesuffix(noun).strip()
    raw = _without_thousands_separators(raw)
    if (raw == "none" and unit in WHOLE_UNITS) or (unit == "duration" and raw in ("0", "0.0")):
        return 0.0  # "none" is how no text or examples are shown; no time at all needs no unit
    if unit == "duration":
        match = _DURATION.match(raw)
        if not match or match.group(2) not in _DAYS:
            raise QuantityError(f"expected a duration such as {EXAMPLES[unit]}")
        value = float(match.group(1)) * _DAYS[match.group(2)]
    else:
        match = _SCALED.match(raw)
        if not match:
            raise QuantityError(f"expected a number such as {EXAMPLES[unit]}")
        if match.group(2) and float(match.group(1)) == 0:
            # Nobody writes zero as "0k": it is what a shell leaves of an unquoted "$50k".
            raise QuantityError(
                "zero with a suffix is ambiguous: write 0, or quote a value with a $ on a "
                "command line ('budget=$50k')"
            )
        value = float(match.group(1)) * _SCALE[match.group(2)]
    return checked(value, unit)


def _without_thousands_separators(raw: str) -> str:
    """`raw` without the commas of a number grouped in thousands (`1,500`); any other comma
    is refused, since in many languages it is a decimal point (`1,5M`) and dropping it would
    silently read a value ten or a hundred times too large."""
    if "," not in raw:
        return raw
    number = _LEADING_NUMBER.match(raw)
    if number is None or not _GROUPED.fullmatch(number.group()):
        raise QuantityError(
            "a comma only separates thousands (1,500); write decimals with a dot (1.5M)"
        )
    return raw.replace(",", "")


def checked(value: float, unit: str) -> float:
    """A parsed quantity within the range every quantity keeps to, and a whole number where it
    counts things (tokens, examples); `QuantityError` if not."""
    if not math.isfinite(value) or value > MAX_VALUE:
        raise QuantityError(f"too large (at most {display(MAX_VALUE, unit)})")
    if unit in WHOLE_UNITS:
        whole = float(round(value))
        # A scaled decimal (`4.1B`) misses its whole number by a rounding error of an ulp or so.
        if abs(value - whole) > 4 * math.ulp(max(whole, 1.0)):
            raise QuantityError(f"expected a whole number of {_NOUNS[unit][0]}")
        return whole
    if 0 < value < MIN_VALUE:
        raise QuantityError(f"too small (0, or at least {_digits(MIN_VALUE)})")
    return value + 0.0


def _digits(value: float) -> str:
    """At most four significant digits, never in exponent notation (which `parse` rejects)."""
    text = f"{value:.4g}"
    if "e" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
    return text


def _short(value: float) -> str:
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{_digits(value / scale)}{suffix}"
    return _digits(value)


def display(value: float, unit: str) -> str:
    """Render a normalised value the way a user would write it; no text or examples at all read
    "none", as the bands below one read."""
    if unit in WHOLE_UNITS and value == 0:
        return "none"
    if unit == "usd":
        return "$" + _short(value)
    if unit == "duration":
        for suffix, days in (("y", 365), ("mo", 30), ("w", 7)):
            if value >= days and value % days == 0:
                return f"{_digits(value / days)}{suffix}"
        return f"{_digits(value)}d"
    return _short(value)
