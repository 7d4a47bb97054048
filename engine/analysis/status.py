"""What partial evaluation finds in one partial state: each rule's three-valued status (true,
false or still open), the bounds of the scores, and the outcome once no answer can change it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FALSE, TRUE, OPEN = 0, 1, 2
Masks = tuple[int, ...]
"""One bit mask per fact (in schema order): the cells the fact may still be in."""
Entry = tuple[int, tuple[tuple[tuple[int, ...], ...], ...], int, int]
"""An open rule: its index, its open alternatives' literals, and bit masks of the facts and
derived facts they test."""


class AnalysisError(Exception):
    """The analysis could not reach a decision (a bug or an inconsistent rule base)."""


@dataclass(frozen=True)
class Decision:
    """A decided outcome: the recommendation (None when all are excluded) and its partners."""

    recommendation: str | None
    combine_with: tuple[str, ...]

    @property
    def plan(self) -> tuple[str, ...]:
        """The recommendation and its partners (empty when every approach is excluded)."""
        return (self.recommendation, *self.combine_with) if self.recommendation else ()


def in_approach_order(order: Sequence[str], outcomes: Iterable[Decision]) -> list[Decision]:
    """Outcomes sorted by their approaches' order (`order`, the rule base's): by the
    recommendation, then its partners; "no approach fits" last."""
    rank = {a: i for i, a in enumerate(order)}
    return sorted(
        outcomes,
        key=lambda d: (
            rank.get(d.recommendation or "", len(rank)),
            [rank.get(a, len(rank)) for a in d.combine_with],
        ),
    )


@dataclass(frozen=True)
class Partial:
    """The analysis of one partial state; per-approach data is by position in the tie order."""

    rules: tuple[int, ...]
    decision: Decision | None
    key: tuple[object, ...]
    residual: tuple[Entry, ...] = ()
    dstatus: tuple[int, ...] = ()
    state: Masks = ()
    bounds: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    """The lowest and highest score each approach can still reach."""
    excluded: tuple[int, ...] = ()
    """Whether each approach is excluded: TRUE, FALSE or OPEN."""
    certain: tuple[int, ...] = ()
    """The score each approach has from rules that certainly fire."""
    open_exclusions: tuple[int, ...] = ()
    certain_combines: frozenset[int] = frozenset()
    open_combines: frozenset[int] = frozenset()

    def contenders(self, order: tuple[str, ...]) -> tuple[str, ...]:
        """Approaches that can still end up recommended."""
        low, high = self.bounds
        excluded = self.excluded
        floor = max((low[a] for a, e in enumerate(excluded) if e == FALSE), default=None)
        return tuple(
            order[a]
            for a, e in enumerate(excluded)
            if e != TRUE and (floor is None or high[a] >= floor)
        )
