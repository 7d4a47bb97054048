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
import itertools
import json
import math
import os
import re
import shutil
import signal
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, TypeVar, cast

from .errors import EngineError, InputError
from .model import KnowledgeBase
from .outcome import Ranked, decide
from .outfile import atomic_output

if TYPE_CHECKING:
    from .analysis import Analyzer
    from .diagram import DecisionDiagram
    from .inference import Engine, Result

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
SEPARATOR = ";"
"""Joins the lists `combine_with` and `fired` in CSV output."""
CSV_TERMINATOR = "\r\n"
CACHE_SIZE = 1 << 14
"""Entries per memo (raw rows; cell states; each fact's raw values); a full memo is cleared.
About 2 KB an entry at most, so the memos stay within some tens of megabytes."""
ANALYSIS_CACHE_SIZE = 1 << 10
"""The analysis keeps its own memo of every state it evaluates; ours replaces it, so it is kept
small."""
CHUNK = 64
"""Rows per task sent to a worker when tracing."""
PROGRESS_EVERY = 1024
"""Rows between two progress reports."""
OUTPUT_BUFFER = 1 << 20
MAX_DEPTH = 100
"""Levels of arrays and objects a JSON Lines row may nest: far within Python's recursion limit,
so that any row read can be written back."""

Values = tuple[object, ...]
"""A row's raw fact values, in the order of the decider's fact names (None: not given)."""
T = TypeVar("T")

_OUTPUT = frozenset(OUTPUT_COLUMNS)
_UNIT = "\x1f"
"""Joins a row's values into one memo key (the ASCII unit separator)."""
_DUMP = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
"""Strict JSON: `NaN` and `Infinity` raise (input rows never hold them)."""
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def _csv_tail(columns: dict[str, str | list[str] | None]) -> str:
    """The output columns as the end of a CSV line: `,rag,...\r\n` (lists joined by
    `SEPARATOR`). Rendered once for all the rows that share a verdict."""
    cells = [SEPARATOR.join(v) if isinstance(v, list) else v or "" for v in columns.values()]
    return f",{','.join(map(_csv_field, cells))}{CSV_TERMINATOR}"


def _json_tail(columns: dict[str, str | list[str] | None]) -> str:
    """The output columns as the last members of a JSON object: `"recommendation": "rag", ...`."""
    return _DUMP(columns)[1:-1]


