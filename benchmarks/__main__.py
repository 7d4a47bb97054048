"""Run the benchmarks: `python -m benchmarks [NAME ...]`.

Each benchmark is a module with a `run() -> list[Figure]`; add a new one to `BENCHMARKS`. Results
go to `benchmarks/results.json` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import import_module
from pathlib import Path

from benchmarks.common import Figure, Skipped

BENCHMARKS: dict[str, str] = {
    "engine_overhead": "benchmarks.engine_overhead",
    "cold_cli": "benchmarks.cold_cli",
    "batch_fast": "benchmarks.batch_fast",
    "batch_trace": "benchmarks.batch_trace",
    "diagram_compile": "benchmarks.diagram_compile",
    "diagram_documents": "benchmarks.diagram_documents",
    "consult_questions": "benchmarks.consult_questions",
    "consult_start": "benchmarks.consult_start",
    "audit_append": "benchmarks.audit_append",
    "fault_memory": "benchmarks.fault_memory",
}
RESULTS = Path(__file__).with_name("results.json")


def load(name: str) -> Callable[[], list[Figure]]:
    run: Callable[[], list[Figure]] = import_module(BENCHMARKS[name]).run
    return run


def table(figures: list[Figure], skipped: dict[str, str]) -> str:
    rows = [("benchmark", "ratio", "target", "met", "subject", "baseline")]
    for f in figures:
        bound = "<=" if f.lower_is_better else ">="
        met = "yes" if f.met else "NO"
        rows.append(
            (f.name, f"{f.ratio:.2f}x", f"{bound} {f.target:g}x", met, f.subject, f.baseline)
        )
    rows += [(name, "-", "-", "skipped", reason, "") for name, reason in skipped.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (known: {', '.join(BENCHMARKS)})")
    figures: list[Figure] = []
    skipped: dict[str, str] = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures += load(name)()
        except Skipped as reason:
            skipped[name] = str(reason)
    RESULTS.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "system": platform.system(),
                "figures": [{**asdict(f), "met": f.met} for f in figures],
                "skipped": skipped,
            },
            indent=2,
        )
        + "\n"
    )
    print(table(figures, skipped))
    print(f"\nresults written to {RESULTS.name} in the benchmarks package")
    return 0


if __name__ == "__main__":
    sys.exit(main())
