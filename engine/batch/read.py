"""Reading a batch input: CSV (a header row of column names) or JSON Lines, streamed row by row
as records holding each row's fields and its fact values (or why the row cannot be read)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from llm_advisor.engine.batch.jsonline import json_value, parse_json
from llm_advisor.engine.batch.verdict import OUTPUT_COLUMNS, Format, RowError, Values
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import KnowledgeBase

EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

Record = tuple[int, Any, str | None, Values | RowError]
"""One input row: its line number, its fields (a list for CSV, a dict for JSON Lines), the CSV
line as read when it can be written back as it is, and its fact values (or why the row cannot
be read)."""


def format_of(path: Path) -> Format:
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"cannot tell the format of {path} from its extension: use .csv or .jsonl",
            item=str(path),
        )
    return found


@dataclass(frozen=True)
class Table:
    """An open input: its format, its columns (for CSV, the header; for JSON Lines, the keys in
    first-seen order) and the fact names it gives."""

    format: Format
    columns: tuple[str, ...]
    facts: tuple[str, ...]
    records: Iterator[Record]
    position: Callable[[], int]


Warn = Callable[[str], None]
"""Reports a problem with the input as a whole that does not stop the run."""


def likely_fact(name: str, facts: Iterable[str]) -> str | None:
    """The fact a column (or key) that is not a fact probably means: the same name but for case,
    `-`, `_` or spaces, or one within an edit distance of a quarter of its length (at least 1)."""
    folded = _fold(name)
    best: tuple[int, str] | None = None
    for fact in facts:
        target = _fold(fact)
        if folded == target:
            return fact
        distance = _edit_distance(folded, target, limit=max(1, len(target) // 4))
        if distance is not None and (best is None or distance < best[0]):
            best = (distance, fact)
    return None if best is None else best[1]


def _fold(name: str) -> str:
    return "".join(ch for ch in name.strip().casefold() if ch not in "-_ ")


def _edit_distance(a: str, b: str, limit: int) -> int | None:
    """The Damerau-Levenshtein distance of `a` and `b` (adjacent swaps count one), or None when
    it is above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return None
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1] if row[-1] <= limit else None


def _check_column(where: str, kind: str, name: str, kb: KnowledgeBase, warn: Warn) -> None:
    """Check an input column (or key) that is not a fact: one that looks like a misspelt fact is
    an error, since its rows would be decided without that fact; one that an output column
    replaces is warned about; any other is passed through silently."""
    if name in OUTPUT_COLUMNS:
        warn(f"{where}: {kind} {name!r} is replaced by this run's output")
        return
    fact = likely_fact(name, kb.fact_names)
    if fact is not None:
        raise InputError(
            f"{where}: {kind} {name!r} is not a fact of the rule base; did you mean {fact}? "
            "(rename it; nothing was decided)",
            item=name,
        )


def utf8_error(facts: tuple[str, ...], values: Values) -> RowError | None:
    """The first fact whose value was not valid UTF-8 (read with `surrogateescape`), if any."""
    for name, value in zip(facts, values, strict=True):
        if isinstance(value, str) and not _is_utf8(value):
            return RowError(f"the value of {name} is not valid UTF-8", name)
    return None


