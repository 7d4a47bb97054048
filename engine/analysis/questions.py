"""Which open fact to ask about next: the facts an undecided rule still tests, and among them
the one whose answers best separate the outcomes that remain."""

from __future__ import annotations

from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import AnalysisError, Masks, Partial


def relevant(an: Analyzer, state: Masks, partial: Partial | None = None) -> list[int]:
    """Open facts that an undecided rule still tests, in schema order."""
    partial = partial or an.evaluate(state)
    used: set[int] = set()
    for _, alts, _, _ in partial.residual:
        for lits in alts:
            used.update(lit[0] for lit in lits if lit[0] >= 0)
    return [i for i in sorted(used) if state[i] & (state[i] - 1)]


def open_rules(partial: Partial, fact: int) -> list[int]:
    """Undecided rules whose remaining condition still tests `fact`."""
    return [
        r
        for r, alts, _, _ in partial.residual
        if any(lit[0] == fact for lits in alts for lit in lits)
    ]


def split(an: Analyzer, state: Masks, fact: int) -> list[tuple[int, Partial]]:
    """The analysis of each answer to `fact`."""
    base = an.evaluate(state)
    return [(c, an.evaluate(an.fix(state, fact, c), base)) for c in an.open_cells(state, fact)]


def next_question(
    an: Analyzer, state: Masks, partial: Partial | None = None, skip: frozenset[int] = frozenset()
) -> int | None:
    """The open fact that best separates the remaining outcomes (None when decided).

    Preference: most answers that decide the outcome, then fewest contenders left on
    average, then the order of the fact schema. Facts in `skip` (answered "don't know")
    are never chosen; None is also returned when no answer to the other open facts can change
    the outcome, whatever values the facts in `skip` take (`can_change`).
    """
    partial = partial or an.evaluate(state)
    if partial.decision is not None:
        return None
    best: tuple[float, float, int] | None = None
    choice = None
    facts = relevant(an, state, partial)
    for i in facts:
        if i in skip:
            continue
        cells = an.open_cells(state, i)
        n = len(cells)
        decided = contenders = 0
        for done, cell in enumerate(cells):
            # Stop once even the best answers left (each deciding, with no contender)
            # cannot make this fact better than the best so far: the choice is the same.
            if best is not None and (-(decided + n - done) / n, contenders / n, i) >= best:
                break
            child = an.evaluate(an.fix(state, i, cell), partial)
            decided += child.decision is not None
            contenders += len(child.contenders(an.order))
        else:
            score = (-decided / n, contenders / n, i)
            if best is None or score < best:
                best, choice = score, i
            if decided == contenders == n:
                break  # every answer decides, with one contender each: nothing can do better
    if choice is None and not facts:
        raise AnalysisError("undecided, but no open fact is relevant")
    if choice is not None and skip and not can_change(an, state, partial, skip):
        return None  # no answer to the facts still askable changes the outcome: stop asking
    return choice


def can_change(an: Analyzer, state: Masks, partial: Partial, skip: frozenset[int]) -> bool:
    """Whether an answer to the open facts outside `skip` can still change the outcome: for
    some values of the facts in `skip` (left open for good), two answers to the others give
    different outcomes. Where none can, asking them only costs the user time; where one can,
    leaving it unasked would present its default as an answer."""
    seen: set[object] = set()
    stack = [(state, partial)]
    while stack:
        state, partial = stack.pop()
        if partial.decision is not None or partial.key in seen:
            continue
        seen.add(partial.key)
        facts = relevant(an, state, partial)
        held = [i for i in facts if i in skip]
        if not held:  # the facts left open no longer matter here
            if _varies(an, state, partial):
                return True
            continue
        stack.extend(_children(an, state, partial, held[0]))
    return False


def _varies(an: Analyzer, state: Masks, partial: Partial) -> bool:
    """Whether the answers to the open facts give more than one outcome below `state`."""
    first = None
    seen: set[object] = set()
    stack = [(state, partial)]
    while stack:
        state, partial = stack.pop()
        if partial.decision is not None:
            if first is None:
                first = partial.decision
            elif partial.decision != first:
                return True
            continue
        if partial.key in seen:
            continue
        seen.add(partial.key)
        facts = relevant(an, state, partial)
        if not facts:
            raise AnalysisError("undecided, but no open fact is relevant")
        stack.extend(_children(an, state, partial, facts[0]))
    return False


def _children(
    an: Analyzer, state: Masks, partial: Partial, fact: int
) -> list[tuple[Masks, Partial]]:
    """The states (and their analysis) below `state` for each answer to `fact`."""
    fixed = [an.fix(state, fact, c) for c in an.open_cells(state, fact)]
    return [(child, an.evaluate(child, partial)) for child in fixed]
