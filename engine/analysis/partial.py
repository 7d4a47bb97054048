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
from itertools import compress
from operator import ne

from llm_advisor.engine.analysis.cells import Cell, cells_for
from llm_advisor.engine.analysis.status import FALSE, OPEN, TRUE, Decision, Entry, Masks, Partial
from llm_advisor.engine.language.effects import Combine, Exclude, Score
from llm_advisor.engine.language.model import DerivedTest, Fact, FactTest, KnowledgeBase, Value


class Analyzer:
    """Partial evaluation of one knowledge base over its fact cells.

    With `unknown`, every fact has one more cell, last: not known, where every test on the fact
    is false, as in inference. With `outcome_only`, rules that can no longer change the outcome
    (advice only, or scores and exclusions of approaches already out of the running) are dropped
    from the analysis and stay undecided: questions, decisions and the diagram come out the same,
    for less work. Without it, every rule is followed until it is decided (to tell which rules
    fire or can fire). Which fact to ask next is chosen in `questions`.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        thresholds: Mapping[str, Iterable[float]] | None = None,
        *,
        unknown: bool = False,
        outcome_only: bool = False,
    ) -> None:
        self.kb = kb
        self.outcome_only = outcome_only
        self.order = kb.tie_order
        self.position = {a: i for i, a in enumerate(self.order)}
        self.facts = kb.facts
        self.index = {f.name: i for i, f in enumerate(kb.facts)}
        extra = thresholds or {}

        def bands(fact: Fact) -> Iterable[float]:
            """Where a quantity splits (an enum or bool fact has no thresholds to look for)."""
            if fact.name in extra:
                return extra[fact.name]
            return kb.thresholds(fact.name) if fact.kind.continuous else ()

        self.cells = tuple(
            (*cells_for(f, bands(f)), *((Cell("unknown", None),) if unknown else ()))
            for f in kb.facts
        )
        self.full: Masks = tuple((1 << len(c)) - 1 for c in self.cells)
        self._bits = tuple(1 << i for i in range(len(kb.facts)))
        # Per rule, per alternative: literals as (fact index, mask of the cells where it holds)
        # or (-1 - derived index, 1 if it must hold else 0).
        self._derived = list(
            dict.fromkeys(n for rule in kb.rules for n in (*rule.derives, *rule.derived_used))
        )
        dindex = {name: d for d, name in enumerate(self._derived)}
        self._alts: list[list[list[tuple[int, int]]]] = []
        for rule in kb.rules:
            alts: list[list[tuple[int, int]]] = []
            for alternative in rule.alternatives:
                lits: list[tuple[int, int]] = []
                for lit in alternative:
                    if isinstance(lit, FactTest):
                        i = self.index[lit.fact]
                        cells = self.cells[i]
                        lits.append(
                            (
                                i,
                                sum(
                                    1 << c for c, cell in enumerate(cells) if lit.holds(cell.value)
                                ),
                            )
                        )
                    else:
                        assert isinstance(lit, DerivedTest)
                        lits.append((-1 - dindex[lit.name], int(lit.value)))
                alts.append(lits)
            self._alts.append(alts)
        self._producers: list[list[int]] = [[] for _ in self._derived]
        for r, rule in enumerate(kb.rules):
            for name in rule.derives:
                self._producers[dindex[name]].append(r)
        self._by_stratum = sorted(range(len(kb.rules)), key=lambda r: kb.rules[r].stratum)
        pos = self.position
        self._combines = [e for rule in kb.rules for e in rule.effects if isinstance(e, Combine)]
        cindex = {id(e): k for k, e in enumerate(self._combines)}
        self._scores = [
            [(pos[e.approach], e.delta) for e in rule.effects if isinstance(e, Score)]
            for rule in kb.rules
        ]
        self._excludes = [
            [pos[e.approach] for e in rule.effects if isinstance(e, Exclude)] for rule in kb.rules
        ]
        self._rule_combines = [
            [cindex[id(e)] for e in rule.effects if isinstance(e, Combine)] for rule in kb.rules
        ]
        self._cache: dict[Masks, Partial] = {}
        n = len(self.order)
        self._rule_derives = [[dindex[name] for name in rule.derives] for rule in kb.rules]
        self._combine_ends = [
            1 << self.position[e.first] | 1 << self.position[e.second] for e in self._combines
        ]
        self._effect_masks = self._outcome_effects()
        self._partner_positions = sorted(
            {self.position[a] for e in self._combines for a in (e.first, e.second)}
        )
        self._direct: dict[tuple[int, int], frozenset[int]] = {}
        top_residual = tuple(
            self._entry(
                r,
                tuple(
                    tuple((i, m, -1) if i >= 0 else (i, m) for i, m in lits)
                    for lits in self._alts[r]
                ),
            )
            for r in self._by_stratum
        )
        # Before anything is evaluated every rule is open: every contribution is possible.
        low, high, open_exclusions = [0] * n, [0] * n, [0] * n
        for r in range(len(kb.rules)):
            for a, delta in self._scores[r]:
                if delta > 0:
                    high[a] += delta
                else:
                    low[a] += delta
            for a in self._excludes[r]:
                open_exclusions[a] += 1
        self._top = Partial(
            rules=(OPEN,) * len(kb.rules),
            decision=None,
            key=((0,) * n, (), (False,) * n, frozenset(), top_residual),
            residual=top_residual,
            dstatus=(-1,) * len(self._derived),
            state=(-1,) * len(self.facts),  # differs from every state: nothing evaluated yet
            bounds=(tuple(low), tuple(high)),
            excluded=tuple(OPEN if count else FALSE for count in open_exclusions),
            certain=(0,) * n,
            open_exclusions=tuple(open_exclusions),
            open_combines=frozenset(range(len(self._combines))),
        )

    def _outcome_effects(self) -> list[tuple[int, int, int, list[int]]]:
        """Per rule, bit masks: the derived facts it derives, the approaches it scores and
        excludes, and the two approaches of each pair it combines."""
        ends = self._combine_ends
        return [
            (
                sum(1 << d for d in self._rule_derives[r]),
                sum(1 << a for a, _ in self._scores[r]),
                sum(1 << a for a in self._excludes[r]),
                [ends[k] for k in self._rule_combines[r]],
            )
            for r in range(len(self.kb.rules))
        ]

    def _prune(self, residual: list[Entry], sure: int, out: int) -> list[Entry]:
        """The open rules that can still change the outcome, with the approaches in `sure`
        excluded for sure and those in `out` (a superset) unable to win: rules with such an
        effect, and the rules deriving facts they (or those rules, in turn) still test."""
        direct = self._direct.get((sure, out))
        if direct is None:
            direct = self._direct[sure, out] = frozenset(
                r
                for r, (_, scores, excludes, pairs) in enumerate(self._effect_masks)
                if scores & ~out or excludes & ~sure or any(not ends & sure for ends in pairs)
            )
        kept = [entry for entry in residual if entry[0] in direct]
        if len(kept) == len(residual):
            return residual
        used = 0
        for entry in kept:
            used |= entry[3]
        derives = self._effect_masks
        maybe = [entry for entry in residual if entry[0] not in direct and derives[entry[0]][0]]
        while needed := [entry for entry in maybe if derives[entry[0]][0] & used]:
            for entry in needed:
                kept.append(entry)
                used |= entry[3]
                maybe.remove(entry)
        if len(kept) == len(residual):
            return residual
        chosen = {entry[0] for entry in kept}
        return [entry for entry in residual if entry[0] in chosen]

    @staticmethod
    def _entry(r: int, alts: tuple[tuple[tuple[int, ...], ...], ...]) -> Entry:
        """A residual rule with bit masks of the facts and derived facts it still tests."""
        fmask = dmask = 0
        for lits in alts:
            for lit in lits:
                if lit[0] >= 0:
                    fmask |= 1 << lit[0]
                else:
                    dmask |= 1 << (-1 - lit[0])
        return (r, alts, fmask, dmask)

    # --- states --------------------------------------------------------------------------

    def cell_of(self, fact: str, value: Value | None) -> int:
        """The index of the cell a value falls in."""
        i = self.index[fact]
        for c, cell in enumerate(self.cells[i]):
            if cell.high is None and cell.low is None and cell.value == value:
                return c
            if (
                cell.low is not None
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and value >= cell.low
                and (cell.high is None or value < cell.high)
            ):
                return c
        raise ValueError(f"{value!r} is not a value of {fact}")

    def state_of(self, known: Mapping[str, Value | None]) -> Masks:
        """The state where the given facts are known and the rest open."""
        masks = list(self.full)
        for name, value in known.items():
            if value is not None:
                masks[self.index[name]] = 1 << self.cell_of(name, value)
        return tuple(masks)

    def fix(self, state: Masks, fact: int, cell: int) -> Masks:
        return (*state[:fact], 1 << cell, *state[fact + 1 :])

    def open_cells(self, state: Masks, fact: int) -> list[int]:
        return [c for c in range(len(self.cells[fact])) if state[fact] >> c & 1]

    def limit_cache(self, size: int) -> None:
        """Forget the evaluated states when more than `size` are kept: for callers that memoise
        the results themselves and need only a small memo here."""
        if len(self._cache) > size:
            self._cache.clear()

    # --- evaluation -----------------------------------------------------------------------

    def evaluate(self, state: Masks, base: Partial | None = None) -> Partial:
        """Rule statuses, derived facts, score bounds, exclusions and the decision, if any.

        With `base`, the analysis of a state that `state` refines, only the rules still open
        there are looked at again: decided rules stay decided when more facts become known.
        """
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        base = base or self._top
        status = list(base.rules)
        dstatus = list(base.dstatus)
        certain = list(base.certain)
        excluded_for_sure = [e == TRUE for e in base.excluded]
        certain_combines = set(base.certain_combines)
        low, high = list(base.bounds[0]), list(base.bounds[1])
        open_exclusions = list(base.open_exclusions)
        open_combines = set(base.open_combines)
        residual = []
        changed = sum(compress(self._bits, map(ne, state, base.state)))
        fresh = base is self._top
        dchanged = 0
        # Derived facts whose producers were decided here: their status is settled below.
        unsettled = list(range(len(dstatus))) if fresh else []
        for entry in base.residual:
            r, alts, fmask, dmask = entry
            if not (fresh or fmask & changed or dmask & dchanged):
                residual.append(entry)  # nothing it tests has changed: still open, as it was
                continue
            rule_status = FALSE
            open_alts = []
            for lits in alts:
                alt_status = TRUE
                open_lits: list[tuple[int, ...]] = []
                for lit in lits:
                    i = lit[0]
                    if i >= 0:
                        have = state[i]
                        hit = lit[1] & have
                        if hit == have:
                            continue
                        if not hit:
                            alt_status = FALSE
                            break
                        alt_status = OPEN
                        open_lits.append((i, hit, have))
                        continue
                    d = -1 - i
                    ds = dstatus[d]
                    if ds < 0:
                        producers = [status[p] for p in self._producers[d]]
                        ds = TRUE if TRUE in producers else OPEN if OPEN in producers else FALSE
                        dstatus[d] = ds
                    if ds == OPEN:
                        alt_status = OPEN
                        open_lits.append(lit)
                    elif (ds == TRUE) != bool(lit[1]):
                        alt_status = FALSE
                        break
                if alt_status == TRUE:
                    rule_status = TRUE
                    break
                if alt_status == OPEN:
                    rule_status = OPEN
                    open_alts.append(tuple(open_lits))
            status[r] = rule_status
            if rule_status == OPEN:
                residual.append(self._entry(r, tuple(open_alts)))
                continue
            # The rule is decided: its possible contributions become certain or vanish.
            for d in self._rule_derives[r]:
                if dstatus[d] == OPEN:
                    dstatus[d] = -1
                    dchanged |= 1 << d
                    unsettled.append(d)
            for a, delta in self._scores[r]:
                if delta > 0:
                    high[a] -= delta
                else:
                    low[a] -= delta
                if rule_status == TRUE:
                    certain[a] += delta
                    low[a] += delta
                    high[a] += delta
            for a in self._excludes[r]:
                open_exclusions[a] -= 1
                if rule_status == TRUE:
                    excluded_for_sure[a] = True
            open_combines.difference_update(self._rule_combines[r])
            if rule_status == TRUE:
                certain_combines.update(self._rule_combines[r])
        for d in unsettled:
            if dstatus[d] < 0:
                producers = [status[p] for p in self._producers[d]]
                dstatus[d] = TRUE if TRUE in producers else OPEN if OPEN in producers else FALSE

        excluded = [
            TRUE if sure else OPEN if count else FALSE
            for sure, count in zip(excluded_for_sure, open_exclusions, strict=True)
        ]
        if self.outcome_only:
            sure = 0
            best: int | None = None
            for a, e in enumerate(excluded):
                if e == TRUE:
                    sure |= 1 << a
                elif e == FALSE and (best is None or low[a] > best):
                    best = low[a]
            # Out of the running for good: the highest score still reachable is below a score
            # that an approach which cannot be excluded already has (scores only narrow).
            out = sure
            if best is not None:
                for a, h in enumerate(high):
                    if h < best:
                        out |= 1 << a
            # A possible partner's score still matters (partners need a score of at least 0).
            for k in (*certain_combines, *open_combines):
                out &= ~self._combine_ends[k] | sure
            residual = self._prune(residual, sure, out)
        # What is left to decide does not depend on a score shared by every approach, nor on
        # the score of an approach excluded for sure: the key leaves them out.
        floor = min(
            (c for c, sure in zip(certain, excluded_for_sure, strict=True) if not sure), default=0
        )
        frozen_combines = frozenset(certain_combines)
        rest = tuple(residual)
        partial = Partial(
            rules=tuple(status),
            decision=self._decide(low, high, excluded, certain_combines, open_combines),
            key=(
                tuple(
                    0 if sure else c - floor
                    for c, sure in zip(certain, excluded_for_sure, strict=True)
                ),
                # Whether a partner scores below zero depends on its score itself.
                tuple(certain[a] for a in self._partner_positions if not excluded_for_sure[a]),
                tuple(excluded_for_sure),
                frozen_combines,
                rest,
            ),
            residual=rest,
            dstatus=tuple(dstatus),
            state=state,
            bounds=(tuple(low), tuple(high)),
            excluded=tuple(excluded),
            certain=tuple(certain),
            open_exclusions=tuple(open_exclusions),
            certain_combines=frozen_combines,
            open_combines=frozenset(open_combines),
        )
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[state] = partial
        return partial

    def _decide(
        self,
        low: list[int],
        high: list[int],
        excluded: list[int],
        certain_combines: set[int],
        open_combines: set[int],
    ) -> Decision | None:
        """The decided outcome (no completion of the open facts can change it), or None."""
        if all(e == TRUE for e in excluded):
            return Decision(None, ())
        # Only the first approach with the highest certain score can be ahead of every other.
        a = -1
        for b, e in enumerate(excluded):
            if e == FALSE and (a < 0 or low[b] > low[a]):
                a = b
        if a < 0:
            return None
        for b, e in enumerate(excluded):
            if b != a and e != TRUE and not (high[b] < low[a] or (high[b] == low[a] and a < b)):
                return None
        partners = set()
        for k in (*certain_combines, *open_combines):
            found = self._combines[k].partner_of(self.order[a])
            if found is None:
                continue
            other = self.position[found]
            if excluded[other] == TRUE:
                continue  # an excluded approach is never a partner
            if k in open_combines or excluded[other] == OPEN:
                return None
            if low[other] >= 0:
                partners.add(other)
            elif high[other] >= 0:
                return None  # whether the partner scores below zero is still open
        return Decision(self.order[a], tuple(self.order[p] for p in sorted(partners)))