def _csv_field(text: str) -> str:
    """A field as the csv module writes it (quoted only when it has to be)."""
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one row. `fired` is in rule-base order on the fast path and in firing
    order when traced."""

    recommendation: str | None
    combine_with: tuple[str, ...]
    ranking: tuple[Ranked, ...]
    fired: tuple[str, ...]
    via: Via
    csv_tail: str = field(init=False, repr=False, compare=False)
    """The output columns, rendered for CSV."""
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)
    """What the run's summary counts: the recommendation and how it was reached."""
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (self.recommendation, self.via))
        object.__setattr__(self, "csv_tail", _csv_tail(self.columns()))

    @property
    def json_tail(self) -> str:
        """The output columns, rendered for JSON (on first use: only JSON output needs it)."""
        if self._json is None:
            object.__setattr__(self, "_json", _json_tail(self.columns()))
        assert self._json is not None
        return self._json

    def columns(self) -> dict[str, str | list[str] | None]:
        """The output columns: `OUTPUT_COLUMNS` with their values."""
        return {
            "recommendation": self.recommendation,
            "combine_with": list(self.combine_with),
            **{f"rank{k}": text for k, text in enumerate(self.top(), 1)},
            "fired": list(self.fired),
            "error": None,
        }

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
    tally: tuple[str | None, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tally", (None, "error"))
        object.__setattr__(self, "csv_tail", _csv_tail(self.columns()))

    @property
    def json_tail(self) -> str:
        return _json_tail(self.columns())

    def columns(self) -> dict[str, str | list[str] | None]:
        return {**dict.fromkeys(OUTPUT_COLUMNS), "error": self.message}


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

    def decide(self, values: Values) -> Decided:
        key: Hashable
        if self.typed:
            key = tuple(v if v.__class__ is str else (v.__class__, v) for v in values)
        else:  # strings: one joined string is one hash and one compare, unless a value holds
            key = _UNIT.join(values)  # type: ignore[arg-type]  # the separator
            if key.count(_UNIT) != self._separators:
                key = values
        found = self.memo.get(key)
        if found is None:
            found = self._decide_new(values)
            if len(self.memo) >= CACHE_SIZE:
                self.memo.clear()
            self.memo[key] = found
        return found

    def _decide_new(self, values: Values) -> Decided:
        bad = utf8_error(self.facts, values)
        if bad is not None:
            return bad
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


def _verdict(result: Result, via: Via) -> Verdict:
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

    bad = utf8_error(facts, values)
    if bad is not None:
        return bad
    raw = {name: v for name, v in zip(facts, values, strict=True) if v is not None}
    try:
        case = make_case(kb, raw)
    except InputError as err:
        return RowError(str(err), err.item)
    return _verdict(engine.evaluate(case), "inference")


_WORKER: tuple[KnowledgeBase, tuple[str, ...], Engine] | None = None


def _init_worker(kb: KnowledgeBase, facts: tuple[str, ...]) -> None:
    """Load the rule base into a worker process once: its own durable_rules host. Ctrl-C
    reaches every process of the terminal's group: workers ignore it, their parent stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .inference import Engine

    global _WORKER
    _WORKER = (kb, facts, Engine(kb))


def _trace_chunk(chunk: list[Values | RowError]) -> list[Decided]:
    assert _WORKER is not None
    kb, facts, engine = _WORKER
    return [v if isinstance(v, RowError) else trace_one(kb, facts, engine, v) for v in chunk]


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT while the pool may start worker processes, so that they start with it
    blocked until `_init_worker` ignores it; here it is raised when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _traced(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    jobs: int,
) -> Generator[tuple[T, Decided], None, None]:
    """Inference on every row, in input order, over `jobs` processes (in this one when 1)."""
    if jobs == 1:
        from .inference import engine_for

        engine = engine_for(kb)
        for item in items:
            v = values(item)
            yield item, v if isinstance(v, RowError) else trace_one(kb, facts, engine, v)
        return
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Executor.map would read the whole input ahead: a bounded window of chunks keeps memory
    # flat. A worker that dies fails the run (BrokenProcessPool) where a Pool would hang. When
    # the run stops early (Ctrl-C, an error), the chunks not started are cancelled and the few
    # running ones finish: killing a worker could leave half a result in the pool's pipe.
    window = 2 * jobs
    rows = iter(items)
    pool = ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(kb, facts))
    pending: deque[tuple[list[T], Future[list[Decided]]]] = deque()
    try:
        while True:
            chunk = list(itertools.islice(rows, CHUNK))
            if chunk:
                task = [values(i) for i in chunk]
                with _sigint_held():  # submit may start a worker
                    pending.append((chunk, pool.submit(_trace_chunk, task)))
            while pending and (len(pending) >= window or not chunk):
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
            if not chunk:
                return
    except BrokenProcessPool as err:
        raise EngineError(f"a worker process stopped unexpectedly: {err}") from None
    finally:
        pool.shutdown(cancel_futures=True)


def decide_rows(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    *,
    trace: bool = False,
    jobs: int | None = None,
    typed: bool = False,
) -> Generator[tuple[T, Decided], None, None]:
    """Decide a stream of rows, in order: each item with its verdict or error.

    `values(item)` gives the item's raw fact values in the order of `facts` (or why the row cannot
    be read). Lazy: it reads ahead one item on the fast path and a bounded window of chunks when
    tracing (`jobs` processes, default one per core; closing the generator stops them).
    """
    if trace:
        return _traced(kb, facts, items, values, jobs or os.cpu_count() or 1)
    decide = Decider(kb, facts, typed=typed).decide
    return ((item, v if isinstance(v := values(item), RowError) else decide(v)) for item in items)


# --- reading ----------------------------------------------------------------------------------

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


def _repaired(text: str) -> str:
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
        path,
        "csv",
        tuple(columns[i] for i in keep),
        facts,
        records(),
        stream.buffer.tell,
    )


def _json_value(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class _NotStrict(ValueError):
    """JSON that Python's parser accepts but that cannot be read unambiguously or written back
    as strict JSON; the message is the whole row error."""

    def __init__(self, message: str, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members; a key given twice is an error (the last value would win)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotStrict(f"key {key!r} appears twice", key)
            seen.add(key)
    return obj


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; one beyond a float's range is an error (it
    would be written back as the non-JSON `Infinity`)."""
    value = float(text)
    if math.isinf(value):
        raise _NotStrict(f"not valid JSON: number out of range: {text[:40]}")
    return value


def _constant(name: str) -> float:
    raise _NotStrict(f"not valid JSON: {name} is not a JSON number")


_DECODE = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=_finite, parse_constant=_constant
).decode


