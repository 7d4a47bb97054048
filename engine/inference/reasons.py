"""Which firings mattered for an outcome: the reasons a report shows first."""

from __future__ import annotations

from llm_advisor.engine.inference.run import Firing, Result
from llm_advisor.engine.language.effects import Combine, Exclude, Score
from llm_advisor.engine.language.model import KnowledgeBase


def key_firings(kb: KnowledgeBase, result: Result, limit: int) -> tuple[Firing, ...]:
    """The firings that mattered most for this outcome, the weightiest first: those that raised
    the recommendation (counted double) more than the runner-up, or raised a partner, and those
    that excluded or lowered an approach that would otherwise rank above the recommendation.
    Reasons for or against an approach that could not have won anyway, and reasons that raise
    the recommendation and its runner-up alike, are left out. With every approach excluded, the
    exclusions are what mattered. At most `limit` firings, among them the first that suggested
    each partner (without it a partner would have no reason shown)."""
    best = result.recommendation
    score = {r.approach: r.score for r in result.ranking}
    excluded = {r.approach for r in result.ranking if r.excluded}
    partners = set(result.combine_with)
    # The closest live rival: a firing that raises it as much as the recommendation decides nothing.
    runner_up = next(
        (
            r.approach
            for r in result.ranking
            if r.approach != best and r.approach not in partners and not r.excluded
        ),
        None,
    )
    if best is None:
        kept_out, held_down = excluded, set()
    else:
        position = {a: i for i, a in enumerate(kb.tie_order)}

        def outranks(approach: str, points: int) -> bool:
            """Whether an approach with these points would rank above the recommendation."""
            return (points, -position[approach]) > (score[best], -position[best])

        penalties = dict.fromkeys(score, 0)
        for firing in result.firings:
            for e in firing.effects:
                if isinstance(e, Score) and e.delta < 0:
                    penalties[e.approach] += e.delta
        # Rivals that would rank first without their exclusions, or without their penalties.
        kept_out = {a for a in excluded if outranks(a, score[a])}
        held_down = {
            a
            for a in score
            if a != best and a not in excluded and outranks(a, score[a] - penalties[a])
        }

    def weight(firing: Firing) -> int:
        total = lead = 0  # lead: what it raised the recommendation by, beyond the runner-up
        for e in firing.effects:
            if isinstance(e, Score) and e.delta > 0 and e.approach == best:
                lead += e.delta
            elif isinstance(e, Score) and e.delta > 0 and e.approach == runner_up:
                lead -= e.delta
            elif isinstance(e, Score) and e.delta > 0 and e.approach in partners:
                total += e.delta
            elif isinstance(e, Score) and e.delta < 0 and e.approach in held_down:
                total -= e.delta
            elif isinstance(e, Exclude) and e.approach in kept_out:
                total += 3
        return total + 2 * max(lead, 0)

    suggested: dict[str, Firing] = {}  # partner -> the first firing that suggested it
    for firing in result.firings:
        for e in firing.effects:
            if isinstance(e, Combine) and (partner := e.partner_of(best)) in partners:
                suggested.setdefault(partner, firing)
    kept = {f.order: f for f in suggested.values()}

    def key(firing: Firing) -> tuple[int, int]:
        return -weight(firing), firing.order

    others = [f for f in result.firings if f.order not in kept and weight(f) > 0]
    chosen = [*kept.values(), *sorted(others, key=key)[: max(limit - len(kept), 0)]]
    return tuple(sorted(chosen, key=key)[:limit])
