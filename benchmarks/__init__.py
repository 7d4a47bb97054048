"""Reproducible performance measurements of llm-advisor.

Run them with `python -m benchmarks` (or `make bench`). Every figure is a ratio against a baseline
measured in the same run on the same machine, so results compare across machines; the raw numbers
behind each ratio are kept in `benchmarks/results.json`.
"""
