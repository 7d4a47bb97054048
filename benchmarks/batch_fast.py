"""Batch fast path: `llm-advisor batch` on 1,000,000 generated rows, against the I/O floor.

Subject: the command, in a fresh process, deciding a generated portfolio CSV (1,000,000 rows
drawn from 10,000 distinct profiles, with `id` and `team` columns passed through) into an output
CSV with the recommendation, combination, top three and fired rules of every row.
Baseline: a fresh process of the same interpreter reading and writing the same CSV with the
standard csv module, deciding nothing (the I/O floor).
Both run alternately, after one untimed run of each (bytecode, diagram cache, file cache); the
figure is the ratio of the medians of their CPU time (user + system, from `wait4`), which other
load on the machine does not inflate; the wall-clock ratio is recorded beside it.

Memory: the peak resident set of the same runs (from `wait4`), against the same command on the
first 10,000 rows of the file (memory must not grow with the input), and against the 150 MB
budget. Also recorded: the throughput on rows that never repeat (every row a new case for the
analysis), on 20,000 such rows.
"""

from __future__ import annotations

import sys
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

ROWS = 1_000_000
DISTINCT = 10_000
SMALL_ROWS = 10_000
UNIQUE_ROWS = 20_000
ROUNDS = 3
SEED = 20240601
TARGET = 2.0
GROWTH_TARGET = 1.25
BUDGET_MB = 150.0

COPY = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as source, \\
        open(sys.argv[2], "w", newline="", encoding="utf-8") as target:
    write = csv.writer(target).writerow
    for row in csv.reader(source):
        write(row)
"""


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = environment(tmp)
        portfolio, small, unique = tmp / "portfolio.csv", tmp / "small.csv", tmp / "unique.csv"
        write_portfolio(portfolio, kb, ROWS, DISTINCT, SEED)
        write_portfolio(small, kb, SMALL_ROWS, DISTINCT, SEED)  # the same rows' first 10,000
        write_portfolio(unique, kb, UNIQUE_ROWS, UNIQUE_ROWS, SEED + 7)
        decided, copied = tmp / "decided.csv", tmp / "copied.csv"
        batch = batch_command(str(portfolio), "-o", str(decided))
        copy = [sys.executable, "-c", COPY, str(portfolio), str(copied)]
        checked(run_process(batch, env), "batch")  # warm-up, untimed
        checked(run_process(copy, env), "csv copy")
        batch_runs: list[Run] = []
        copy_runs: list[Run] = []
        for _ in range(ROUNDS):
            batch_runs.append(checked(run_process(batch, env), "batch"))
            copy_runs.append(checked(run_process(copy, env), "csv copy"))
        small_run = checked(
            run_process(batch_command(str(small), "-o", str(tmp / "small-out.csv")), env),
            "batch (10,000 rows)",
        )
        unique_run = checked(
            run_process(batch_command(str(unique), "-o", str(tmp / "unique-out.csv")), env),
            "batch (unique rows)",
        )
        output_mb = decided.stat().st_size / 1e6
        input_mb = portfolio.stat().st_size / 1e6
    batch_cpu = median([r.cpu for r in batch_runs])
    copy_cpu = median([r.cpu for r in copy_runs])
    batch_wall = median([r.wall for r in batch_runs])
    copy_wall = median([r.wall for r in copy_runs])
    peak = max(r.peak_mb for r in batch_runs)
    details = {
        "rows": ROWS,
        "distinct_profiles": DISTINCT,
        "rounds": ROUNDS,
        "input_mb": input_mb,
        "output_mb": output_mb,
        "batch_cpu_seconds": [r.cpu for r in batch_runs],
        "copy_cpu_seconds": [r.cpu for r in copy_runs],
        "batch_wall_seconds": [r.wall for r in batch_runs],
        "copy_wall_seconds": [r.wall for r in copy_runs],
        "wall_ratio": batch_wall / copy_wall,
        "batch_rows_per_second": ROWS / batch_wall,
        "unique_rows": UNIQUE_ROWS,
        "unique_rows_per_second": UNIQUE_ROWS / unique_run.wall,
        "unique_cpu_seconds": unique_run.cpu,
        "unique_peak_mb": unique_run.peak_mb,
        "fingerprint": kb.fingerprint,
    }
    return [
        Figure(
            name="batch_fast",
            description="batch fast path, 1,000,000 rows vs csv read+write of the same file",
            subject=f"{batch_cpu:.1f} s CPU ({ROWS / batch_wall:,.0f} rows/s)",
            baseline=f"{copy_cpu:.1f} s CPU for csv copy",
            ratio=batch_cpu / copy_cpu,
            target=TARGET,
            details=details,
        ),
        Figure(
            name="batch_memory_growth",
            description="peak RSS of batch on 1,000,000 rows vs on 10,000 rows",
            subject=f"{peak:.0f} MB at {ROWS:,} rows",
            baseline=f"{small_run.peak_mb:.0f} MB at {SMALL_ROWS:,} rows",
            ratio=peak / small_run.peak_mb,
            target=GROWTH_TARGET,
            details={
                "peak_mb": [r.peak_mb for r in batch_runs],
                "small_peak_mb": small_run.peak_mb,
                "copy_peak_mb": max(r.peak_mb for r in copy_runs),
            },
        ),
        Figure(
            name="batch_peak_memory",
            description="peak RSS of batch on 1,000,000 rows vs the 150 MB budget",
            subject=f"{peak:.0f} MB peak RSS",
            baseline=f"{BUDGET_MB:.0f} MB budget",
            ratio=peak / BUDGET_MB,
            target=1.0,
            details={"peak_mb": peak, "budget_mb": BUDGET_MB},
        ),
    ]
