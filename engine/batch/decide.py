"""The fast path of batch mode: a row's outcome from the decision diagram and the analysis of
its cells, memoised per raw row and per cell state; inference where a fact is unknown."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Hashable, Iterable
from typing import TYPE_CHECKING, TypeVar

from llm_advisor.engine.batch.read import utf8_error
from llm_advisor.engine.batch.trace import traced
from llm_advisor.engine.batch.verdict import Decided, RowError, Values, Verdict, Via
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.inference.outcome import decide
from llm_advisor.engine.language.model import KnowledgeBase

if TYPE_CHECKING:
    from pathlib import Path

    from llm_advisor.engine.analysis.diagram import DecisionDiagram
    from llm_advisor.engine.analysis.partial import Analyzer

CACHE_SIZE = 1 << 14
"""Entries per memo (raw rows; cell states; each fact's raw values); a full memo is cleared.
About 2 KB an entry at most, so the memos stay within some tens of megabytes."""
ANALYSIS_CACHE_SIZE = 1 << 10
"""The analysis keeps its own memo of every state it evaluates; ours replaces it, so it is kept
small."""
T = TypeVar("T")
_UNIT = "\x1f"
"""Joins a row's values into one memo key (the ASCII unit separator)."""


class Decider:
    """The fast path for rows whose values come in the order of `facts` (a subset of the rule
    base's facts, each at most once; the others count as not given).

    Each raw value is validated once per distinct value by `make_case` itself (so defaults and
    messages are those of inference) and mapped to its cell; the outcome depends on the cells
    only, since every rule test is constant within a cell. With `typed`, values of different
    types that compare equal (`1`, `1.0`, `True`) are kept apart in the memos, as they may not
    parse alike; CSV values are all strings and need not be.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        facts: tuple[str, ...],
        *,
        typed: bool = False,
        cache_dir: Path | None = None,
    ) -> None:
        from llm_advisor.engine.analysis.diagram import load_diagram
        from llm_advisor.engine.analysis.partial import Analyzer

        unknown = sorted(set(facts) - set(kb.fact_names))
        if unknown or len(set(facts)) != len(facts):
            raise ValueError(f"not the distinct facts of the rule base: {facts}")
        self.kb = kb
        self.facts = facts
        self.typed = typed
        self.an: Analyzer = Analyzer(kb)
        self.diagram: DecisionDiagram = load_diagram(kb, cache_dir)
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
        from llm_advisor.engine.language.facts import make_case

        name = self.kb.facts[i].name
        try:
            value = make_case(self.kb, {} if raw is None else {name: raw}).get(name)
        except InputError as err:
            return RowError(str(err), err.item)
        return -1 if value is None else self.an.cell_of(name, value)

    def _analyse(self, cells: tuple[int, ...], values: Values) -> Verdict:
        from llm_advisor.engine.analysis.status import OPEN, TRUE, Decision

        an, kb = self.an, self.kb
        partial = an.evaluate(tuple(1 << c for c in cells))
        an.limit_cache(ANALYSIS_CACHE_SIZE)  # the memos here replace the analysis' own
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
        from llm_advisor.engine.inference.run import engine_for
        from llm_advisor.engine.language.facts import make_case

        raw = {name: v for name, v in zip(self.facts, values, strict=True) if v is not None}
        result = engine_for(self.kb).evaluate(make_case(self.kb, raw))
        fired = sorted((f.rule_id for f in result.firings), key=self._rule_index.__getitem__)
        return Verdict(
            result.recommendation, result.combine_with, result.ranking, tuple(fired), via
        )


def decide_rows(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    *,
    trace: bool = False,
    jobs: int | None = None,
    typed: bool = False,
    cache_dir: Path | None = None,
) -> Generator[tuple[T, Decided], None, None]:
    """Decide a stream of rows, in order: each item with its verdict or error.

    `values(item)` gives the item's raw fact values in the order of `facts` (or why the row cannot
    be read). Lazy: it reads ahead one item on the fast path and a bounded window of chunks when
    tracing (`jobs` processes, default one per core; closing the generator stops them). The fast
    path's decision diagram is kept in `cache_dir`.
    """
    if trace:
        return traced(kb, facts, items, values, jobs or os.cpu_count() or 1)
    decide = Decider(kb, facts, typed=typed, cache_dir=cache_dir).decide
    return ((item, v if isinstance(v := values(item), RowError) else decide(v)) for item in items)
