"""Conditions in disjunctive normal form: the alternatives inference and analysis both run on."""

from __future__ import annotations

from itertools import product

from llm_advisor.engine.language.model import (
    All,
    Condition,
    DerivedTest,
    Fact,
    FactTest,
    Literal_,
    Not,
)

MAX_ALTERNATIVES = 256


# --- disjunctive normal form ------------------------------------------------------------------


def _negate(lit: Literal_, facts: dict[str, Fact]) -> Literal_ | None:
    """The complementary literal (None when it can never hold)."""
    if isinstance(lit, DerivedTest):
        return DerivedTest(lit.name, not lit.value, lit.line)
    if lit.op == "lt":
        return FactTest(lit.fact, "ge", threshold=lit.threshold, line=lit.line)
    if lit.op == "ge":
        return FactTest(lit.fact, "lt", threshold=lit.threshold, line=lit.line)
    rest = tuple(v for v in facts[lit.fact].domain if v not in lit.values)
    return FactTest(lit.fact, "in", values=rest, line=lit.line) if rest else None


def _conj(alt: tuple[Literal_, ...]) -> tuple[Literal_, ...] | None:
    """Simplify a conjunction: merge tests on one fact; None when it is contradictory."""
    derived: dict[str, DerivedTest] = {}
    sets: dict[str, FactTest] = {}
    low: dict[str, FactTest] = {}
    high: dict[str, FactTest] = {}
    for lit in alt:
        if isinstance(lit, DerivedTest):
            if lit.name in derived and derived[lit.name].value != lit.value:
                return None
            derived[lit.name] = lit
        elif lit.op == "in":
            prev = sets.get(lit.fact)
            values = (
                lit.values if prev is None else tuple(v for v in prev.values if v in lit.values)
            )
            if not values:
                return None
            sets[lit.fact] = FactTest(lit.fact, "in", values=values, line=lit.line)
        elif lit.op == "ge":
            if lit.fact not in low or lit.threshold > low[lit.fact].threshold:
                low[lit.fact] = lit
        elif lit.fact not in high or lit.threshold < high[lit.fact].threshold:
            high[lit.fact] = lit
    for name, lo in low.items():
        if name in high and lo.threshold >= high[name].threshold:
            return None
    out: list[Literal_] = [*sets.values(), *low.values(), *high.values(), *derived.values()]
    return tuple(out)


class TooComplex(Exception):
    """A condition whose disjunctive normal form grows beyond what the loader accepts."""


def bounded_dnf(cond: Condition, facts: dict[str, Fact]) -> tuple[tuple[Literal_, ...], ...]:
    """`dnf(cond)`, or TooComplex when it has more than `MAX_ALTERNATIVES` alternatives."""
    alternatives = dnf(cond, facts)
    if len(alternatives) > MAX_ALTERNATIVES:
        raise TooComplex
    return alternatives


def dnf(
    cond: Condition, facts: dict[str, Fact], negated: bool = False
) -> tuple[tuple[Literal_, ...], ...]:
    """`cond` (or its negation) as a disjunction of simplified conjunctions of literals."""
    if isinstance(cond, Not):
        return dnf(cond.item, facts, not negated)
    if isinstance(cond, FactTest | DerivedTest):
        lit = _negate(cond, facts) if negated else cond
        return ((lit,),) if lit is not None else ()
    conjunctive = isinstance(cond, All) != negated
    parts = [dnf(item, facts, negated) for item in cond.items]
    if not conjunctive:
        alts = [alt for part in parts for alt in part]
    else:
        alts = [()]
        for part in parts:
            # Simplify as we go, and never drop a conjunct: a truncated product is wrong.
            step = (_conj(a + b) for a, b in product(alts, part))
            alts = list(dict.fromkeys(alt for alt in step if alt is not None))
            if len(alts) > MAX_ALTERNATIVES * 4:
                raise TooComplex
    out: dict[tuple[Literal_, ...], None] = {}
    for alt in alts:
        simple = _conj(alt)
        if simple is not None:
            out[simple] = None
    return tuple(out)
