"""Batch mode: decide a whole portfolio of cases, streaming row by row.

Input is CSV (a header row of column names) or JSON Lines (one object per line); the output is
the same rows with the outcome added in `OUTPUT_COLUMNS`. Columns that name facts of the rule base
are decided; any other column is passed through unchanged.

Two ways of deciding, with identical recommendations, combinations and rankings:

* the fast path (default): the outcome comes from the compiled decision diagram, the ranking and
  the fired rules from the analysis of the row's full cell state (exact when every fact is
  known). Rows whose facts are left unknown (blank, no default) are decided by inference, which
  is authoritative. Results are memoised per raw row and per cell state in bounded caches, since
  the rows of a portfolio repeat values.
* tracing: Rete inference on every row, spread over worker processes (durable_rules holds the
  GIL), with the fired rules in firing order.

Memory does not grow with the input: rows are read, decided and written one at a time, the
caches are cleared when full, and tracing keeps a bounded window of chunks in flight. The output
is written to a temporary file and moved into place only when every row has been written.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, TypeVar, cast

from .errors import InputError
from .model import KnowledgeBase
from .outcome import Ranked, decide

if TYPE_CHECKING:
    from .analysis import Analyzer
    from .diagram import DecisionDiagram
    from .inference import Engine

Format = Literal["csv", "jsonl"]
Via = Literal["diagram", "inference", "disagreement"]
"""How a row was decided: by the diagram and the analysis, by inference (a fact was unknown, or
`--trace`), or by inference because the diagram and the analysis disagreed (a bug to report)."""

EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TOP = 3
OUTPUT_COLUMNS = (
    "recommendation",
    "combine_with",
    *(f"rank{k}" for k in range(1, TOP + 1)),
    "fired",
    "error",
)
_OUTPUT = frozenset(OUTPUT_COLUMNS)
_UNIT = "\x1f"
"""Joins a row's values into one memo key (the ASCII unit separator)."""
SEPARATOR = ";"
"""Joins the lists `combine_with` and `fired` in CSV output."""
CACHE_SIZE = 1 << 15
"""Entries per memo (raw rows; cell states); a full memo is cleared. About 1 KB an entry."""
ANALYSIS_CACHE_SIZE = 1 << 10
CHUNK = 64
"""Rows per task sent to a worker when tracing."""
PROGRESS_EVERY = 1024
OUTPUT_BUFFER = 1 << 20

Values = tuple[object, ...]
"""A row's raw fact values, in the order of the decider's fact names (None: not given)."""
T = TypeVar("T")


_DUMP = json.JSONEncoder(ensure_ascii=False).encode
CSV_TERMINATOR = "\r\n"


def _tails(columns: dict[str, str | list[str] | None]) -> tuple[str, str]:
    """The output columns rendered once for every row that shares them: as the end of a CSV
    line (`,rag,...\r\n`, lists joined by `SEPARATOR`) and as the last members of a JSON object
    (`"recommendation": "rag", ...`)."""
    buffer = io.StringIO()
    cells = [SEPARATOR.join(v) if isinstance(v, list) else v or "" for v in columns.values()]
    csv.writer(buffer, lineterminator=CSV_TERMINATOR).writerow(["", *cells])
    return buffer.getvalue(), _DUMP(columns)[1:-1]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one row. `fired` is in rule-base order on the fast path and in firing
    order when traced; `csv_tail` and `json_tail` are its output columns, rendered."""

    recommendation: str | None
    combine_with: tuple[str, ...]
    ranking: tuple[Ranked, ...]
    fired: tuple[str, ...]
    via: Via
    csv_tail: str = field(init=False, repr=False, compare=False)
    json_tail: str = field(init=False, repr=False, compare=False)
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (self.recommendation, self.via))
        csv_tail, json_tail = _tails(
            {
                "recommendation": self.recommendation,
                "combine_with": list(self.combine_with),
                **{f"rank{k}": text for k, text in enumerate(self.top(), 1)},
                "fired": list(self.fired),
                "error": None,
            }
        )
        object.__setattr__(self, "csv_tail", csv_tail)
        object.__setattr__(self, "json_tail", json_tail)

    def top(self) -> list[str | None]:
        """The first `TOP` places of the ranking as `approach:score` (`approach:excluded`)."""
        shown: list[str | None] = [
            f"{r.approach}:{'excluded' if r.excluded else r.score}" for r in self.ranking[:TOP]
        ]
        return shown + [None] * (TOP - len(shown))


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row could not be decided; `fact` names the offending field when there is one."""

    message: str
    fact: str | None = None
    csv_tail: str = field(init=False, repr=False, compare=False)
    json_tail: str = field(init=False, repr=False, compare=False)
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (None, "error"))
        csv_tail, json_tail = _tails({**dict.fromkeys(OUTPUT_COLUMNS), "error": self.message})
        object.__setattr__(self, "csv_tail", csv_tail)
        object.__setattr__(self, "json_tail", json_tail)


