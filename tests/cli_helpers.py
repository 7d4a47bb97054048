"""Checks shared by the command-line tests."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import Result


def bad_input(result: Result, *names: str) -> str:
    """Exit 2, no traceback, nothing on stdout, and one line on stderr naming every item in
    `names`; returns that line."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def imported(args: list[str], stdin: str = "", *, check: bool = False) -> set[str]:
    """The modules a warm run of `llm-advisor ARGS` imports (read from `python -X importtime`,
    after one run to warm the caches); `check`: the command must succeed."""
    argv = [sys.executable, "-X", "importtime", "-m", "llm_advisor", *args]
    subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)  # warm-up
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    assert not check or done.returncode == 0, done.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.MULTILINE)
    assert names, done.stderr
    return set(names)


def top(modules: set[str]) -> set[str]:
    """The top-level packages of some modules."""
    return {name.split(".")[0] for name in modules}
