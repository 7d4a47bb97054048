"""Fuzzing helpers: deterministic mutations of rule bases, and checks of what loading them does.

Used by `tests/test_fuzz_rules.py` (a few thousand mutations) and by `make fuzz`
(`python -m tests.fuzz`, many more; `FUZZ_N` sets how many).
"""
