"""Generated portfolios for the batch benchmarks: CSV files of cases, as a team would submit them.

A portfolio has an `id` and a `team` column (passed through) and one column per fact of the rule
base. Rows are drawn from a pool of distinct profiles, since the cases of a real portfolio repeat
(many teams share a situation); with `distinct` equal to the row count nearly every row is new.
Values are written the way people type them: enum values, `yes`/`no`, and quantities such as
`150k`, `$50k` or `3w`, one inside every band the rules distinguish.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llm_advisor.engine.language.model import KnowledgeBase
from llm_advisor.engine.language.quantity import display


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


@dataclass(frozen=True)
class Run:
    """One finished process: wall-clock and CPU seconds, and its peak resident memory."""

    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    stderr: str


def run_process(argv: list[str], env: dict[str, str]) -> Run:
    """Run a process to completion and measure it with `wait4`, which reports that one child's
    CPU time and peak RSS (including any children it waited for) — unlike RUSAGE_CHILDREN,
    which keeps the maximum over every child this process ever had."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    return Run(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,  # KiB on Linux
        process.returncode,
        text,
    )


def checked(run: Run, what: str) -> Run:
    """The run, if it succeeded; otherwise the benchmark is skipped with its error."""
    from benchmarks.common import Skipped

    if run.returncode != 0:
        raise Skipped(f"{what} exited with {run.returncode}: {run.stderr.strip()[-300:]}")
    return run


def batch_command(*args: str) -> list[str]:
    """`llm-advisor batch ARGS` with this interpreter."""
    return [sys.executable, "-m", "llm_advisor", "batch", *args]


def environment(tmp: Path) -> dict[str, str]:
    """The environment the measured processes share: bytecode cached (as an installed package
    has it) and the diagram cache, both in a throw-away directory."""
    env = {
        **os.environ,
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        "LLM_ADVISOR_CACHE_DIR": str(tmp / "cache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
