"""Writing a batch output: each input row with the output columns added, in CSV or JSON Lines,
into a file that replaces the target only once every row has been written."""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, cast

from llm_advisor.engine.batch.read import Record, Table, repaired
from llm_advisor.engine.batch.verdict import (
    CSV_TERMINATOR,
    OUTPUT_COLUMNS,
    Decided,
    Format,
    csv_field,
    dump_json,
)
from llm_advisor.engine.outfile import atomic_output

OUTPUT_BUFFER = 1 << 20
_OUTPUT = frozenset(OUTPUT_COLUMNS)


def _csv_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else dump_json(value)


def _json_line(obj: dict[str, object], verdict: Decided) -> str:
    if not _OUTPUT.isdisjoint(obj):
        obj = {key: value for key, value in obj.items() if key not in _OUTPUT}
    head = dump_json(obj)[:-1]
    return f"{head}{', ' if obj else ''}{verdict.json_tail}}}\n"


def writer(table: Table, kind: Format, out: IO[str]) -> Callable[[Record, Decided], None]:
    """A function writing one row with its verdict: the input columns, then the output's."""
    write = out.write
    columns = table.columns
    if kind == "jsonl":

        def jsonl(record: Record, verdict: Decided) -> None:
            fields = record[1]
            if table.format == "csv":  # JSON text must be valid UTF-8: mend what was not
                mended = fields if "".join(fields).isascii() else map(repaired, fields)
                fields = dict(zip(columns, mended, strict=True))
            write(_json_line(fields, verdict))

        return jsonl
    csv.writer(out, lineterminator=CSV_TERMINATOR).writerow([*columns, *OUTPUT_COLUMNS])
    if table.format == "csv":

        def csv_from_csv(record: Record, verdict: Decided) -> None:
            as_read = record[2]
            if as_read is None:
                as_read = ",".join(map(csv_field, record[1]))
            write(as_read + verdict.csv_tail)

        return csv_from_csv

    def csv_from_jsonl(record: Record, verdict: Decided) -> None:
        fields = [csv_field(_csv_text(record[1].get(c))) for c in columns]
        write(",".join(fields) + verdict.csv_tail)

    return csv_from_jsonl


@contextmanager
def open_output(target: Path | BinaryIO, kind: Format) -> Iterator[BinaryIO]:
    """A file to write the output into: for a path, `atomic_output` (it replaces the file only
    when the block finishes); for a stream, a temporary file copied into it then."""
    if isinstance(target, Path):
        with atomic_output(target, kind, buffering=OUTPUT_BUFFER) as out:
            yield out
        return
    with tempfile.TemporaryFile(buffering=OUTPUT_BUFFER) as spool:
        yield cast(BinaryIO, spool)
        spool.seek(0)
        shutil.copyfileobj(spool, target)
        target.flush()
