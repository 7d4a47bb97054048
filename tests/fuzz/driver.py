"""Many mutants of the shipped rule base, on every core: `python -m tests.fuzz` (`make fuzz`).

Each worker loads its share of the mutants (and runs the engine and the analysis on those that
load), exactly as `tests/test_fuzz_rules.py` does for its 2,000; a chunk that does not finish
in time is reported as a hang. A few mutants that load also go through `llm-advisor rules
check` in a subprocess. Exit status 1 when any mutant broke the contract.

Environment: `FUZZ_N` mutants (default 50,000), `FUZZ_SEED` (default 1), `FUZZ_JOBS` workers
(default: one per core).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .check import campaign, write_rule_base
from .rulebase import mutate, shipped_files

CHUNK = 500
CHUNK_SECONDS = 900
"""A chunk of mutants still running after this long has hung."""
CHECKED = 3
"""Mutants that load and also go through `rules check`."""


@dataclass(frozen=True)
class Summary:
    start: int
    mutants: int
    rejected: int
    loaded: int
    refused: int
    slowest: float
    slowest_mutant: str
    problems: tuple[str, ...]
    loaded_indices: tuple[int, ...]


def run_chunk(task: tuple[int, int, int]) -> Summary:
    seed, start, count = task
    with tempfile.TemporaryDirectory(prefix="llm-advisor-fuzz-") as tmp:
        stats = campaign(shipped_files(), seed, count, Path(tmp) / "kb", start=start, keep_loaded=1)
    return Summary(
        start,
        stats.mutants,
        stats.rejected,
        stats.loaded,
        stats.refused,
        stats.slowest,
        stats.slowest_mutant,
        tuple(str(p) for p in stats.problems),
        tuple(m.index for m in stats.loaded_examples),
    )


def rules_check(seed: int, index: int) -> str | None:
    """Run `llm-advisor rules check` on a mutant; why its outcome breaks the contract, or None."""
    with tempfile.TemporaryDirectory(prefix="llm-advisor-fuzz-") as tmp:
        directory = Path(tmp) / "kb"
        write_rule_base(directory, mutate(shipped_files(), seed, index).files)
        done = subprocess.run(
            [sys.executable, "-m", "llm_advisor", "rules", "check", "--rules", str(directory)],
            capture_output=True,
            text=True,
            timeout=CHUNK_SECONDS,
            check=False,
            env={**os.environ, "LLM_ADVISOR_CACHE_DIR": tmp},
        )
    if "Traceback" in done.stderr or done.returncode not in (0, 1, 2):
        return f"rules check on mutant {index}: exit {done.returncode}: {done.stderr[-300:]}"
    if done.returncode == 2 and len(done.stderr.strip().splitlines()) != 1:
        return f"rules check on mutant {index}: not one line: {done.stderr!r}"
    return None


def main() -> int:
    count = int(os.environ.get("FUZZ_N", "50000"))
    seed = int(os.environ.get("FUZZ_SEED", "1"))
    jobs = int(os.environ.get("FUZZ_JOBS", str(os.cpu_count() or 1)))
    tasks = [(seed, start, min(CHUNK, count - start)) for start in range(0, count, CHUNK)]
    print(f"fuzzing {count:,} mutants of the shipped rule base (seed {seed}, {jobs} workers)")
    began = time.perf_counter()
    summaries: list[Summary] = []
    problems: list[str] = []
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        pending = [pool.apply_async(run_chunk, (task,)) for task in tasks]
        for task, result in zip(tasks, pending, strict=True):
            try:
                summary = result.get(timeout=CHUNK_SECONDS)
            except multiprocessing.TimeoutError:
                problems.append(f"mutants {task[1]}..{task[1] + task[2] - 1}: hung")
                pool.terminate()
                break
            summaries.append(summary)
            problems += summary.problems
            done = sum(s.mutants for s in summaries)
            print(f"  {done:,} mutants, {len(problems)} problems", flush=True)
    loaded = [i for s in summaries for i in s.loaded_indices][:CHECKED]
    for index in loaded:
        problem = rules_check(seed, index)
        if problem is not None:
            problems.append(problem)
    slowest = max(summaries, key=lambda s: s.slowest, default=None)
    print(
        f"{sum(s.mutants for s in summaries):,} mutants in {time.perf_counter() - began:.0f} s: "
        f"{sum(s.rejected for s in summaries):,} rejected with file:line, "
        f"{sum(s.loaded for s in summaries):,} loaded "
        f"({sum(s.refused for s in summaries):,} of them refused by the engine as too large), "
        f"{len(loaded)} through rules check"
    )
    if slowest is not None:
        print(f"slowest load: {slowest.slowest:.2f} s CPU ({slowest.slowest_mutant[:100]})")
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")
    print(f"{len(problems)} problems")
    return 1 if problems else 0