Decided = Verdict | RowError


@dataclass(frozen=True)
class Summary:
    """What a batch run did: rows per recommendation (None: every approach excluded), rows with
    errors, and how many rows each way of deciding handled."""

    rows: int
    errors: int
    recommended: tuple[tuple[str | None, int], ...]
    via: tuple[tuple[str, int], ...]
    output_format: Format


# --- deciding ---------------------------------------------------------------------------------


class Decider:
    """The fast path for rows whose values come in the order of `facts` (a subset of the rule
    base's facts, each at most once; the others count as not given).

    Each raw value is validated once per distinct value by `make_case` itself (so defaults and
    messages are those of inference) and mapped to its cell; the outcome depends on the cells
    only, since every rule test is constant within a cell. With `typed`, values of different
    types that compare equal (`1`, `1.0`, `True`) are kept apart in the memos, as they may not
    parse alike; CSV values are all strings and need not be.
    """

    def __init__(self, kb: KnowledgeBase, facts: tuple[str, ...], *, typed: bool = False) -> None:
        from .analysis import Analyzer
        from .diagram import load_diagram

        unknown = sorted(set(facts) - set(kb.fact_names))
        if unknown or len(set(facts)) != len(facts):
            raise ValueError(f"not the distinct facts of the rule base: {facts}")
        self.kb = kb
        self.facts = facts
        self.typed = typed
        self.an: Analyzer = Analyzer(kb)
        self.diagram: DecisionDiagram = load_diagram(kb)
        self.memo: dict[Hashable, Decided] = {}
        """Raw row (`key`) → its verdict or error."""
        self._separators = len(facts) - 1
        position = {name: i for i, name in enumerate(facts)}
        self._where = tuple(position.get(name) for name in kb.fact_names)
        self._cells: tuple[dict[Hashable, int | RowError], ...] = tuple({} for _ in kb.facts)
        self._states: dict[tuple[int, ...], Verdict] = {}
        self._rule_index = {rule.id: r for r, rule in enumerate(kb.rules)}

    def key(self, values: Values) -> Hashable:
        """The memo's key for a row's values: for strings, one string (one hash, one compare)
        unless a value contains the separator."""
        if self.typed:
            return tuple(v if v.__class__ is str else (v.__class__, v) for v in values)
        key = _UNIT.join(values)  # type: ignore[arg-type]
        return key if key.count(_UNIT) == self._separators else values

    def decide(self, values: Values) -> Decided:
        key = self.key(values)
        found = self.memo.get(key)
        if found is None:
            found = self._decide_new(values)
            if len(self.memo) >= CACHE_SIZE:
                self.memo.clear()
            self.memo[key] = found
        return found

    def _decide_new(self, values: Values) -> Decided:
        cells: list[int] = []
        for i, where in enumerate(self._where):  # schema order: the first error, as make_case
            raw = None if where is None else values[where]
            memo = self._cells[i]
            key: Hashable = raw if raw.__class__ is str else (raw.__class__, raw)
            cell = memo.get(key)
            if cell is None:
                cell = self._cell(i, raw)
                if len(memo) >= CACHE_SIZE:
                    memo.clear()
                memo[key] = cell
            if isinstance(cell, RowError):
                return cell
            cells.append(cell)
        state = tuple(cells)
        verdict = self._states.get(state)
        if verdict is None:
            verdict = self._infer(values) if -1 in state else self._analyse(state, values)
            if len(self._states) >= CACHE_SIZE:
                self._states.clear()
            self._states[state] = verdict
        return verdict

    def _cell(self, i: int, raw: object) -> int | RowError:
        """The cell of a raw value of the i-th fact (-1: unknown), validated by `make_case`."""
        from .facts import make_case

        name = self.kb.facts[i].name
        try:
            value = make_case(self.kb, {} if raw is None else {name: raw}).get(name)
        except InputError as err:
            return RowError(str(err), err.item)
        return -1 if value is None else self.an.cell_of(name, value)

    def _analyse(self, cells: tuple[int, ...], values: Values) -> Verdict:
        from .analysis import OPEN, TRUE, Decision

        an, kb = self.an, self.kb
        partial = an.evaluate(tuple(1 << c for c in cells))
        if len(an._cache) > ANALYSIS_CACHE_SIZE:  # the memos here replace the analysis' own
            an._cache.clear()
        if OPEN in partial.rules:  # cannot happen with every fact known; inference decides
            return self._infer(values, "disagreement")
        fired = [r for r, status in enumerate(partial.rules) if status == TRUE]
        outcome = decide(kb, (e for r in fired for e in kb.rules[r].effects))
        known = {
            f.name: an.cells[i][c].value
            for i, (f, c) in enumerate(zip(kb.facts, cells, strict=True))
        }
        _, decision = self.diagram.walk(an, known)
        if decision != Decision(outcome.recommendation, outcome.combine_with):
            return self._infer(values, "disagreement")
        return Verdict(
            decision.recommendation,
            decision.combine_with,
            outcome.ranking,
            tuple(kb.rules[r].id for r in fired),
            "diagram",
        )

    def _infer(self, values: Values, via: Via = "inference") -> Verdict:
        from .facts import make_case
        from .inference import engine_for

        raw = {name: v for name, v in zip(self.facts, values, strict=True) if v is not None}
        verdict = _verdict(engine_for(self.kb).evaluate(make_case(self.kb, raw)), via)
        fired = tuple(sorted(verdict.fired, key=self._rule_index.__getitem__))
        return Verdict(verdict.recommendation, verdict.combine_with, verdict.ranking, fired, via)


