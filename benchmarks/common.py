"""What every benchmark returns, and small timing helpers ."""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured ratio: subject ÷ baseline (both measured in the same run), and its target.

    `lower_is_better` says which way the target goes: an overhead or a slowdown must stay at or
    below it. `details` holds the raw measurements behind the ratio.
    """

    name: str
    description: str
    subject: str
    baseline: str
    ratio: float
    target: float
    lower_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target


class Skipped(Exception):
    """A benchmark cannot run here (for example, the shipped rule base does not load)."""


def cpu_seconds_per_operation(run: Callable[[], int], *, min_seconds: float) -> float:
    """Repeat `run` (which returns how many operations it did) for at least `min_seconds` of this
    process's CPU time, and return CPU seconds per operation.

    CPU time rather than wall time: other processes competing for the machine then slow neither
    side of a ratio.
    """
    operations = 0
    start = time.process_time()
    while True:
        operations += run()
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return elapsed / operations


def interleaved(
    subject: Callable[[], float], baseline: Callable[[], float], *, rounds: int
) -> tuple[list[float], list[float]]:
    """Measure subject and baseline alternately, so that drift in the machine hits both."""
    subject_times: list[float] = []
    baseline_times: list[float] = []
    for _ in range(rounds):
        subject_times.append(subject())
        baseline_times.append(baseline())
    return subject_times, baseline_times


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss() -> int:
    """Resident set size now, in bytes (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def console_script() -> Path:
    """The installed `llm-advisor` command beside this interpreter."""
    script = Path(sys.executable).parent / "llm-advisor"
    if not script.exists():
        raise Skipped("the llm-advisor console script is not installed beside this interpreter")
    return script


def cold_start_env(tmp: Path) -> dict[str, str]:
    """The environment of a cold command run: cached bytecode (as an installed package has
    it, even where PYTHONDONTWRITEBYTECODE is set) and a throw-away audit store and diagram
    cache, all under `tmp`."""
    env = {
        **os.environ,
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        "LLM_ADVISOR_AUDIT_DB": str(tmp / "audit.db"),
        "LLM_ADVISOR_CACHE_DIR": str(tmp / "cache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
