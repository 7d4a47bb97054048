"""Three-valued partial evaluation of a rule base: the verifier beside the inference engine.

Every fact's possible values are split into cells (enum values, yes/no, or the bands between the
thresholds rules compare a quantity with). With some facts known and the rest open, each
condition is certainly true, certainly false or undecided (Kleene logic, which is sound: it may
say "undecided" when the answer is in fact fixed, never the reverse). Derived facts follow the
rules that produce them; scores become bounds; exclusions become certain, possible or never.
An outcome is decided when no completion of the open facts can change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .facts import display_value
from .model import (
    Combine,
    Derive,
    DerivedTest,
    Exclude,
    Fact,
    FactTest,
    KnowledgeBase,
    Score,
    Value,
)

FALSE, TRUE, OPEN = 0, 1, 2
State = tuple[int, ...]
"""One bit mask per fact (in schema order): the cells the fact may still be in."""


class AnalysisError(Exception):
    """The analysis could not reach a decision (a bug or an inconsistent rule base)."""


@dataclass(frozen=True)
class Cell:
    """One branch of a fact: an enum value, yes/no, or a band `[low, high)` of a quantity."""

    label: str
    value: Value
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Decision:
    """A decided outcome: the recommendation (None when all are excluded) and its partners."""

    recommendation: str | None
    combine_with: tuple[str, ...]


@dataclass(frozen=True)
class Partial:
    """The analysis of one partial state."""

    rules: tuple[int, ...]
    derived: Mapping[str, int]
    low: Mapping[str, int]
    high: Mapping[str, int]
    excluded: Mapping[str, int]
    decision: Decision | None
    key: tuple[object, ...]

    def contenders(self, order: tuple[str, ...]) -> tuple[str, ...]:
        """Approaches that can still end up recommended."""
        floor = max((self.low[a] for a in order if self.excluded[a] == FALSE), default=None)
        return tuple(
            a
            for a in order
            if self.excluded[a] != TRUE and (floor is None or self.high[a] >= floor)
        )


def cells_for(fact: Fact, thresholds: Iterable[float]) -> tuple[Cell, ...]:
    """The cells a fact splits into, given the thresholds of a quantity."""
    if fact.type != "quantity":
        return tuple(Cell(display_value(fact, v), v) for v in fact.domain)
    bounds = sorted(set(thresholds))
    if not bounds:
        return (Cell("any", 0.0, 0.0, None),)
    cells = [Cell(f"< {display_value(fact, bounds[0])}", 0.0, 0.0, bounds[0])]
    for low, high in zip(bounds, [*bounds[1:], None], strict=True):
        label = (
            f"≥ {display_value(fact, low)}"
            if high is None
            else f"{display_value(fact, low)}–{display_value(fact, high)}"
        )
        cells.append(Cell(label, low, low, high))
    return tuple(cells)


class Analyzer:
    """Partial evaluation of one knowledge base over its fact cells."""

    def __init__(
        self, kb: KnowledgeBase, thresholds: Mapping[str, Iterable[float]] | None = None
    ) -> None:
        self.kb = kb
        self.order = kb.tie_order
        self.position = {a: i for i, a in enumerate(self.order)}
        self.facts = kb.facts
        self.index = {f.name: i for i, f in enumerate(kb.facts)}
        extra = thresholds or {}
        self.cells = tuple(
            cells_for(f, extra[f.name] if f.name in extra else kb.thresholds(f.name))
            for f in kb.facts
        )
        self.full: State = tuple((1 << len(c)) - 1 for c in self.cells)
        # Per rule, per alternative: literals as (fact index, mask of cells where it holds)
        # or (derived name, expected value).
        self._alts: list[list[list[tuple[int, int] | tuple[str, bool]]]] = []
        for rule in kb.rules:
            alts: list[list[tuple[int, int] | tuple[str, bool]]] = []
            for alternative in rule.alternatives:
                lits: list[tuple[int, int] | tuple[str, bool]] = []
                for lit in alternative:
                    if isinstance(lit, FactTest):
                        i = self.index[lit.fact]
                        mask = sum(
                            1 << c for c, cell in enumerate(self.cells[i]) if lit.holds(cell.value)
                        )
                        lits.append((i, mask))
                    else:
                        assert isinstance(lit, DerivedTest)
                        lits.append((lit.name, lit.value))
                alts.append(lits)
            self._alts.append(alts)
        self._producers: dict[str, list[int]] = {}
        for r, rule in enumerate(kb.rules):
            for name in rule.derives:
                self._producers.setdefault(name, []).append(r)
        self._by_stratum = sorted(range(len(kb.rules)), key=lambda r: kb.rules[r].stratum)

    # --- states --------------------------------------------------------------------------

    def cell_of(self, fact: str, value: Value) -> int:
        """The index of the cell a value falls in."""
        i = self.index[fact]
        for c, cell in enumerate(self.cells[i]):
            if cell.high is None and cell.low is None and cell.value == value:
                return c
            if (
                cell.low is not None
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                if value >= cell.low and (cell.high is None or value < cell.high):
                    return c
        raise ValueError(f"{value!r} is not a value of {fact}")

    def state_of(self, known: Mapping[str, Value | None]) -> State:
        """The state where the given facts are known and the rest open."""
        masks = list(self.full)
        for name, value in known.items():
            if value is not None:
                masks[self.index[name]] = 1 << self.cell_of(name, value)
        return tuple(masks)

    def fix(self, state: State, fact: int, cell: int) -> State:
        return (*state[:fact], 1 << cell, *state[fact + 1 :])

    def open_cells(self, state: State, fact: int) -> list[int]:
        return [c for c in range(len(self.cells[fact])) if state[fact] >> c & 1]

    # --- evaluation -----------------------------------------------------------------------

    def evaluate(self, state: State) -> Partial:
        """Rule statuses, derived facts, score bounds, exclusions and the decision, if any."""
        kb = self.kb
        status = [FALSE] * len(kb.rules)
        derived: dict[str, int] = {}
        residual: list[object] = []

        def derived_status(name: str) -> int:
            if name not in derived:
                producers = [status[r] for r in self._producers.get(name, [])]
                derived[name] = TRUE if TRUE in producers else OPEN if OPEN in producers else FALSE
            return derived[name]

        for r in self._by_stratum:
            rule_status = FALSE
            open_alts = []
            for lits in self._alts[r]:
                alt_status = TRUE
                open_lits = []
                for lit in lits:
                    if isinstance(lit[0], int):
                        i, mask = lit
                        have = state[i]
                        s = TRUE if mask & have == have else FALSE if not mask & have else OPEN
                    else:
                        d = derived_status(lit[0])
                        s = OPEN if d == OPEN else TRUE if (d == TRUE) == lit[1] else FALSE
                    if s == FALSE:
                        alt_status = FALSE
                        break
                    if s == OPEN:
                        alt_status = OPEN
                        open_lits.append(lit)
                if alt_status == TRUE:
                    rule_status = TRUE
                    break
                if alt_status == OPEN:
                    rule_status = OPEN
                    open_alts.append(tuple(open_lits))
            status[r] = rule_status
            if rule_status == OPEN:
                residual.append((r, tuple(open_alts)))

        low = dict.fromkeys(self.order, 0)
        high = dict.fromkeys(self.order, 0)
        excluded = dict.fromkeys(self.order, FALSE)
        combines: list[tuple[Combine, int]] = []
        certain: list[object] = []
        for r, rule in enumerate(kb.rules):
            s = status[r]
            if s == FALSE:
                continue
            for effect in rule.effects:
                if isinstance(effect, Score):
                    if s == TRUE or effect.delta > 0:
                        high[effect.approach] += effect.delta
                    if s == TRUE or effect.delta < 0:
                        low[effect.approach] += effect.delta
                elif isinstance(effect, Exclude):
                    if s == TRUE:
                        excluded[effect.approach] = TRUE
                    elif excluded[effect.approach] == FALSE:
                        excluded[effect.approach] = OPEN
                elif isinstance(effect, Combine):
                    combines.append((effect, s))
                    if s == TRUE:
                        certain.append((effect.first, effect.second))
        for r, rule in enumerate(kb.rules):
            if status[r] == TRUE:
                certain.extend(
                    (e.approach, e.delta) if isinstance(e, Score) else e.approach
                    for e in rule.effects
                    if isinstance(e, Score | Exclude)
                )
        decision = self._decide(low, high, excluded, combines)
        key = (tuple(sorted(map(repr, certain))), tuple(residual))
        return Partial(tuple(status), derived, low, high, excluded, decision, key)

    def _decide(
        self,
        low: dict[str, int],
        high: dict[str, int],
        excluded: dict[str, int],
        combines: list[tuple[Combine, int]],
    ) -> Decision | None:
        if all(excluded[a] == TRUE for a in self.order):
            return Decision(None, ())
        for a in self.order:
            if excluded[a] != FALSE:
                continue
            beaten = all(
                excluded[b] == TRUE
                or high[b] < low[a]
                or (high[b] == low[a] and self.position[a] < self.position[b])
                for b in self.order
                if b != a
            )
            if not beaten:
                continue
            partners = set()
            for effect, s in combines:
                if a not in (effect.first, effect.second):
                    continue
                other = effect.second if effect.first == a else effect.first
                if s == OPEN or excluded[other] == OPEN:
                    return None
                if excluded[other] == FALSE:
                    partners.add(other)
            return Decision(a, tuple(sorted(partners, key=self.position.__getitem__)))
        return None

    # --- questions ------------------------------------------------------------------------

    def relevant(self, state: State, partial: Partial | None = None) -> list[int]:
        """Open facts that an undecided rule still tests, in schema order."""
        partial = partial or self.evaluate(state)
        used: set[int] = set()
        for _, alts in partial.key[1]:  # type: ignore[misc]
            for lits in alts:
                used.update(lit[0] for lit in lits if isinstance(lit[0], int))
        return [i for i in sorted(used) if state[i] & (state[i] - 1)]

    def next_question(self, state: State, partial: Partial | None = None) -> int | None:
        """The open fact that best separates the remaining outcomes (None when decided).

        Preference: most answers that decide the outcome, then fewest contenders left on
        average, then the order of the fact schema.
        """
        partial = partial or self.evaluate(state)
        if partial.decision is not None:
            return None
        best: tuple[float, float, int] | None = None
        choice = None
        for i in self.relevant(state, partial):
            cells = self.open_cells(state, i)
            decided = 0
            contenders = 0
            for c in cells:
                child = self.evaluate(self.fix(state, i, c))
                decided += child.decision is not None
                contenders += len(child.contenders(self.order))
            score = (-decided / len(cells), contenders / len(cells), i)
            if best is None or score < best:
                best, choice = score, i
        if choice is None:
            raise AnalysisError("undecided, but no open fact is relevant")
        return choice
