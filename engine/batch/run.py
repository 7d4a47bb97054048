"""A whole batch run: read, decide and write every row, report bad rows and progress, and count
the outcomes."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from llm_advisor.engine.batch.decide import decide_rows
from llm_advisor.engine.batch.read import Record, format_of, open_table
from llm_advisor.engine.batch.verdict import Format, RowError, Values
from llm_advisor.engine.batch.write import open_output, writer
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import KnowledgeBase

PROGRESS_EVERY = 1024
"""Rows between two progress reports."""


def _unheard(message: str) -> None:
    """Where warnings go when nobody listens for them."""


@dataclass(frozen=True)
class Summary:
    """What a batch run did: rows per recommendation (None: every approach excluded), rows with
    errors, and how many rows each way of deciding handled."""

    rows: int
    errors: int
    recommended: tuple[tuple[str | None, int], ...]
    via: tuple[tuple[str, int], ...]
    output_format: Format


def run_batch(
    kb: KnowledgeBase,
    source: Path,
    target: Path | BinaryIO,
    *,
    trace: bool = False,
    strict: bool = False,
    jobs: int | None = None,
    on_error: Callable[[int, RowError], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    cache_dir: Path | None = None,
) -> Summary:
    """Decide every row of `source` and write them to `target` (a path: format by extension; a
    binary stream: the input's format). Bad rows are reported through `on_error` and written
    with their `error`; with `strict` the first one raises `InputError` and nothing is written.
    A column that looks like a misspelt fact raises `InputError` before any row is decided."""
    output_format = format_of(target) if isinstance(target, Path) else format_of(source)

    tally: Counter[tuple[str | None, str]] = Counter()
    with (
        open_table(source, kb, on_warning or _unheard) as table,
        open_output(target, output_format) as binary,
    ):
        # Columns passed through are written back byte for byte, even bytes that are not UTF-8.
        out = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        write = writer(table, output_format, out)
        decided = decide_rows(
            kb,
            table.facts,
            table.records,
            _values,
            trace=trace,
            jobs=jobs,
            typed=table.format == "jsonl",
            cache_dir=cache_dir,
        )
        with closing(decided):  # when the run stops early too (Ctrl-C): stop the workers now
            for rows, (record, verdict) in enumerate(decided, 1):
                tally[verdict.tally] += 1
                if verdict.__class__ is RowError:
                    if strict:
                        message = (
                            f"{source}:{record[0]}: {verdict.message} "
                            "(stopped at the first bad row; nothing was written)"
                        )
                        raise InputError(message, item=verdict.fact)
                    if on_error is not None:
                        on_error(record[0], verdict)
                write(record, verdict)
                if on_progress is not None and not rows % PROGRESS_EVERY:
                    on_progress(table.position())
        out.flush()
        out.detach()
        if on_progress is not None:
            on_progress(table.position())
    recommended = dict.fromkeys([*kb.approach_ids, None], 0)
    via: dict[str, int] = {}
    for (approach, how), count in tally.items():
        if how != "error":
            recommended[approach] += count
        via[how] = via.get(how, 0) + count
    return Summary(
        sum(tally.values()),
        via.pop("error", 0),
        tuple(recommended.items()),
        tuple(via.items()),
        output_format,
    )


def _values(record: Record) -> Values | RowError:
    return record[3]
