"""The hash chain: canonical record bodies, their hashes, and naming the first broken link.

Each record's hash covers the previous record's hash and its own canonical JSON, so a change to
any record, or a record inserted, moved or deleted, breaks the chain at a place `verify_chain`
can name. The chain proves nothing against someone who re-hashes it (see `signing`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from llm_advisor.engine.audit.backend import AuditError

GENESIS = "0" * 64
"""The previous hash of the first record."""

Kind = Literal["altered", "inserted", "deleted", "moved"]

NOT_AN_OBJECT = "its content is not a JSON object"
HEAD_DELETED = "the chain head was deleted (the store no longer says which record ends its chain)"


def canonical(data: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, body: str) -> str:
    """A record's hash: SHA-256 over the previous record's hash and this record's canonical JSON."""
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """One row of the store; `body` is the canonical JSON the hash covers.

    `signer` and `signature` sit beside the chain: the signature covers the record's hash.
    """

    seq: int
    id: str
    created: str
    kind: str
    recommendation: str | None
    fingerprint: str
    body: str
    prev_hash: str
    hash: str
    signer: str | None = None
    signature: str | None = None

    @cached_property
    def data(self) -> dict[str, Any]:
        """The parsed body, parsed once (a frozen dataclass without slots can cache it);
        callers must not change it. A body that is not a JSON object (only tampering makes
        one) → AuditError naming the record."""
        try:
            parsed = json.loads(self.body)
        except (ValueError, TypeError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            raise AuditError(f"record {self.id} was altered: {NOT_AN_OBJECT}")
        return parsed

    def export(self) -> dict[str, Any]:
        """The record as one self-checking JSON object: content, previous hash and hash."""
        out: dict[str, Any] = {"record": self.data, "prev_hash": self.prev_hash, "hash": self.hash}
        if self.signature is not None:
            out["signer"] = self.signer
            out["signature"] = self.signature
        return out


@dataclass(frozen=True)
class ChainHead:
    """What the store says its chain ends with: the number of records, the last id and hash."""

    count: int
    last_id: str | None
    hash: str


@dataclass(frozen=True)
class Verification:
    """The outcome of recomputing the chain: intact, or the first problem and the record it names."""

    count: int
    head: str
    problem: str | None = None
    record_id: str | None = None
    kind: Kind | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    rows: Sequence[StoredRecord],
    head: ChainHead | None,
    files_problem: Callable[[StoredRecord], str | None],
) -> Verification:
    """Recompute the chain of `rows` (in stored order) against the stored `head` (None when
    the store has none: its row was deleted).

    `files_problem` checks, once per rule base, that the stored rule files still hash to the
    record's fingerprint.
    """
    checked: dict[str, str | None] = {}
    prev_hash, prev_id = GENESIS, None
    for i, row in enumerate(rows):
        if row.prev_hash != prev_hash:
            return _link_problem(rows, i, head.hash if head is not None else None)
        problem = content_problem(row, prev_id, i)
        if problem is None and row.fingerprint not in checked:
            checked[row.fingerprint] = files_problem(row)
            problem = checked[row.fingerprint]
        if problem:
            return _broken(rows, row.id, "altered", f"record {row.id} was altered: {problem}")
        prev_hash, prev_id = row.hash, row.id
    if head is None:
        return _broken(rows, None, "deleted", HEAD_DELETED)
    if head.count == len(rows) and head.hash == prev_hash and head.last_id == prev_id:
        return Verification(len(rows), prev_hash)
    if head.count > len(rows) and head.hash not in {row.hash for row in rows}:
        more = head.count - len(rows) - 1
        extra = f" (and {_records(more)} before it)" if more > 0 else ""
        problem = f"record {head.last_id}{extra} was deleted from the end of the chain"
        return _broken(rows, head.last_id, "deleted", problem)
    if head.count < len(rows) and head.hash == (
        rows[head.count - 1].hash if head.count else GENESIS
    ):
        extra_id = rows[head.count].id
        return _broken(
            rows, extra_id, "inserted", f"record {extra_id} was inserted at the end of the chain"
        )
    return _broken(rows, prev_id, "altered", "the chain head does not match the last record")


