"""Results to record bodies and back: the JSON parts of a record that inference produced."""

from __future__ import annotations

import hashlib
from typing import Any

from llm_advisor.engine.audit.chain import StoredRecord
from llm_advisor.engine.inference.outcome import Outcome, Ranked
from llm_advisor.engine.inference.run import Firing, Result
from llm_advisor.engine.language.facts import Case, Status
from llm_advisor.engine.language.model import (
    KnowledgeBase,
    Value,
    effect_from_json,
    effect_json,
)

RESULT_KEYS = ("facts", "fired", "derived", "ranking", "recommendation", "combine_with", "advice")
"""The parts of a record that inference produces; a replay must reproduce them exactly."""


def tool_version() -> str:
    from llm_advisor import __version__

    return __version__


def result_body(kb: KnowledgeBase, result: Result) -> dict[str, Any]:
    """What inference produced for a case, as the JSON parts of a record (`RESULT_KEYS`)."""
    fired = []
    for firing in result.firings:
        rule = kb.rule(firing.rule_id)
        fired.append(
            {
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
        )
    return {
        "facts": [
            {"name": name, "value": value, "status": result.case.status_of(name)}
            for name, value in result.case.values
        ],
        "fired": fired,
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


def result_part(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data.get(key) for key in RESULT_KEYS}


def file_digests(kb: KnowledgeBase) -> list[tuple[str, str, bytes]]:
    """The rule files of a knowledge base by name: name, SHA-256 and content."""
    files = ((f.name, hashlib.sha256(f.content).hexdigest(), f.content) for f in kb.files)
    return sorted(files, key=lambda item: item[0])


def stored_case(data: dict[str, Any]) -> Case:
    """The case of a record exactly as it was evaluated."""
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for item in data["facts"]:
        values.append((item["name"], item["value"]))
        status.append((item["name"], item["status"]))
    return Case(tuple(values), tuple(status))


def stored_result(record: StoredRecord) -> Result:
    """The result exactly as the record holds it (no inference is run)."""
    data = record.data
    firings = tuple(
        Firing(
            order=entry["order"],
            rule_id=entry["rule"],
            matched=tuple((name, value) for name, value in entry["matched"]),
            matched_derived=tuple((name, bool(value)) for name, value in entry["matched_derived"]),
            effects=tuple(effect_from_json(e) for e in entry["effects"]),
        )
        for entry in data["fired"]
    )
    ranking = tuple(
        Ranked(r["approach"], r["score"], r["excluded"], tuple(r["reasons"]))
        for r in data["ranking"]
    )
    outcome = Outcome(data["recommendation"], tuple(data["combine_with"]), ranking)
    return Result(stored_case(data), outcome, firings, tuple(data["derived"]), record.fingerprint)


def case_for(kb: KnowledgeBase, data: dict[str, Any]) -> tuple[Case, tuple[str, ...]]:
    """A record's given facts as a case of another rule base, and the given facts it cannot take."""
    given = {item["name"]: item["value"] for item in data["facts"] if item["status"] == "given"}
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for fact in kb.facts:
        value = given.get(fact.name)
        if value is not None and fact.kind.holds(fact, value):
            values.append((fact.name, float(value) if fact.kind.continuous else value))
            status.append((fact.name, "given"))
        elif fact.default is not None:
            values.append((fact.name, fact.default))
            status.append((fact.name, "defaulted"))
        else:
            values.append((fact.name, None))
            status.append((fact.name, "unknown"))
    names = set(kb.fact_names)
    dropped = tuple(
        name
        for name, value in given.items()
        if name not in names or not kb.fact(name).kind.holds(kb.fact(name), value)
    )
    return Case(tuple(values), tuple(status)), dropped
