"""Fuzzing helpers: deterministic mutations of rule bases, checks of what loading them does, and
the settings the property-based fuzz tests share.

Used by `tests/test_fuzz_inputs.py`, `tests/test_fuzz_rules.py` and by `make fuzz`
(`python -m tests.fuzz`: many more mutants, `FUZZ_N` of them, and `FUZZ_SCALE` times the
examples of every property, drawn at random instead of the same ones each run).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))


def fuzz_settings(examples: int) -> Any:
    """Hypothesis settings for one property: `examples` times `FUZZ_SCALE`, no deadline; the
    same examples on every run unless scaled up."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