def _is_utf8(text: str) -> bool:
    """Whether text read with `surrogateescape` came from valid UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def repaired(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_csv(path: Path, stream: TextIO, kb: KnowledgeBase, warn: Warn) -> Table:
    """Rows of a CSV file. A line without a quote character is split on commas, which is what
    the csv module would do with it, and kept as read, to be written back as it was; a line with
    one goes to the csv module, which reads on while a quoted field spans lines. A quoted field
    still open at the end of the file fails the whole input: every line after its quote would be
    one value."""
    lines = iter(stream)
    held: list[str] = []
    consumed: list[str] = []  # the lines of the record being parsed, and "" once at the end
    number = 0  # lines read so far

    def feed() -> Iterator[str]:
        while True:
            text = held.pop() if held else next(lines, None)
            if text is None:
                consumed.append("")
                return
            consumed.append(text)
            yield text

    reader = csv.reader(feed())

    def parse(text: str) -> list[str]:
        """The record that starts with the line `text`; raises `csv.Error`, or `InputError`
        when it runs to the end of the file (the csv module would return it)."""
        nonlocal number
        first = number
        held.append(text)
        consumed.clear()
        before = reader.line_num
        try:
            row = next(reader, [])
        finally:
            number += reader.line_num - before - 1
        if consumed[-1]:
            return row
        # The csv module asks for a line past the end only inside a quoted field, the record's
        # last: its value is what follows its opening quote, with each quote doubled.
        opening = len("".join(consumed)) - len(row[-1].replace('"', '""')) - 1
        line = first + sum(end <= opening for end in itertools.accumulate(map(len, consumed)))
        raise InputError(
            f"{path}:{line}: the quoted field that starts on this line is never closed",
            item=str(path),
        )

    header: list[str] = []
    line = 0
    while not header:
        text = next(lines, None)
        if text is None:
            raise InputError(f"{path} is empty: expected a header row of fact names")
        number += 1
        line = number
        try:
            header = parse(text)
        except csv.Error as err:
            raise InputError(f"{path}:{line}: unreadable header: {err}") from None
    columns = tuple(name.strip() for name in header)
    if not all(map(_is_utf8, columns)):
        raise InputError(f"{path}:{line}: the header is not valid UTF-8")
    for name in columns:
        if columns.count(name) > 1:
            raise InputError(f"{path}:{line}: column {name!r} appears twice", item=name)
    known = set(kb.fact_names)
    facts = tuple(name for name in columns if name in known)
    # a misspelt fact is named first, even with no fact beside it: "names no fact" would hide it
    # (with no fact the run stops, so a replaced output column is not worth a warning)
    for name in columns:
        if name not in known and (facts or name not in OUTPUT_COLUMNS):
            _check_column(f"{path}:{line}", "column", name, kb, warn)
    if not facts:
        raise InputError(
            f"{path}:{line}: the header names no fact of the rule base "
            f"(known facts: {', '.join(kb.fact_names)})"
        )
    keep = [i for i, name in enumerate(columns) if name not in OUTPUT_COLUMNS]
    positions = [columns.index(name) for name in facts]
    fact_values: Callable[[list[str]], Values] = (
        itemgetter(*positions) if len(positions) > 1 else lambda row: (row[positions[0]],)
    )

    def records() -> Iterator[Record]:
        nonlocal number
        width = len(columns)
        trimmed = len(keep) != width
        for text in lines:
            number += 1
            start = number
            as_read: str | None = None
            if '"' in text:
                try:
                    row = parse(text)
                except csv.Error as err:
                    yield start, [""] * len(keep), None, RowError(f"unreadable row: {err}")
                    continue
            else:
                as_read = text.rstrip("\r\n")
                row = as_read.split(",") if as_read else []
            if len(row) == width:
                if trimmed:
                    yield start, [row[i] for i in keep], None, fact_values(row)
                else:
                    yield start, row, as_read, fact_values(row)
            elif row:  # not a blank line
                error = RowError(f"expected {width} fields, found {len(row)}")
                row = (row + [""] * width)[:width]
                yield start, [row[i] for i in keep], None, error

    return Table(
        "csv",
        tuple(columns[i] for i in keep),
        facts,
        records(),
        stream.buffer.tell,
    )


def _read_jsonl(path: Path, stream: BinaryIO, kb: KnowledgeBase, warn: Warn) -> Table:
    """Rows of a JSON Lines file. Every line is read once before the first row is decided, to
    know its keys: for CSV output, and to find a misspelt fact anywhere in the file."""
    facts = kb.fact_names
    known = set(facts)
    columns: dict[str, None] = {}
    first: dict[str, int] = {}  # each key that is not a fact: the line it first appears on
    lines = 0
    for number, raw in enumerate(stream, 1):
        if raw.strip():
            lines += 1
            found = parse_json(raw, number)
            if isinstance(found, dict):
                for key in found:
                    if key not in first and key not in known:
                        first[key] = number
                columns.update((key, None) for key in found if key not in OUTPUT_COLUMNS)
    if not lines:
        raise InputError(f"{path} is empty: expected one JSON object per line")
    for key, number in first.items():
        _check_column(f"{path}:{number}", "key", key, kb, warn)
    stream.seek(0)

    def records() -> Iterator[Record]:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            obj = parse_json(raw, number)
            if isinstance(obj, RowError):
                yield number, {}, None, obj
                continue
            values = tuple(obj.get(name) for name in facts)
            bad = next((n for n, v in zip(facts, values, strict=True) if not json_value(v)), None)
            if bad is not None:
                yield number, obj, None, RowError(f"fact {bad!r} needs a single value", bad)
            elif all(name not in obj for name in facts):
                yield number, obj, None, RowError("no fact of the rule base in this object")
            else:
                yield number, obj, None, values

    return Table("jsonl", tuple(columns), facts, records(), stream.tell)


@contextmanager
def open_table(path: Path, kb: KnowledgeBase, warn: Warn) -> Iterator[Table]:
    """Open an input file; `InputError` when it is missing, empty or unusable as a whole."""
    kind = format_of(path)
    try:
        stream = (
            open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
            if kind == "csv"
            else open(path, "rb")  # noqa: SIM115
        )
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}", item=str(path)) from None
    with stream:
        if isinstance(stream, io.TextIOWrapper):
            yield _read_csv(path, stream, kb, warn)
        else:
            yield _read_jsonl(path, stream, kb, warn)
