"""Explanations of a result: HOW it was reached, WHY NOT the other outcomes, and what would
change it (found in `what_if`)."""

from __future__ import annotations

from dataclasses import dataclass

from llm_advisor.engine.analysis.what_if import Counterfactual, WhatIf, counterfactuals, what_ifs
from llm_advisor.engine.inference.run import Firing, Result
from llm_advisor.engine.language.effects import Combine, Derive, Exclude, Score
from llm_advisor.engine.language.model import KnowledgeBase


@dataclass(frozen=True)
class Step:
    """One firing behind the outcome and the firings that established the derived facts it used."""

    firing: Firing
    derives: tuple[str, ...]
    supported_by: tuple[str, ...]


@dataclass(frozen=True)
class Contribution:
    """What one firing added to the winner and to another outcome."""

    rule_id: str
    winner_delta: int
    other_delta: int

    @property
    def margin(self) -> int:
        return self.winner_delta - self.other_delta


@dataclass(frozen=True)
class WhyNot:
    """Why an outcome was not chosen: its exclusions, and the firings that put it behind the winner."""

    approach: str
    score: int
    winner_score: int | None
    excluded_by: tuple[tuple[str, str], ...]
    held_back: tuple[Contribution, ...]
    favoured_by: tuple[Contribution, ...]
    """The firings that gave it more than the winner, the most first: the other side of a close
    call, which `held_back` alone would hide."""
    lost_tie: bool
    partner_dropped_by: tuple[str, ...] = ()
    """Rules that suggested it as a partner of the recommendation, which it is not: a partner
    must be neither excluded nor scored below zero."""
    partnered_by: tuple[str, ...] = ()
    """For a partner of the recommendation, the rules that suggested it: a partner stands on
    what calls for it beside the recommendation, not on its rank."""


@dataclass(frozen=True)
class Explanation:
    """HOW, WHY NOT and the smallest changes that would alter the recommendation (those a team
    can make first), also merged into `what_ifs`."""

    result: Result
    how: tuple[Step, ...]
    why_not: tuple[WhyNot, ...]
    counterfactuals: tuple[Counterfactual, ...]
    evaluated: int
    searched: bool
    what_ifs: tuple[WhatIf, ...] = ()


def how(result: Result) -> tuple[Step, ...]:
    """The firings that scored, excluded or combined outcomes, and the derivations they rest on."""
    producer: dict[str, Firing] = {}
    for firing in result.firings:
        for effect in firing.effects:
            if isinstance(effect, Derive):
                producer.setdefault(effect.name, firing)
    wanted = {
        f.rule_id
        for f in result.firings
        if any(isinstance(e, Score | Exclude | Combine) for e in f.effects)
    }
    stack = list(wanted)
    by_id = {f.rule_id: f for f in result.firings}
    while stack:
        firing = by_id[stack.pop()]
        for name, value in firing.matched_derived:
            source = producer.get(name)
            if value and source is not None and source.rule_id not in wanted:
                wanted.add(source.rule_id)
                stack.append(source.rule_id)
    steps = []
    for firing in result.firings:
        if firing.rule_id not in wanted:
            continue
        support = tuple(
            dict.fromkeys(
                producer[name].rule_id
                for name, value in firing.matched_derived
                if value and name in producer
            )
        )
        derives = tuple(e.name for e in firing.effects if isinstance(e, Derive))
        steps.append(Step(firing, derives, support))
    return tuple(steps)


def why_not(kb: KnowledgeBase, result: Result) -> tuple[WhyNot, ...]:
    """For every outcome but the recommended one: exclusions and the firings that held it back."""
    winner = result.recommendation
    scores = {r.approach: r.score for r in result.ranking}
    out = []
    for ranked in result.ranking:
        if ranked.approach == winner:
            continue
        excluded_by = tuple(
            (f.rule_id, e.reason)
            for f in result.firings
            for e in f.effects
            if isinstance(e, Exclude) and e.approach == ranked.approach
        )
        contributions: list[Contribution] = []
        if winner is not None and not ranked.excluded:  # an exclusion says it all
            for firing in result.firings:
                mine = sum(
                    e.delta for e in firing.effects if isinstance(e, Score) and e.approach == winner
                )
                theirs = sum(
                    e.delta
                    for e in firing.effects
                    if isinstance(e, Score) and e.approach == ranked.approach
                )
                if mine != theirs:
                    contributions.append(Contribution(firing.rule_id, mine, theirs))
        suggested = _suggested_with(result, winner, ranked.approach)
        partner = ranked.approach in result.combine_with
        winner_score = scores[winner] if winner is not None else None
        out.append(
            WhyNot(
                approach=ranked.approach,
                score=ranked.score,
                winner_score=winner_score,
                excluded_by=excluded_by,
                held_back=tuple(sorted((c for c in contributions if c.margin > 0), key=_widest)),
                favoured_by=tuple(sorted((c for c in contributions if c.margin < 0), key=_widest)),
                lost_tie=ranked.approach in result.outcome.tied,
                partner_dropped_by=() if partner else suggested,
                partnered_by=suggested if partner else (),
            )
        )
    return tuple(out)


def _widest(contribution: Contribution) -> int:
    """Sort key: the widest margin either way first (a stable sort keeps rule order in ties)."""
    return -abs(contribution.margin)


def _suggested_with(result: Result, winner: str | None, approach: str) -> tuple[str, ...]:
    """The rules that fired suggesting `approach` as a partner of `winner`."""
    return tuple(
        f.rule_id
        for f in result.firings
        if any(isinstance(e, Combine) and e.partner_of(winner) == approach for e in f.effects)
    )


def explain(kb: KnowledgeBase, result: Result, *, what_if: bool = True) -> Explanation:
    """Explain a result; with `what_if`, also search for counterfactuals (runs inference)."""
    found: tuple[Counterfactual, ...] = ()
    evaluated, complete = 0, True
    if what_if:
        found, evaluated, complete = counterfactuals(kb, result)
        found = tuple(sorted(found, key=lambda cf: not cf.actionable))
    return Explanation(
        result,
        how(result),
        why_not(kb, result),
        found,
        evaluated,
        complete,
        what_ifs(kb, found, result.case),
    )
