"""Generated portfolios for the batch benchmarks: CSV files of cases, as a team would submit them.

A portfolio has an `id` and a `team` column (passed through) and one column per fact of the rule
base. Rows are drawn from a pool of distinct profiles, since the cases of a real portfolio repeat
(many teams share a situation); with `distinct` equal to the row count nearly every row is new.
Values are written the way people type them: enum values, `yes`/`no`, and quantities such as
`150k`, `$50k` or `3w`, one inside every band the rules distinguish.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from engine.model import KnowledgeBase
from engine.quantity import display


def vocabulary(kb: KnowledgeBase) -> dict[str, list[str]]:
    """Per fact, the values a portfolio uses: every value, or a quantity in every band."""
    out: dict[str, list[str]] = {}
    for fact in kb.facts:
        if fact.type == "bool":
            out[fact.name] = ["yes", "no"]
        elif fact.type == "enum":
            out[fact.name] = list(fact.values)
        else:
            assert fact.unit is not None
            bounds = kb.thresholds(fact.name) or (1.0,)
            points = [bounds[0] / 2, *bounds, bounds[-1] * 3]
            out[fact.name] = list(dict.fromkeys(display(p, fact.unit) for p in points))
    return out


def profiles(kb: KnowledgeBase, count: int, seed: int) -> list[list[str]]:
    """`count` random profiles (rows of fact values in schema order), mostly distinct."""
    rng = random.Random(seed)
    words = vocabulary(kb)
    return [[rng.choice(words[f.name]) for f in kb.facts] for _ in range(count)]


def write_portfolio(path: Path, kb: KnowledgeBase, rows: int, distinct: int, seed: int) -> None:
    """A CSV portfolio of `rows` rows drawn uniformly from `distinct` profiles."""
    rng = random.Random(seed + 1)
    pool = profiles(kb, distinct, seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "team", *kb.fact_names])
        for i in range(rows):
            writer.writerow([i, f"team-{i % 211}", *rng.choice(pool)])
