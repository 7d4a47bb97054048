"""What would change a result: changes of one fact (then of two, if no single change works),
tried only where the three-valued evaluation says the outcome may change and each confirmed by
running inference, the authoritative path; the changes found merged for reading; and the
assumed defaults a result rests on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from llm_advisor.engine.analysis.cells import below_label
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import can_change
from llm_advisor.engine.analysis.status import Decision, Masks
from llm_advisor.engine.inference.run import Result, evaluate
from llm_advisor.engine.language.facts import Case, display_value
from llm_advisor.engine.language.model import Fact, KnowledgeBase, Value

MAX_CONFIRMED = 2_000
"""At most this many changes are confirmed by inference; the search stops there."""


@dataclass(frozen=True)
class Candidate:
    """A value to try for a fact; `label` shows it (a band such as `>= 200k` for quantities,
    whose bounds are `low` and `high`, None where the band is open)."""

    fact: str
    value: Value
    label: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Counterfactual:
    """A change of one or two facts, confirmed by inference to change the recommendation or its
    partners; `actionable` when the team can make it (see `actionable`)."""

    changes: tuple[Candidate, ...]
    recommendation: str | None
    combine_with: tuple[str, ...]
    actionable: bool


Kind = Literal["step", "not_given", "situation"]
"""What a what-if asks of the team: a step it can take, only facts it has not given yet, or a
different situation (facts it cannot change, less of what it has, or far more)."""


@dataclass(frozen=True)
class WhatIf:
    """Counterfactuals with the same outcome shown as one change: the values each fact takes
    (`values`, in the fact's order), every combination of which is one of the counterfactuals,
    and each fact with its values as one label (`changes`, such as `>= 1B` or `some or
    expert`). `actionable` when the team can make each of them; `measured` names the facts
    whose new values the team reaches by measuring them."""

    changes: tuple[tuple[str, str], ...]
    values: tuple[tuple[Candidate, ...], ...]
    recommendation: str | None
    combine_with: tuple[str, ...]
    actionable: bool
    kind: Kind
    measured: tuple[str, ...]


def band_label(fact: Fact, low: float | None, high: float | None) -> str:
    """A quantity band as people read it: `< $20k`, `>= 200k`, `>= 200k and < 1M`."""
    if low is None and high is not None:
        return below_label(fact, high)
    if high is None and low is not None:
        return f">= {display_value(fact, low)}"
    assert low is not None and high is not None
    return f">= {display_value(fact, low)} and < {display_value(fact, high)}"


def _options(an: Analyzer, i: int, current: int) -> list[tuple[int, Candidate]]:
    """The cells a fact can change to (every value or non-empty band but the current one and
    "unknown"), each with the value to try."""
    fact = an.facts[i]
    out = []
    for c, cell in enumerate(an.cells[i]):
        if cell.value is None or c == current:
            continue
        if cell.low is None:
            candidate = Candidate(fact.name, cell.value, display_value(fact, cell.value))
        else:
            low = cell.low or None  # quantities are never negative: a band from 0 has no floor
            if low is None and cell.high is None:
                continue  # the whole range: nothing compares the fact
            label = band_label(fact, low, cell.high)
            candidate = Candidate(fact.name, cell.value, label, low, cell.high)
        out.append((c, candidate))
    return out


def candidates(kb: KnowledgeBase, fact: Fact, current: Value | None) -> tuple[Candidate, ...]:
    """One value per enum value, bool value or quantity band, except the one the case has."""
    an = Analyzer(kb, unknown=True)
    i = an.index[fact.name]
    return tuple(c for _, c in _options(an, i, an.cell_of(fact.name, current)))


def changed(case: Case, changes: tuple[Candidate, ...]) -> Case:
    """The case with some facts set to new values, each counted as given."""
    new = {c.fact: c.value for c in changes}
    values = tuple((name, new.get(name, value)) for name, value in case.values)
    status = tuple((name, "given" if name in new else s) for name, s in case.status)
    return Case(values, status)


class _Search:
    """Changes of a case's facts tried against its plan (the recommendation and its partners): the
    three-valued evaluation says where the plan may change (`decision`, `may_change`), and
    `confirm` runs inference there, the authoritative path, for the what-ifs (`on_defaults`
    needs only the evaluation, exact on single cells)."""

    def __init__(self, kb: KnowledgeBase, result: Result) -> None:
        self.kb = kb
        self.result = result
        self.an = Analyzer(kb, unknown=True, outcome_only=True)
        self.here = tuple(1 << self.an.cell_of(f.name, result.case.get(f.name)) for f in kb.facts)
        # A measured fact changes only by measuring: no what-if unlearns a measurement.
        self.options = [
            [
                (c, x)
                for c, x in _options(self.an, i, cell.bit_length() - 1)
                if not fact.measured or _can_make(fact, x, result.case.get(fact.name))
            ]
            for i, (fact, cell) in enumerate(zip(kb.facts, self.here, strict=True))
        ]
        self.found: list[Counterfactual] = []
        self.evaluated = 0

    def region(self, changes: Mapping[int, int]) -> Masks:
        """The case's cells with some facts' cells changed (fact → mask of cells)."""
        return tuple(changes.get(i, mask) for i, mask in enumerate(self.here))

    def decision(self, changes: Mapping[int, int]) -> Decision | None:
        """The plan every case in the region gets, or None if they differ."""
        return self.an.evaluate(self.region(changes)).decision

    def may_change(self, changes: Mapping[int, int]) -> bool:
        """Whether some answers in the region change the plan."""
        decision = self.decision(changes)
        return decision is None or decision.plan != self.result.plan

    def confirm(self, changes: tuple[Candidate, ...]) -> None:
        """Run inference on the changed case; keep the change if the plan differs."""
        self.evaluated += 1
        other = evaluate(self.kb, changed(self.result.case, changes))
        if other.plan != self.result.plan:
            can = actionable(self.kb, changes, self.result.case)
            self.found.append(
                Counterfactual(changes, other.recommendation, other.combine_with, can)
            )

    def single(self, i: int) -> None:
        """Try every other value of fact `i`, alone."""
        opts = self.options[i]
        if opts and self.may_change({i: _anywhere(opts)}):
            for c, candidate in opts:
                if self.may_change({i: 1 << c}):
                    self.confirm((candidate,))


def _anywhere(opts: list[tuple[int, Candidate]]) -> int:
    return sum(1 << c for c, _ in opts)


def counterfactuals(
    kb: KnowledgeBase, result: Result
) -> tuple[tuple[Counterfactual, ...], int, bool]:
    """The smallest fact changes that change the plan (the recommendation or its partners: a
    measured baseline that adds a fine-tune beside retrieval counts): of one fact, else of two;
    and where every change of one fact is a change of the situation, the steps of two facts a
    team can take.

    Returns the changes found, how many cases inference evaluated to confirm them, and whether
    the search was complete (False when it stopped at `MAX_CONFIRMED`).
    """
    search = _Search(kb, result)
    for i in range(len(kb.facts)):
        search.single(i)
    options = search.options
    if search.found:
        if any(cf.actionable for cf in search.found):
            return tuple(search.found), search.evaluated, True
        # Only changes of the situation so far: look for steps of two facts the team can take.
        options = [
            [(c, x) for c, x in opts if actionable(kb, (x,), result.case)] for opts in options
        ]
    may_change = search.may_change
    for (i, first), (j, second) in combinations(enumerate(options), 2):
        if not (first and second and may_change({i: _anywhere(first), j: _anywhere(second)})):
            continue
        for c, a in first:
            if not may_change({i: 1 << c, j: _anywhere(second)}):
                continue
            for d, b in second:
                if may_change({i: 1 << c, j: 1 << d}):
                    if search.evaluated >= MAX_CONFIRMED:
                        return tuple(search.found), search.evaluated, False
                    search.confirm((a, b))
    return tuple(search.found), search.evaluated, True


@dataclass(frozen=True)
class Assumed:
    """Values of a fact the case took from its documented default (`default`) that give another
    plan than the default does, and that plan."""

    fact: str
    default: Value
    values: tuple[Candidate, ...]
    recommendation: str | None
    combine_with: tuple[str, ...]


def on_defaults(kb: KnowledgeBase, result: Result) -> tuple[Assumed, ...]:
    """What the plan rests on that the team never stated: the other values of each fact the
    case took from its documented default (a "don't know" answer, or a fact not given) that
    change the plan, one fact at a time, grouped by the plan they give, in schema order.

    A change counts only where it also changes the outcome for some values of the facts still
    unknown: a default that matters only while another fact is unknown would send the team to
    the wrong question. With one cell per fact ("unknown" for a fact not known) the three-valued
    evaluation decides each plan exactly, as `rules check --cross-check` confirms against
    inference."""
    search = _Search(kb, result)
    an = search.an
    unknown = frozenset(i for i, f in enumerate(kb.facts) if result.case.get(f.name) is None)
    known_cells = {
        i: sum(1 << c for c, x in enumerate(an.cells[i]) if x.value is not None) for i in unknown
    }
    groups: dict[tuple[str, str | None, tuple[str, ...]], list[Candidate]] = {}
    defaults: dict[str, Value] = {}
    for i, fact in enumerate(kb.facts):
        default = result.case.get(fact.name)
        if result.case.status_of(fact.name) != "defaulted" or default is None:
            continue
        defaults[fact.name] = default
        for c, candidate in search.options[i]:
            decision = search.decision({i: 1 << c})
            if decision is None or decision.plan == result.plan:
                continue
            if unknown:
                state = search.region({**known_cells, i: search.here[i] | 1 << c})
                if not can_change(an, state, an.evaluate(state), unknown):
                    continue
            key = (fact.name, decision.recommendation, decision.combine_with)
            groups.setdefault(key, []).append(candidate)
    return tuple(
        Assumed(
            name,
            defaults[name],
            _in_order(kb.fact(name), tuple(values)),
            recommendation,
            combine_with,
        )
        for (name, recommendation, combine_with), values in groups.items()
    )


def actionable(kb: KnowledgeBase, changes: tuple[Candidate, ...], case: Case) -> bool:
    """Whether a team can make every one of these changes: each raises a fact it can change,
    within the fact's `reach`, or sets one not known yet. Having less of what it has, or far
    more, is a different situation."""
    return all(_can_make(kb.fact(c.fact), c, case.get(c.fact)) for c in changes)


def _can_make(fact: Fact, change: Candidate, now: Value | None) -> bool:
    """Whether one change is a step: a later enum value, or a quantity band above the value
    whose floor is at most `reach` times the value (zero counting as one unit)."""
    if not fact.actionable:
        return False
    if now is None or not fact.kind.ordered:
        return True
    if not fact.kind.continuous:
        return fact.values.index(str(change.value)) > fact.values.index(str(now))
    if change.low is None or change.low <= float(now):
        return False
    return fact.reach is None or change.low <= fact.reach * max(float(now), 1.0)


def value_range(fact: Fact, options: tuple[Candidate, ...]) -> str:
    """Several values of a fact as one label: each run of adjacent quantity bands joined into one
    band, a run of three or more adjacent values of an enum as `first to last`, others listed."""
    if len(options) == 1:
        return options[0].label
    labels = [c.label for c in options]
    if fact.kind.continuous:
        runs: list[list[Candidate]] = []
        for band in sorted(options, key=lambda c: c.low or 0.0):
            if runs and runs[-1][-1].high is not None and runs[-1][-1].high == band.low:
                runs[-1].append(band)
            else:
                runs.append([band])
        if len(runs) == 1 and runs[0][0].low is None and runs[0][-1].high is None:
            return "any value"
        labels = [
            run[0].label if len(run) == 1 else band_label(fact, run[0].low, run[-1].high)
            for run in runs
        ]
        if len(labels) == 1:
            return labels[0]
    elif fact.values:
        where = [fact.values.index(str(c.value)) for c in options]
        if len(where) >= 3 and where == list(range(where[0], where[0] + len(where))):
            return f"{options[0].label} to {options[-1].label}"
    return f"{', '.join(labels[:-1])} or {labels[-1]}"


Rows = list[tuple[int, tuple[Candidate, ...]]]
"""Counterfactuals of the same facts: each one's position in the search's order and changes."""
Block = tuple[int, tuple[tuple[Candidate, ...], ...]]
"""A set of values per fact, every combination of which is a counterfactual found, with the
position of the first of them."""


def what_ifs(
    kb: KnowledgeBase, found: tuple[Counterfactual, ...], case: Case
) -> tuple[WhatIf, ...]:
    """Counterfactuals of `case` with the same facts, outcome and actionability (raising a fact
    and lowering it are not one change) merged into as few what-ifs as possible, in the order
    of `found` (`explain` puts those a team can act on first)."""
    groups: dict[tuple[tuple[str, ...], str | None, tuple[str, ...], bool], Rows] = {}
    for i, cf in enumerate(found):
        key = (tuple(c.fact for c in cf.changes), cf.recommendation, cf.combine_with, cf.actionable)
        groups.setdefault(key, []).append((i, cf.changes))
    merged = []
    for (facts, recommendation, combine_with, can), rows in groups.items():
        for first, block in _blocks(rows):
            values = tuple(
                _in_order(kb.fact(fact), options)
                for fact, options in zip(facts, block, strict=True)
            )
            changes = tuple(
                (fact, value_range(kb.fact(fact), options))
                for fact, options in zip(facts, values, strict=True)
            )
            kind: Kind = "step" if can else "situation"
            if all(case.get(fact) is None for fact in facts):
                kind = "not_given"
            # the search tries a measured fact only forward, so each is reached by measuring
            measured = tuple(fact for fact in facts if kb.fact(fact).measured)
            what_if = WhatIf(changes, values, recommendation, combine_with, can, kind, measured)
            merged.append((first, what_if))
    return tuple(w for _, w in sorted(merged, key=lambda m: m[0]))


def _blocks(rows: Rows) -> list[Block]:
    """Rows covered by as few blocks as can be found: a block is a set of values per fact,
    every combination of which is a row; each block comes with its first row's position."""
    if len(rows[0][1]) == 1:
        return [(rows[0][0], (tuple(changes[0] for _, changes in rows),))]
    return min((_blocks_keeping(rows, keep) for keep in (0, 1)), key=len)


def _blocks_keeping(rows: Rows, keep: int) -> list[Block]:
    """Two-fact rows as blocks: the rows of each value of fact `keep` are one block, and values
    of it that go with the same values of the other fact share theirs."""
    other = 1 - keep
    by_value: dict[str, Rows] = {}
    for row in rows:
        by_value.setdefault(row[1][keep].label, []).append(row)
    alike: dict[frozenset[str], list[Rows]] = {}
    for same in by_value.values():
        alike.setdefault(frozenset(changes[other].label for _, changes in same), []).append(same)
    blocks: list[Block] = []
    for values in alike.values():
        kept = tuple(same[0][1][keep] for same in values)
        others = tuple(changes[other] for _, changes in values[0])
        first = min(i for same in values for i, _ in same)
        blocks.append((first, (kept, others) if keep == 0 else (others, kept)))
    return blocks


def _in_order(fact: Fact, options: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    order = {value: i for i, value in enumerate(fact.values)}
    return tuple(
        sorted(options, key=lambda c: (order.get(str(c.value), 0), c.low or 0.0, str(c.value)))
    )