def _verdict(result: Any, via: Via) -> Verdict:
    """A verdict from an inference `Result`, with the fired rules in firing order."""
    return Verdict(
        result.recommendation,
        result.combine_with,
        result.ranking,
        tuple(f.rule_id for f in result.firings),
        via,
    )


def trace_one(kb: KnowledgeBase, facts: tuple[str, ...], engine: Engine, values: Values) -> Decided:
    """Validate one row and run inference on it."""
    from .facts import make_case

    raw = {name: v for name, v in zip(facts, values, strict=True) if v is not None}
    try:
        case = make_case(kb, raw)
    except InputError as err:
        return RowError(str(err), err.item)
    return _verdict(engine.evaluate(case), "inference")


_WORKER: tuple[KnowledgeBase, tuple[str, ...], Engine] | None = None


def _init_worker(kb: KnowledgeBase, facts: tuple[str, ...]) -> None:
    """Load the rule base into a worker process once: its own durable_rules host."""
    from .inference import Engine

    global _WORKER
    _WORKER = (kb, facts, Engine(kb))


def _trace_chunk(chunk: list[Values | RowError]) -> list[Decided]:
    assert _WORKER is not None
    kb, facts, engine = _WORKER
    return [v if isinstance(v, RowError) else trace_one(kb, facts, engine, v) for v in chunk]


def _traced(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    jobs: int,
) -> Iterator[tuple[T, Decided]]:
    """Inference on every row, in input order, over `jobs` processes (in this one when 1)."""
    if jobs == 1:
        from .inference import engine_for

        engine = engine_for(kb)
        for item in items:
            v = values(item)
            yield item, v if isinstance(v, RowError) else trace_one(kb, facts, engine, v)
        return
    import multiprocessing

    # Pool.imap would read the whole input ahead; a bounded window of chunks keeps memory flat.
    window = 2 * jobs
    with multiprocessing.Pool(jobs, _init_worker, (kb, facts)) as pool:
        pending: deque[tuple[list[T], Any]] = deque()
        chunk: list[T] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == CHUNK:
                pending.append(
                    (chunk, pool.apply_async(_trace_chunk, ([values(i) for i in chunk],)))
                )
                chunk = []
                if len(pending) >= window:
                    done, result = pending.popleft()
                    yield from zip(done, result.get(), strict=True)
        if chunk:
            pending.append((chunk, pool.apply_async(_trace_chunk, ([values(i) for i in chunk],))))
        while pending:
            done, result = pending.popleft()
            yield from zip(done, result.get(), strict=True)


def decide_rows(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    *,
    trace: bool = False,
    jobs: int | None = None,
    typed: bool = False,
) -> Iterator[tuple[T, Decided]]:
    """Decide a stream of rows, in order: each item with its verdict or error.

    `values(item)` gives the item's raw fact values in the order of `facts` (or why the row cannot
    be read). A generator: it reads ahead at most one item on the fast path and a bounded window
    of chunks when tracing (`jobs` processes, default one per core).
    """
    if trace:
        yield from _traced(kb, facts, items, values, jobs or os.cpu_count() or 1)
        return
    decide = Decider(kb, facts, typed=typed).decide
    for item in items:
        v = values(item)
        yield item, v if isinstance(v, RowError) else decide(v)


