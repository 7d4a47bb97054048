"""Inference results as JSON and back: the one encoding of a case, a firing and a result.

Values stay as inference saw them (a quantity is its number), so decoding gives back an equal
result. Audit records store this encoding and hash it into their chain; the command line's JSON
output is a view on it that shows values as people type them.
"""

from __future__ import annotations

from typing import Any

from llm_advisor.engine.inference.outcome import Outcome, Ranked
from llm_advisor.engine.inference.run import Firing, Result
from llm_advisor.engine.language.effects import effect_from_json, effect_json
from llm_advisor.engine.language.facts import Case, Status
from llm_advisor.engine.language.model import KnowledgeBase, Value

RESULT_KEYS = ("facts", "fired", "derived", "ranking", "recommendation", "combine_with", "advice")
"""The keys of an encoded result."""


def case_to_json(case: Case) -> list[dict[str, Any]]:
    """Every fact of the case in order: name, value (None when unknown) and status."""
    return [
        {"name": name, "value": value, "status": case.status_of(name)}
        for name, value in case.values
    ]


def case_from_json(items: list[dict[str, Any]]) -> Case:
    """The case `case_to_json` encoded."""
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for item in items:
        values.append((item["name"], item["value"]))
        status.append((item["name"], item["status"]))
    return Case(tuple(values), tuple(status))


def firing_to_json(kb: KnowledgeBase, firing: Firing) -> dict[str, Any]:
    """A firing with what a reader needs of its rule (title, reason, source, location)."""
    rule = kb.rule(firing.rule_id)
    return {
        "order": firing.order,
        "rule": rule.id,
        "title": rule.title,
        "because": rule.because,
        "source": rule.source,
        "location": rule.location,
        "matched": [[name, value] for name, value in firing.matched],
        "matched_derived": [[name, value] for name, value in firing.matched_derived],
        "effects": [effect_json(e) for e in firing.effects],
    }


def firing_from_json(data: dict[str, Any]) -> Firing:
    """The firing `firing_to_json` encoded (what it says of the rule is read from the rule base)."""
    return Firing(
        order=data["order"],
        rule_id=data["rule"],
        matched=tuple((name, value) for name, value in data["matched"]),
        matched_derived=tuple((name, bool(value)) for name, value in data["matched_derived"]),
        effects=tuple(effect_from_json(e) for e in data["effects"]),
    )


def result_to_json(kb: KnowledgeBase, result: Result) -> dict[str, Any]:
    """Everything inference produced for a case (the keys `RESULT_KEYS`)."""
    return {
        "facts": case_to_json(result.case),
        "fired": [firing_to_json(kb, f) for f in result.firings],
        "derived": list(result.derived),
        "ranking": [
            {
                "approach": r.approach,
                "score": r.score,
                "excluded": r.excluded,
                "reasons": list(r.reasons),
            }
            for r in result.ranking
        ],
        "recommendation": result.recommendation,
        "combine_with": list(result.combine_with),
        "advice": list(result.advice),
    }


def result_from_json(data: dict[str, Any], fingerprint: str) -> Result:
    """The result an encoding holds, made with the rule base of `fingerprint` (no inference)."""
    ranking = tuple(
        Ranked(r["approach"], r["score"], r["excluded"], tuple(r["reasons"]))
        for r in data["ranking"]
    )
    outcome = Outcome(data["recommendation"], tuple(data["combine_with"]), ranking)
    firings = tuple(firing_from_json(entry) for entry in data["fired"])
    return Result(
        case_from_json(data["facts"]), outcome, firings, tuple(data["derived"]), fingerprint
    )
