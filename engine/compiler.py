"""Compile a knowledge base into a durable_rules declarative ruleset.

Each input case is one fact `{"t": "case", "f_<name>": value, ...}`; each derived fact is a
fact `{"t": "derived", "name": ..., "value": true|false}`. A rule becomes one durable rule per
alternative of its condition's disjunctive normal form: a pattern on the case plus one joined
pattern per derived-fact test. Two anchor rules match every fact, so that no posted fact is
ever "not handled" (deleting such a session crashes durable_rules 2.0.28).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import DerivedTest, FactTest, KnowledgeBase, Literal_

ANCHOR = "anchor"
FIELD_PREFIX = "f_"


@dataclass(frozen=True)
class Compiled:
    """The ruleset definition and, per durable rule (action) name, its rule and alternative."""

    name: str
    definition: dict[str, Any]
    actions: dict[str, tuple[int, int]]


def field(fact: str) -> str:
    return FIELD_PREFIX + fact


def _expression(lit: FactTest) -> dict[str, Any]:
    name = field(lit.fact)
    if lit.op == "lt":
        return {"$lt": {name: lit.threshold}}
    if lit.op == "ge":
        return {"$gte": {name: lit.threshold}}
    if len(lit.values) == 1:
        return {name: lit.values[0]}
    # durable_rules has no `$in`: one-of is an `$or` of equalities.
    return {"$or": [{name: value} for value in lit.values]}


def _patterns(alternative: tuple[Literal_, ...]) -> list[dict[str, Any]]:
    case_terms: list[dict[str, Any]] = [{"t": "case"}]
    case_terms += [_expression(lit) for lit in alternative if isinstance(lit, FactTest)]
    case = {"m": {"$and": case_terms} if len(case_terms) > 1 else case_terms[0]}
    derived = [
        {f"d{i}": {"$and": [{"t": "derived"}, {"name": lit.name}, {"value": lit.value}]}}
        for i, lit in enumerate(x for x in alternative if isinstance(x, DerivedTest))
    ]
    return [case, *derived]


def compile_ruleset(kb: KnowledgeBase) -> Compiled:
    definition: dict[str, Any] = {
        f"{ANCHOR}_case": {"all": [{"m": {"t": "case"}}], "run": ANCHOR},
        f"{ANCHOR}_derived": {"all": [{"m": {"t": "derived"}}], "run": ANCHOR},
    }
    actions: dict[str, tuple[int, int]] = {}
    for r, rule in enumerate(kb.rules):
        for a, alternative in enumerate(rule.alternatives):
            name = f"r{r}_{a}"
            definition[name] = {"all": _patterns(alternative), "run": name}
            actions[name] = (r, a)
    return Compiled(f"kb_{kb.fingerprint[:16]}", definition, actions)
