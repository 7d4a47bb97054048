"""From the effects of the rules that fired to a ranking, a recommendation and a combination.

Inference and analysis both decide outcomes here, so they cannot disagree about scoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llm_advisor.engine.language.effects import Combine, Effect, Exclude, Score
from llm_advisor.engine.language.model import KnowledgeBase


@dataclass(frozen=True)
class Ranked:
    """One approach's standing: total score, and why it was excluded (if it was)."""

    approach: str
    score: int
    excluded: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """The decision: the recommended approach (None when all are excluded) and its partners."""

    recommendation: str | None
    combine_with: tuple[str, ...]
    ranking: tuple[Ranked, ...]

    @property
    def plan(self) -> tuple[str, ...]:
        """The recommendation and its partners (empty when every approach is excluded)."""
        return (self.recommendation, *self.combine_with) if self.recommendation else ()

    @property
    def tied(self) -> tuple[str, ...]:
        """The approaches that scored as much as the recommendation and rank behind it only by
        the tie-break (partners included; none when every approach is excluded)."""
        if self.recommendation is None:
            return ()
        top = self.ranking[0].score
        return tuple(r.approach for r in self.ranking[1:] if not r.excluded and r.score == top)


def decide(kb: KnowledgeBase, effects: Iterable[Effect]) -> Outcome:
    """Sum scores, apply exclusions, rank (ties toward lower complexity) and pick partners."""
    order = kb.tie_order
    scores = dict.fromkeys(order, 0)
    reasons: dict[str, list[str]] = {a: [] for a in order}
    pairs: list[Combine] = []
    for effect in effects:
        if isinstance(effect, Score):
            scores[effect.approach] += effect.delta
        elif isinstance(effect, Exclude):
            reasons[effect.approach].append(effect.reason)
        elif isinstance(effect, Combine):
            pairs.append(effect)
    position = {a: i for i, a in enumerate(order)}
    ranked = sorted(order, key=lambda a: (bool(reasons[a]), -scores[a], position[a]))
    ranking = tuple(Ranked(a, scores[a], bool(reasons[a]), tuple(reasons[a])) for a in ranked)
    best = ranking[0].approach if not ranking[0].excluded else None
    # A partner must stand on its own: not excluded, and not scored below zero.
    partners = {
        other
        for pair in pairs
        if (other := pair.partner_of(best)) is not None
        and not reasons[other]
        and scores[other] >= 0
    }
    return Outcome(best, tuple(sorted(partners, key=position.__getitem__)), ranking)
