"""Batch with `--trace`: Rete inference on every row, on all cores against one core.

Subject: `llm-advisor batch --trace` on generated rows (all distinct) with one worker process
per core. Baseline: the same command with `--jobs 1`, which runs inference in the command's own
process. 20,000 rows in all, in rounds of 5,000 that alternate the two, so that a burst of other
work on the machine hits both; the figure is the median of the rounds' ratios of wall-clock
times, i.e. the speed-up. Its ceiling is the number of cores (2 on the reference machine), less
the work the parent does (reading, writing, sending rows to the workers) and whatever else the
machine runs meanwhile: a process busy on one of two cores takes away most of the gain. The load
average around each round is recorded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.common import Figure, Skipped, median
from benchmarks.portfolio import (
    Run,
    batch_command,
    checked,
    environment,
    run_process,
    write_portfolio,
)
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.loader import load_knowledge_base

ROWS = 5_000
ROUNDS = 4
SEED = 20240602
TARGET = 1.7


def run() -> list[Figure]:
    cores = os.cpu_count() or 1
    if cores < 2:
        raise Skipped("one core: nothing to spread the rows over")
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    one: list[Run] = []
    every: list[Run] = []
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = environment(tmp)
        portfolio = tmp / "portfolio.csv"
        write_portfolio(portfolio, kb, ROWS, ROWS, SEED)
        warm = tmp / "warm.csv"
        write_portfolio(warm, kb, 100, 100, SEED)
        checked(
            run_process(batch_command(str(warm), "--trace", "-o", str(tmp / "w.csv")), env),
            "warm-up",
        )
        single = batch_command(str(portfolio), "--trace", "--jobs", "1", "-o", str(tmp / "1.csv"))
        spread = batch_command(str(portfolio), "--trace", "-o", str(tmp / "n.csv"))
        for _ in range(ROUNDS):
            loads.append(os.getloadavg()[0])
            one.append(checked(run_process(single, env), "batch --trace --jobs 1"))
            every.append(checked(run_process(spread, env), "batch --trace"))
        loads.append(os.getloadavg()[0])
        same = (tmp / "1.csv").read_bytes() == (tmp / "n.csv").read_bytes()
    if not same:
        raise AssertionError("--trace gave different output with one and with all cores")
    ratios = [a.wall / b.wall for a, b in zip(one, every, strict=True)]
    one_s = median([r.wall for r in one])
    every_s = median([r.wall for r in every])
    return [
        Figure(
            name="batch_trace_scaling",
            description=f"batch --trace on {cores} cores vs one core, {ROUNDS * ROWS:,} rows",
            subject=f"{ROWS / every_s:,.0f} rows/s on {cores} cores",
            baseline=f"{ROWS / one_s:,.0f} rows/s on 1 core",
            ratio=median(ratios),
            target=TARGET,
            lower_is_better=False,
            details={
                "rows_per_round": ROWS,
                "rounds": ROUNDS,
                "cores": cores,
                "ratios": ratios,
                "one_core_wall_seconds": [r.wall for r in one],
                "all_cores_wall_seconds": [r.wall for r in every],
                "one_core_cpu_seconds": [r.cpu for r in one],
                "all_cores_cpu_seconds": [r.cpu for r in every],
                "load_average_1min": loads,
                "fingerprint": kb.fingerprint,
            },
        )
    ]
