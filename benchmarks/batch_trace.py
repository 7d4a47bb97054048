"""Batch with `--trace`: Rete inference on every row, on all cores against one core.

Subject: `llm-advisor batch --trace` on 20,000 generated rows (all distinct) with one worker
process per core. Baseline: the same command with `--jobs 1`, which runs inference in the
command's own process. The figure is the ratio of their wall-clock times, i.e. the speed-up;
its ceiling is the number of cores (2 on the reference machine), less the work the parent does
(reading, writing, sending rows to the workers) and whatever else the machine is running,
recorded as the load average.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.common import Figure, Skipped
from benchmarks.portfolio import Run, batch_command, environment, run_process, write_portfolio
from engine.errors import AdvisorError
from engine.loader import load_knowledge_base

ROWS = 20_000
SEED = 20240602
TARGET = 1.7


def _checked(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise Skipped(f"{what} exited with {run.returncode}: {run.stderr.strip()[-300:]}")
    return run


def run() -> list[Figure]:
    cores = os.cpu_count() or 1
    if cores < 2:
        raise Skipped("one core: nothing to spread the rows over")
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = environment(tmp)
        portfolio = tmp / "portfolio.csv"
        write_portfolio(portfolio, kb, ROWS, ROWS, SEED)
        warm = tmp / "warm.csv"
        write_portfolio(warm, kb, 100, 100, SEED)
        _checked(
            run_process(batch_command(str(warm), "--trace", "-o", str(tmp / "w.csv")), env),
            "warm-up",
        )
        load_before = os.getloadavg()
        one = _checked(
            run_process(
                batch_command(str(portfolio), "--trace", "--jobs", "1", "-o", str(tmp / "1.csv")),
                env,
            ),
            "batch --trace --jobs 1",
        )
        every = _checked(
            run_process(batch_command(str(portfolio), "--trace", "-o", str(tmp / "n.csv")), env),
            "batch --trace",
        )
        load_after = os.getloadavg()
        same = (tmp / "1.csv").read_bytes() == (tmp / "n.csv").read_bytes()
    if not same:
        raise AssertionError("--trace gave different output with one and with all cores")
    return [
        Figure(
            name="batch_trace_scaling",
            description=f"batch --trace on {cores} cores vs one core, {ROWS:,} rows",
            subject=f"{ROWS / every.wall:,.0f} rows/s on {cores} cores",
            baseline=f"{ROWS / one.wall:,.0f} rows/s on 1 core",
            ratio=one.wall / every.wall,
            target=TARGET,
            lower_is_better=False,
            details={
                "rows": ROWS,
                "cores": cores,
                "one_core_wall_seconds": one.wall,
                "all_cores_wall_seconds": every.wall,
                "one_core_cpu_seconds": one.cpu,
                "all_cores_cpu_seconds": every.cpu,
                "load_average_before": list(load_before),
                "load_average_after": list(load_after),
                "fingerprint": kb.fingerprint,
            },
        )
    ]
