"""Time to the first question: a fresh `llm-advisor consult --no-audit` against `python -c pass`.

Subject: from spawning the consultation until its first question line (`Q1. ... [fact]`) can be
read from its standard output (a pipe; the question is flushed when the prompt waits for input).
Its standard input is then closed, and it exits. Baseline: `python -c pass` from spawn to exit,
with the same interpreter started plainly (`-I`). Both run alternately, after one untimed run of each to warm the
operating system's file cache, with bytecode cached in a throw-away directory as an installed
package has it. The figure is the ratio of the median wall-clock times.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Skipped, cold_start_env, console_script, median

TARGET = 6.0
RUNS = 7
FIRST_QUESTION = re.compile(rb"^Q1\. .*\[\w+\]", re.MULTILINE)


def first_question(argv: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds from spawn until the first question has been printed."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert child.stdin is not None and child.stdout is not None
    output = b""
    while not FIRST_QUESTION.search(output):
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            child.wait()
            raise Skipped(f"consult exited with {child.returncode} before asking a question")
        output += chunk
    elapsed = time.perf_counter() - start
    child.stdin.close()  # end of input: the consultation stops
    child.stdout.read()
    child.wait()
    return elapsed


def spawn_to_exit(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def run() -> list[Figure]:
    command = [str(console_script()), "consult", "--no-audit"]
    baseline = [sys.executable, "-I", "-c", "pass"]
    with tempfile.TemporaryDirectory() as tmp:
        env = cold_start_env(Path(tmp))
        first_question(command, env)
        spawn_to_exit(baseline, env)
        consult_times = []
        python_times = []
        for _ in range(RUNS):
            consult_times.append(first_question(command, env))
            python_times.append(spawn_to_exit(baseline, env))
    consult_s, python_s = median(consult_times), median(python_times)
    return [
        Figure(
            name="consult_start",
            description="spawn `llm-advisor consult` until its first question vs `python -c pass`",
            subject=f"{consult_s * 1000:.0f} ms to the first question",
            baseline=f"{python_s * 1000:.0f} ms per python -c pass",
            ratio=consult_s / python_s,
            target=TARGET,
            details={
                "runs": RUNS,
                "consult_seconds": consult_times,
                "python_seconds": python_times,
            },
        )
    ]
