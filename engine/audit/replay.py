"""Replay: re-run a record's facts against its stored rule base, or another, and compare."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from llm_advisor.engine.audit.chain import StoredRecord, canonical
from llm_advisor.engine.audit.record import case_for, result_part
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.inference.codec import RESULT_KEYS, case_from_json, result_to_json
from llm_advisor.engine.inference.run import Result, evaluate
from llm_advisor.engine.language.model import KnowledgeBase


@dataclass(frozen=True)
class RuleChange:
    """A rule whose firing differs: it fires now only, fired then only, or fires differently."""

    rule_id: str
    change: Literal["now", "then", "differently"]
    title: str


@dataclass(frozen=True)
class Replay:
    """A record re-run against its stored rules or another rule base."""

    record_id: str
    stored_rules: bool
    fingerprint: str
    recorded_fingerprint: str
    identical: bool
    recorded_recommendation: str | None
    recommendation: str | None
    recorded_combine_with: tuple[str, ...]
    combine_with: tuple[str, ...]
    differences: tuple[str, ...]
    rule_changes: tuple[RuleChange, ...]
    dropped_facts: tuple[str, ...]
    result: Result
    kb: KnowledgeBase

    @property
    def same_recommendation(self) -> bool:
        return (self.recommendation, self.combine_with) == (
            self.recorded_recommendation,
            self.recorded_combine_with,
        )


def _firing_key(entry: dict[str, Any]) -> str:
    return canonical({k: entry[k] for k in ("matched", "matched_derived", "effects")})


def replay(store: AuditStore, record: StoredRecord, kb: KnowledgeBase | None = None) -> Replay:
    """Re-run a record's facts against its stored rules (kb None) or against `kb`, and compare."""
    data = record.data
    dropped: tuple[str, ...] = ()
    if kb is None:
        kb = store.knowledge_base(record.fingerprint)
        case = case_from_json(data["facts"])
    else:
        case, dropped = case_for(kb, data)
    result = evaluate(kb, case)
    then, now = result_part(data), result_part(json.loads(canonical(result_to_json(kb, result))))
    old_fired = {e["rule"]: e for e in then["fired"]}
    new_fired = {e["rule"]: e for e in now["fired"]}
    changes: list[RuleChange] = []
    for rule_id, entry in new_fired.items():
        if rule_id not in old_fired:
            changes.append(RuleChange(rule_id, "now", entry["title"]))
        elif _firing_key(entry) != _firing_key(old_fired[rule_id]):
            changes.append(RuleChange(rule_id, "differently", entry["title"]))
    changes += [
        RuleChange(r, "then", e["title"]) for r, e in old_fired.items() if r not in new_fired
    ]
    return Replay(
        record_id=record.id,
        stored_rules=kb.fingerprint == record.fingerprint,
        fingerprint=kb.fingerprint,
        recorded_fingerprint=record.fingerprint,
        identical=canonical(then) == canonical(now),
        recorded_recommendation=then["recommendation"],
        recommendation=result.recommendation,
        recorded_combine_with=tuple(then["combine_with"]),
        combine_with=result.combine_with,
        differences=tuple(k for k in RESULT_KEYS if canonical(then[k]) != canonical(now[k])),
        rule_changes=tuple(changes),
        dropped_facts=dropped,
        result=result,
        kb=kb,
    )
