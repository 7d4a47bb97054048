"""`llm-advisor batch`: decide a whole portfolio of cases from a CSV or JSON Lines file."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from llm_advisor.cli.options import cache_dir, load_kb, rules_option
from llm_advisor.cli.wording import plural
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.batch import RowError, Summary

SHOWN_ERRORS = 100
"""Rows with errors reported one by one on stderr; the rest are only counted."""


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file, .csv or .jsonl (default: standard output, in the input's format).",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Run full Rete inference on every row (on all cores); fired rules in firing order.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first bad row and write nothing (exit 2).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for --trace (default: one per core).",
)
@rules_option
def batch(
    input_path: Path,
    output: Path | None,
    trace: bool,
    strict: bool,
    jobs: int | None,
    rules_dir: Path | None,
) -> None:
    """Recommend an approach for every row of INPUT (.csv with a header row of fact names, or
    .jsonl with one object per line).

    \b
    Output: the input's columns, then
      recommendation   the approach (empty when every approach is excluded)
      combine_with     approaches to combine it with, separated by ';'
      rank1..rank3     the top three of the ranking as approach:score
                       (approach:excluded when excluded)
      fired            ids of the rules that fired, separated by ';' (in JSON
                       Lines: lists), in rule-base order (with --trace: in
                       firing order)
      error            why the row could not be decided (empty when it was)

    Columns that are not facts are passed through; one that looks like a
    misspelt fact (case, '-' for '_', a letter or two) stops the run before any
    row is decided (exit 2). A blank cell (in JSON Lines "" or null) means
    unknown: the fact's documented default applies, as when its column is left
    out. Bad rows are reported on stderr with their line and kept, with their
    error, and the exit code stays 0; --strict stops at the first instead (exit
    2). The output is written only when every row has been decided; a summary of
    the recommendations goes to stderr.

    \b
    Examples:
      llm-advisor batch portfolio.csv -o decided.csv
      llm-advisor batch cases.jsonl --trace > decided.jsonl
    """
    from llm_advisor.engine.batch import run_batch

    if jobs is not None and not trace:
        raise InputError(
            "--jobs sets the worker processes of --trace; without it rows are decided in this "
            "one process",
            item="--jobs",
        )
    kb = load_kb(rules_dir)
    shown = 0

    def on_error(line: int, error: RowError) -> None:
        nonlocal shown
        shown += 1
        if shown <= SHOWN_ERRORS:
            click.echo(f"{input_path}:{line}: {error.message}", err=True)

    def on_warning(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    target: Path | BinaryIO = output if output is not None else sys.stdout.buffer
    progress: Callable[[int], None] | None = None
    with contextlib.ExitStack() as stack:
        if sys.stderr.isatty() and input_path.is_file():
            bar = stack.enter_context(
                click.progressbar(
                    length=input_path.stat().st_size, label="deciding", file=sys.stderr
                )
            )
            done = 0

            def on_progress(position: int) -> None:
                nonlocal done
                bar.update(position - done)
                done = position

            progress = on_progress
        summary = run_batch(
            kb,
            input_path,
            target,
            trace=trace,
            strict=strict,
            jobs=jobs,
            on_error=on_error,
            on_warning=on_warning,
            on_progress=progress,
            cache_dir=cache_dir(),
        )
    print_summary(summary, output, trace, jobs)


def print_summary(summary: Summary, output: Path | None, trace: bool, jobs: int | None) -> None:
    """Counts per approach, errors and how rows were decided, on stderr."""
    echo = click.echo
    where = str(output) if output is not None else "standard output"
    echo(f"{plural(summary.rows, 'row')}, written to {where} ({summary.output_format})", err=True)
    counts = [
        (approach or "none (every approach excluded)", n)
        for approach, n in summary.recommended
        if approach or n
    ]
    counts.append(("errors", summary.errors))
    width = max(len(name) for name, _ in counts)
    digits = max(len(f"{n:,}") for _, n in counts)
    for name, n in counts:
        echo(f"  {name:<{width}}  {n:>{digits},}", err=True)
    if summary.errors > SHOWN_ERRORS:
        echo(
            f"  (the first {SHOWN_ERRORS} errors are listed above; see the error column)", err=True
        )
    via = dict(summary.via)
    if trace:
        workers = jobs or os.cpu_count() or 1
        echo(f"  every row by Rete inference, {plural(workers, 'process', 'processes')}", err=True)
    elif via.get("inference"):
        echo(
            f"  {plural(via['inference'], 'row')} with unknown facts decided by Rete inference",
            err=True,
        )
    if via.get("disagreement"):
        echo(
            f"  warning: on {plural(via['disagreement'], 'row')} the decision diagram disagreed with the "
            "analysis; inference decided them (please report this)",
            err=True,
        )