# --- reading ----------------------------------------------------------------------------------

Record = tuple[int, Any, Values | RowError]
"""One input row: its line number, its fields as read (list for CSV, dict for JSON Lines) and
its fact values (or why it cannot be read)."""


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
    first-seen order, known only when `scan` was asked for) and the fact names it gives."""

    path: Path
    format: Format
    columns: tuple[str, ...]
    facts: tuple[str, ...]
    records: Iterator[Record]
    position: Callable[[], int]


Warn = Callable[[str, bool], None]
"""Reports a problem with the input as a whole; a suspect one (True) stops a strict run."""


def _check_column(where: str, kind: str, name: str, kb: KnowledgeBase, warn: Warn) -> None:
    """Warn about an input column (or key) that is not a fact and looks like a misspelt one, or
    that an output column replaces; any other such column is passed through silently."""
    if name in OUTPUT_COLUMNS:
        warn(f"{where}: {kind} {name!r} is replaced by this run's output", False)
        return
    close = difflib.get_close_matches(name, kb.fact_names, n=1, cutoff=0.75)
    if close:
        warn(
            f"{where}: {kind} {name!r} is not a fact (did you mean {close[0]}?); passed through",
            True,
        )


def _is_utf8(text: str) -> bool:
    """Whether text read with `surrogateescape` came from valid UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _repaired(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_csv(path: Path, stream: TextIO, kb: KnowledgeBase, warn: Warn) -> Table:
    reader = csv.reader(stream)
    header: list[str] = []
    line = 0
    while not header:
        line = reader.line_num + 1
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path} is empty: expected a header row of fact names") from None
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
    if not facts:
        raise InputError(
            f"{path}:{line}: the header names no fact of the rule base "
            f"(known facts: {', '.join(kb.fact_names)})"
        )
    for name in columns:
        if name not in known:
            _check_column(f"{path}:{line}", "column", name, kb, warn)
    keep = [i for i, name in enumerate(columns) if name not in OUTPUT_COLUMNS]
    positions = [columns.index(name) for name in facts]
    fact_values: Callable[[list[str]], Values] = (
        itemgetter(*positions) if len(positions) > 1 else lambda row: (row[positions[0]],)
    )

    def records() -> Iterator[Record]:
        width = len(columns)
        trimmed = len(keep) != width
        last = line
        while True:
            try:
                for row in reader:
                    start, last = last + 1, reader.line_num
                    if len(row) == width and "".join(row).isascii():  # the common case
                        yield start, [row[i] for i in keep] if trimmed else row, fact_values(row)
                    elif row:  # not a blank line
                        yield start, *odd(row)
                return
            except csv.Error as err:
                start, last = last + 1, reader.line_num
                yield start, [""] * len(keep), RowError(f"unreadable row: {err}")

    def odd(row: list[str]) -> tuple[list[str], Values | RowError]:
        """A row with non-ASCII text or the wrong number of fields."""
        width = len(columns)
        values: Values | RowError
        if len(row) != width:
            values = RowError(f"expected {width} fields, found {len(row)}")
            row = (row + [""] * width)[:width]
        else:
            values = fact_values(row)
        if not all(map(_is_utf8, row)):
            bad = next(columns[i] for i, text in enumerate(row) if not _is_utf8(text))
            if not isinstance(values, RowError):
                values = RowError(f"column {bad!r} is not valid UTF-8", bad)
            row = [_repaired(text) for text in row]
        return [row[i] for i in keep], values

    return Table(
        path,
        "csv",
        tuple(columns[i] for i in keep),
        facts,
        records(),
        stream.buffer.tell,
    )