def _depth(value: object) -> int:
    """How many levels of arrays and objects `value` has (counted without recursion)."""
    depth = 0
    level = [value]
    while containers := [v for v in level if isinstance(v, list | dict)]:
        depth += 1
        level = [x for c in containers for x in (c.values() if isinstance(c, dict) else c)]
    return depth


def _parse_json(raw: bytes, number: int) -> dict[str, Any] | RowError:
    """A line of JSON Lines as an object, or why it is not one. Only strict JSON that can be
    written back as it was read is accepted: no duplicate keys, no `NaN` or `Infinity`, no
    unpaired surrogate, at most `MAX_DEPTH` levels of nesting."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as err:
        return RowError(f"not valid UTF-8 (byte {err.start + 1} of the line)")
    too_deep = f"not valid JSON: nested more than {MAX_DEPTH} levels deep"
    try:
        obj = _DECODE(text)
    except _NotStrict as err:
        return RowError(str(err), err.item)
    except ValueError as err:
        return RowError(f"not valid JSON: {getattr(err, 'msg', err)}")
    except RecursionError:
        return RowError(too_deep)
    if not isinstance(obj, dict):
        return RowError("expected a JSON object")
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(obj) > MAX_DEPTH:
        return RowError(too_deep)
    if "\\u" in text:  # only an escape can make an unpaired surrogate
        try:
            _DUMP(obj).encode("utf-8")
        except UnicodeEncodeError as err:
            code = f"\\u{ord(err.object[err.start]):04x}"
            return RowError(f"not valid Unicode: unpaired surrogate {code}")
    return obj


def _read_jsonl(path: Path, stream: BinaryIO, kb: KnowledgeBase, warn: Warn, scan: bool) -> Table:
    facts = kb.fact_names
    columns: dict[str, None] = {}
    lines = 0
    for number, raw in enumerate(stream, 1):
        if raw.strip():
            lines += 1
            if not scan:
                break
            found = _parse_json(raw, number)
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
            obj = _parse_json(raw, number)
            if isinstance(obj, RowError):
                yield number, {}, None, obj
                continue
            for key in obj:
                if key not in checked and key not in facts:
                    checked.add(key)
                    _check_column(f"{path}:{number}", "key", key, kb, warn)
            values = tuple(obj.get(name) for name in facts)
            bad = next((n for n, v in zip(facts, values, strict=True) if not _json_value(v)), None)
            if bad is not None:
                yield number, obj, None, RowError(f"fact {bad!r} needs a single value", bad)
            elif all(name not in obj for name in facts):
                yield number, obj, None, RowError("no fact of the rule base in this object")
            else:
                yield number, obj, None, values

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


def _writer(table: Table, kind: Format, out: IO[str]) -> Callable[[Record, Decided], None]:
    """A function writing one row with its verdict: the input columns, then the output's."""
    write = out.write
    columns = table.columns
    if kind == "jsonl":

        def jsonl(record: Record, verdict: Decided) -> None:
            fields = record[1]
            if table.format == "csv":  # JSON text must be valid UTF-8: mend what was not
                mended = fields if "".join(fields).isascii() else map(_repaired, fields)
                fields = dict(zip(columns, mended, strict=True))
            write(_json_line(fields, verdict))

        return jsonl
    csv.writer(out, lineterminator=CSV_TERMINATOR).writerow([*columns, *OUTPUT_COLUMNS])
    if table.format == "csv":

        def csv_from_csv(record: Record, verdict: Decided) -> None:
            as_read = record[2]
            if as_read is None:
                as_read = ",".join(map(_csv_field, record[1]))
            write(as_read + verdict.csv_tail)

        return csv_from_csv

    def csv_from_jsonl(record: Record, verdict: Decided) -> None:
        fields = [_csv_field(_csv_text(record[1].get(c))) for c in columns]
        write(",".join(fields) + verdict.csv_tail)

    return csv_from_jsonl


@contextmanager
def _output(target: Path | BinaryIO, kind: Format) -> Iterator[BinaryIO]:
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
    with open_table(source, kb, warn, scan=scan) as table, _output(target, output_format) as binary:
        # Columns passed through are written back byte for byte, even bytes that are not UTF-8.
        out = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
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
        with closing(decided):  # when the run stops early too (Ctrl-C): stop the workers now
            for rows, (record, verdict) in enumerate(decided, 1):
                tally[verdict.tally] += 1
                if verdict.__class__ is RowError:
                    if strict:
                        message = f"{source}:{record[0]}: {verdict.message}"
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
