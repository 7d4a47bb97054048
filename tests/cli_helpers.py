"""Checks shared by the command-line tests."""

from __future__ import annotations

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