def _json_value(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _read_jsonl(path: Path, stream: BinaryIO, kb: KnowledgeBase, warn: Warn, scan: bool) -> Table:
    facts = kb.fact_names
    columns: dict[str, None] = {}
    lines = 0
    for raw in stream:
        if raw.strip():
            lines += 1
            if not scan:
                break
            try:
                found = json.loads(raw)
            except ValueError:
                continue
            if isinstance(found, dict):
                columns.update((key, None) for key in found if key not in OUTPUT_COLUMNS)
    if not lines:
        raise InputError(f"{path} is empty: expected one JSON object per line")
    stream.seek(0)
    checked: set[str] = set()

    def records() -> Iterator[Record]:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                yield number, {}, RowError(f"not valid UTF-8 (byte {err.start + 1} of the line)")
                continue
            try:
                obj = json.loads(text)
            except ValueError as err:
                message = getattr(err, "msg", str(err))
                yield number, {}, RowError(f"not valid JSON: {message}")
                continue
            if not isinstance(obj, dict):
                yield number, {}, RowError("expected a JSON object")
                continue
            for key in obj:
                if key not in checked and key not in facts:
                    checked.add(key)
                    _check_column(f"{path}:{number}", "key", key, kb, warn)
            values = tuple(obj.get(name) for name in facts)
            bad = next((n for n, v in zip(facts, values, strict=True) if not _json_value(v)), None)
            if bad is not None:
                yield number, obj, RowError(f"fact {bad!r} needs a single value", bad)
            elif all(name not in obj for name in facts):
                yield number, obj, RowError("no fact of the rule base in this object")
            else:
                yield number, obj, values

    return Table(path, "jsonl", tuple(columns), facts, records(), stream.tell)


@contextmanager
def open_table(path: Path, kb: KnowledgeBase, warn: Warn, *, scan: bool = False) -> Iterator[Table]:
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
            yield _read_jsonl(path, stream, kb, warn, scan)


# --- writing ----------------------------------------------------------------------------------


def _csv_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else _DUMP(value)


def _json_line(obj: dict[str, object], verdict: Decided) -> str:
    if not _OUTPUT.isdisjoint(obj):
        obj = {key: value for key, value in obj.items() if key not in _OUTPUT}
    head = _DUMP(obj)[:-1]
    return f"{head}{', ' if obj else ''}{verdict.json_tail}}}\n"


def _writer(table: Table, kind: Format, out: IO[str]) -> Callable[[Any, Decided], None]:
    """A function writing one row with its verdict (input columns first, as read)."""
    write = out.write
    columns = table.columns
    if kind == "jsonl":

        def jsonl(fields: Any, verdict: Decided) -> None:
            if table.format == "csv":
                fields = dict(zip(columns, fields, strict=True))
            write(_json_line(fields, verdict))

        return jsonl
    csv.writer(out, lineterminator=CSV_TERMINATOR).writerow([*table.columns, *OUTPUT_COLUMNS])
    head = csv.writer(out, lineterminator="").writerow  # the verdict's tail ends the line
    if table.format == "csv":

        def csv_from_csv(fields: list[str], verdict: Decided) -> None:
            head(fields)
            write(verdict.csv_tail)

        return csv_from_csv

    def csv_from_jsonl(fields: dict[str, object], verdict: Decided) -> None:
        head([_csv_text(fields.get(c)) for c in columns])
        write(verdict.csv_tail)

    return csv_from_jsonl


@contextmanager
def _atomic(target: Path | BinaryIO) -> Iterator[BinaryIO]:
    """A file to write the output into; moved over `target` (or copied into the stream) only
    when the block finishes, and removed when it fails."""
    if not isinstance(target, Path):
        with tempfile.TemporaryFile(buffering=OUTPUT_BUFFER) as spool:
            yield cast(BinaryIO, spool)
            spool.seek(0)
            shutil.copyfileobj(spool, target)
            target.flush()
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as err:
        raise InputError(
            f"cannot write {target}: {err.strerror or err}", item=str(target)
        ) from None
    try:
        with os.fdopen(fd, "wb", buffering=OUTPUT_BUFFER) as out:
            yield out
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


# --- the whole run ----------------------------------------------------------------------------


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
) -> Summary:
    """Decide every row of `source` and write them to `target` (a path: format by extension; a
    binary stream: the input's format). Bad rows are reported through `on_error` and written
    with their `error`; with `strict` the first one (or any warning) raises `InputError`."""
    output_format = format_of(target) if isinstance(target, Path) else format_of(source)

    def warn(message: str, suspect: bool) -> None:
        if strict and suspect:
            raise InputError(message)
        if on_warning is not None:
            on_warning(message)

    tally: Counter[tuple[str | None, str]] = Counter()
    scan = output_format == "csv"  # CSV output needs every JSON key before the first row
    with open_table(source, kb, warn, scan=scan) as table, _atomic(target) as binary:
        out = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        write = _writer(table, output_format, out)
        decided = decide_rows(
            kb,
            table.facts,
            table.records,
            _values,
            trace=trace,
            jobs=jobs,
            typed=table.format == "jsonl",
        )
        for rows, ((line, fields, _), verdict) in enumerate(decided, 1):
            tally[verdict.tally] += 1
            if verdict.__class__ is RowError:
                if strict:
                    raise InputError(f"{source}:{line}: {verdict.message}", item=verdict.fact)
                if on_error is not None:
                    on_error(line, verdict)
            write(fields, verdict)
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
    return record[2]