def _broken(
    rows: Sequence[StoredRecord], record_id: str | None, kind: Kind, problem: str
) -> Verification:
    return Verification(len(rows), "", problem, record_id, kind)


def _link_problem(rows: Sequence[StoredRecord], i: int, head_hash: str | None) -> Verification:
    """Explain why record `i` does not link to the record before it."""
    row = rows[i]
    prev_hash = rows[i - 1].hash if i else GENESIS
    prev_id = rows[i - 1].id if i else None
    successor = rows[i + 1].prev_hash if i + 1 < len(rows) else head_hash
    if i and row.prev_hash == rows[i - 1].prev_hash:
        # two records claim the same predecessor: the one nothing links to was inserted
        genuine = content_problem(row, None, None) is None and successor == row.hash
        inserted, other = (rows[i - 1], row) if genuine else (row, rows[i - 1])
        return _broken(
            rows, inserted.id, "inserted", f"record {inserted.id} was inserted beside {other.id}"
        )
    if successor == prev_hash:
        where = f"after {prev_id}" if prev_id else "at the start of the chain"
        return _broken(rows, row.id, "inserted", f"record {row.id} was inserted {where}")
    later = [j for j in range(i + 1, len(rows)) if rows[j].hash == row.prev_hash]
    if later:
        moved = rows[later[0]].id
        return _broken(
            rows, moved, "moved", f"record {moved} was moved from its place before {row.id}"
        )
    problem = content_problem(row, None, None)
    if problem:
        return _broken(rows, row.id, "altered", f"record {row.id} was altered: {problem}")
    data = row.data
    if data["position"] > i and data["prev_id"] != prev_id:
        missing = data["prev_id"]
        more = data["position"] - i - 1
        extra = f" (and {_records(more)} before it)" if more > 0 else ""
        return _broken(
            rows,
            missing,
            "deleted",
            f"record {missing}{extra} was deleted; it came before {row.id}",
        )
    culprit = prev_id or row.id
    problem = f"record {culprit} was altered: the next record {row.id} no longer links to it"
    return _broken(rows, culprit, "altered", problem)


def content_problem(row: StoredRecord, prev_id: str | None, position: int | None) -> str | None:
    """Why a row does not match its own hash and content (None when it does)."""
    if chain_hash(row.prev_hash, row.body) != row.hash:
        return "its content does not match its hash"
    try:
        data = row.data
    except AuditError:
        return NOT_AN_OBJECT
    if canonical(data) != row.body:
        return "its content is not canonical JSON"
    shape = _shape_problem(data)
    if shape:
        return shape
    columns = {
        "id": row.id,
        "created": row.created,
        "kind": row.kind,
        "recommendation": row.recommendation,
    }
    for key, value in columns.items():
        if data.get(key) != value:
            return f"its {key} column differs from its content"
    if (data.get("rulebase") or {}).get("fingerprint") != row.fingerprint:
        return "its fingerprint column differs from its content"
    if position is not None and (
        data.get("position") != position or data.get("prev_id") != prev_id
    ):
        return "its position in the chain differs from its content"
    return None


def _shape_problem(data: dict[str, Any]) -> str | None:
    """Whether a record's content has the fields and types every record is written with."""
    expected: dict[str, type | tuple[type, ...]] = {
        "id": str,
        "created": str,
        "kind": str,
        "tool_version": str,
        "position": int,
        "prev_id": (str, type(None)),
        "rulebase": dict,
        "facts": list,
        "fired": list,
        "derived": list,
        "ranking": list,
        "recommendation": (str, type(None)),
        "combine_with": list,
        "advice": list,
    }
    for key, kind in expected.items():
        if key not in data or not isinstance(data[key], kind) or isinstance(data[key], bool):
            return f"its content lacks a valid {key!r}"
    rulebase = data["rulebase"]
    files = rulebase.get("files")
    if not isinstance(rulebase.get("fingerprint"), str) or not isinstance(files, list):
        return "its content lacks a valid 'rulebase'"
    for entry in files:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("name", "sha256")
        ):
            return "its content lacks a valid 'rulebase'"
    return None


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"
