"""The audit store: hash-chained records of recommendations, on SQLite or PostgreSQL.

Rooms: `chain` (hashing and verification), `codec` (results to record bodies and back),
`backend` (the store interface) with `sqlite` and `postgres`, `migrations`, `store` (the
logic on top of a back end) and `replay`.
"""

from __future__ import annotations

from llm_advisor.engine.audit.backend import AuditError, Backend
from llm_advisor.engine.audit.chain import (
    GENESIS,
    ChainHead,
    StoredRecord,
    Verification,
    canonical,
    chain_hash,
)
from llm_advisor.engine.audit.codec import (
    RESULT_KEYS,
    case_for,
    result_body,
    stored_case,
    stored_result,
    tool_version,
)
from llm_advisor.engine.audit.migrations import SCHEMA_VERSION
from llm_advisor.engine.audit.replay import Replay, RuleChange, replay
from llm_advisor.engine.audit.store import AuditStore, record_result, timestamp

__all__ = [
    "GENESIS",
    "RESULT_KEYS",
    "SCHEMA_VERSION",
    "AuditError",
    "AuditStore",
    "Backend",
    "ChainHead",
    "Replay",
    "RuleChange",
    "StoredRecord",
    "Verification",
    "canonical",
    "case_for",
    "chain_hash",
    "record_result",
    "replay",
    "result_body",
    "stored_case",
    "stored_result",
    "timestamp",
    "tool_version",
]
