"""Quantities as people write them: parsing, rejection, and display → parse round trips."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llm_advisor.engine.language.quantity import (
    MAX_VALUE,
    MIN_VALUE,
    UNITS,
    WHOLE_UNITS,
    QuantityError,
    display,
    parse,
)

# Four significant digits: display rounds to at most half a unit in the fourth digit.
DISPLAY_REL_TOL = 5e-4
# Each example takes microseconds; a busy machine must not turn that into a flaky deadline.
no_deadline = settings(deadline=None)


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("150k", "tokens", 150_000),
        ("5B", "tokens", 5e9),
        ("4b", "tokens", 4e9),
        ("2.5M", "tokens", 2.5e6),
        ("1,000", "count", 1000),
        ("$1,234,567.5", "usd", 1_234_567.5),
        ("$1,500k", "usd", 1_500_000),
        ("none", "tokens", 0),  # no text or examples at all is shown as "none"
        ("None", "count", 0),
        ("1_000", "count", 1000),
        ("0", "count", 0),
        ("40", "count", 40),
        ("20k", "count", 20_000),
        ("40 examples", "count", 40),
        ("150k tokens", "tokens", 150_000),
        (".5k", "tokens", 500),
        ("$50k", "usd", 50_000),
        ("3M", "usd", 3e6),
        ("$3M", "usd", 3e6),
        ("250k", "usd", 250_000),
        ("$1,500", "usd", 1500),
        ("5k usd", "usd", 5000),
        ("3d", "duration", 3),
        ("2w", "duration", 14),
        ("4mo", "duration", 120),
        ("6mo", "duration", 180),
        ("1y", "duration", 365),
        ("1.5y", "duration", 547.5),
        ("3 weeks", "duration", 21),
        ("  2W ", "duration", 14),
        ("0", "duration", 0),  # no time at all needs no unit
        ("1000000T", "tokens", MAX_VALUE),
    ],
)
def test_parses_human_forms(text: str, unit: str, expected: float) -> None:
    assert parse(text, unit) == expected


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("-5", "count"),
        ("-150k", "tokens"),
        ("$-5k", "usd"),
        ("-$5k", "usd"),
        ("lots", "tokens"),
        ("", "tokens"),
        ("k", "tokens"),
        ("5x", "tokens"),
        ("5kk", "tokens"),
        ("1e3", "count"),
        ("1.2.3", "count"),
        ("inf", "count"),
        ("nan", "count"),
        ("$5k", "tokens"),
        ("5 dollars", "count"),
        ("1 2", "count"),
        ("none", "usd"),  # "no budget" might mean no limit: not taken as $0
    ],
)
def test_rejects_garbage_and_negatives(text: str, unit: str) -> None:
    with pytest.raises(QuantityError, match="expected a number"):
        parse(text, unit)


@pytest.mark.parametrize(
    ("text", "unit"),
    [("1,5M", "usd"), ("12,5", "count"), ("50,00", "usd"), (",5", "tokens"), ("1,0000", "count")],
)
def test_refuses_a_comma_that_does_not_separate_thousands(text: str, unit: str) -> None:
    """Dropping a decimal comma would read 1,5M as 15M."""
    with pytest.raises(QuantityError, match="comma only separates thousands"):
        parse(text, unit)


@pytest.mark.parametrize(("text", "unit"), [("0k", "usd"), ("$0k", "usd"), ("0.0M", "tokens")])
def test_refuses_zero_with_a_suffix(text: str, unit: str) -> None:
    """What a shell leaves of an unquoted `budget=$50k` is `budget=0k`, not a budget of $0."""
    with pytest.raises(QuantityError, match="zero with a suffix"):
        parse(text, unit)


@pytest.mark.parametrize(
    ("text", "unit"),
    [("2.5", "count"), ("0.5 examples", "count"), ("1.2345k", "count"), ("150.5", "tokens")],
)
def test_refuses_a_fraction_of_something_counted(text: str, unit: str) -> None:
    """Tokens and examples are counted: `2.5` examples is a typo, not a case to advise on."""
    with pytest.raises(QuantityError, match="whole number"):
        parse(text, unit)
    assert parse("1.5k", unit) == 1500  # a decimal that scales to a whole number is one


@pytest.mark.parametrize("text", ["30", "2.5", "3m", "3 fortnights", "d", "-3d", "3d2", "none"])
def test_rejects_durations_without_a_known_unit(text: str) -> None:
    with pytest.raises(QuantityError, match="expected a duration such as 5d, 3w, 4mo, 1y"):
        parse(text, "duration")


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("1000001T", "tokens"),
        ("2000000T", "count"),
        ("$5000000T", "usd"),
        ("9" * 400, "count"),  # float("9" * 400) is infinite
        ("3000000000000000y", "duration"),
    ],
)
def test_rejects_overflow(text: str, unit: str) -> None:
    with pytest.raises(QuantityError, match="too large") as err:
        parse(text, unit)
    # The limit in the message is itself written so that it parses back.
    limit = str(err.value).split("at most ")[1].rstrip(")")
    assert parse(limit, unit) == MAX_VALUE


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (150_000, "tokens", "150k"),
        (5e9, "tokens", "5B"),
        (2.5e6, "count", "2.5M"),
        (40, "count", "40"),
        (0, "count", "none"),  # no examples at all, as the band below one reads
        (0, "tokens", "none"),
        (0, "usd", "$0"),
        (50_000, "usd", "$50k"),
        (3e6, "usd", "$3M"),
        (3, "duration", "3d"),
        (14, "duration", "2w"),
        (120, "duration", "4mo"),
        (365, "duration", "1y"),
        (10, "duration", "10d"),
        (MAX_VALUE, "tokens", "1000000T"),
        (1e-5, "count", "0.00001"),
        (3_650_000, "duration", "10000y"),
    ],
)
def test_display(value: float, unit: str, shown: str) -> None:
    assert display(value, unit) == shown


units = st.sampled_from(UNITS)


@no_deadline
@given(
    value=st.just(0.0) | st.floats(min_value=MIN_VALUE, max_value=MAX_VALUE),
    unit=units,
)
def test_display_parses_back_to_nearly_the_same_value(value: float, unit: str) -> None:
    if unit in WHOLE_UNITS:
        value = float(round(value))
    shown = display(value, unit)
    back = parse(shown, unit)
    assert math.isclose(back, value, rel_tol=DISPLAY_REL_TOL, abs_tol=1e-300), shown


@no_deadline
@given(
    digits=st.integers(min_value=0, max_value=9999),
    scale=st.sampled_from([1.0, 1e3, 1e6, 1e9, 1e12]),
    unit=st.sampled_from(["tokens", "count", "usd"]),
)
def test_round_values_round_trip_exactly(digits: int, scale: float, unit: str) -> None:
    value = digits * scale
    assert parse(display(value, unit), unit) == pytest.approx(value, rel=1e-12)


@no_deadline
@given(
    amount=st.integers(min_value=0, max_value=9999),
    days=st.sampled_from([1, 7, 30, 365]),
)
def test_whole_durations_round_trip_exactly(amount: int, days: int) -> None:
    value = float(amount * days)
    assert parse(display(value, "duration"), "duration") == value


@no_deadline
@given(
    number=st.decimals(min_value=0, max_value=9999, places=2, allow_nan=False),
    suffix=st.sampled_from(["", "k", "M", "B", "T"]),
)
def test_typed_text_round_trips_through_display(number: Decimal, suffix: str) -> None:
    assume(number != 0 or not suffix)  # zero with a suffix is refused (see above)
    assume(suffix or number == int(number))  # tokens are whole (see above)
    value = parse(f"{number}{suffix}", "tokens")
    assert parse(display(value, "tokens"), "tokens") == pytest.approx(value, rel=DISPLAY_REL_TOL)


@pytest.mark.parametrize("text", ["1000000000.5", "1.0000000001B", "123456789012.3"])
def test_a_fraction_of_a_large_count_is_no_rounding_error(text: str) -> None:
    with pytest.raises(QuantityError, match="whole number"):
        parse(text, "count")
