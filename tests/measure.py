"""Measuring helpers for the tests (the benchmarks keep their own)."""

from __future__ import annotations

import resource


def rss() -> int:
    """This process's resident set size now, in bytes (Linux's /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()
