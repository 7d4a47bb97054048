"""The audit store: every recommendation as one hash-chained record, on any back end.

Each record holds the case, the firings in order, the ranking and the recommendation, and names
the rule files it was made with; those files are stored once per rule-base fingerprint, keyed by
their SHA-256. `AuditStore` holds this logic; a `Backend` (SQLite file or PostgreSQL server)
only runs its SQL and serialises its writers.
"""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import AbstractContextManager
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_advisor.engine.audit.backend import AuditError, Backend, Transaction, is_url
from llm_advisor.engine.audit.chain import (
    HEAD_DELETED,
    ChainHead,
    StoredRecord,
    Verification,
    canonical,
    chain_hash,
    content_problem,
    verify_chain,
)
from llm_advisor.engine.audit.record import file_digests, tool_version
from llm_advisor.engine.audit.signing import Signer, record_message
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import KnowledgeBase, RuleFile

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result

_ID = re.compile(r"^[0-9a-f]{1,12}$")
_COLUMNS = (
    "seq, id, created, kind, recommendation, fingerprint, body, prev_hash, hash, signer, signature"
)
_SELECT = f"SELECT {_COLUMNS} FROM records"
_INSERT = (
    f"INSERT INTO records ({_COLUMNS.removeprefix('seq, ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def timestamp(moment: datetime) -> str:
    """A UTC time as stored: ISO 8601 with microseconds and `Z`, so that text order is time order."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def _as_bytes(content: object) -> bytes:
    """A stored blob as bytes, whatever type someone may have given it."""
    if isinstance(content, bytes):
        return content
    if isinstance(content, memoryview | bytearray):
        return bytes(content)
    return b"" if content is None else str(content).encode()


def _row(row: tuple[Any, ...]) -> StoredRecord:
    return StoredRecord(*row)


def open_backend(
    location: str | os.PathLike[str], *, create: bool = False, timeout: float | None = None
) -> Backend:
    """The back end for a location: a postgresql:// URL or a SQLite file path."""
    if isinstance(location, str) and is_url(location):
        from llm_advisor.engine.audit.postgres import PostgresBackend

        return PostgresBackend.open(location, create=create, timeout=timeout)
    from llm_advisor.engine.audit.sqlite import SqliteBackend

    return SqliteBackend.open(Path(location), create=create, timeout=timeout)


class AuditStore:
    """An open audit store. Open it with `AuditStore.open`; use it as a context manager."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def open(
        cls,
        location: str | os.PathLike[str],
        *,
        create: bool = False,
        timeout: float | None = None,
    ) -> AuditStore:
        """Open (and with `create`, create or migrate) the store; a missing store reads as empty."""
        return cls(open_backend(location, create=create, timeout=timeout))

    @property
    def location(self) -> str:
        """Where the store is, fit to print."""
        return self.backend.location

    @property
    def exists(self) -> bool:
        return self.backend.exists

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writing --------------------------------------------------------------------------------

    def record(
        self,
        kb: KnowledgeBase,
        result: Result,
        *,
        kind: str = "recommend",
        signer: Signer | None = None,
    ) -> str:
        """Append one record for a result in one transaction, signed by `signer` if given;
        returns its id."""
        from llm_advisor.engine.inference.codec import result_to_json

        produced = result_to_json(kb, result)
        files = file_digests(kb)
        with self.backend.transaction() as tx:
            return self._append(tx, kb.fingerprint, files, produced, kind, signer)

    def _append(
        self,
        tx: Transaction,
        fingerprint: str,
        files: list[tuple[str, str, bytes]],
        produced: dict[str, Any],
        kind: str,
        signer: Signer | None = None,
    ) -> str:
        """Insert the rule files (once per fingerprint), the record, and move the chain head."""
        heads = tx.execute("SELECT count, last_id, hash FROM chain_head")
        if not heads:
            raise AuditError(f"the audit store {self.location} is broken: {HEAD_DELETED}")
        count, last_id, head = heads[0]
        known = tx.execute(
            "SELECT 1 FROM rulebase_files WHERE fingerprint = ? LIMIT 1", (fingerprint,)
        )
        if not known:
            for name, digest, content in files:
                tx.execute(
                    "INSERT INTO blobs VALUES (?, ?) ON CONFLICT DO NOTHING", (digest, content)
                )
                tx.execute(
                    "INSERT INTO rulebase_files VALUES (?, ?, ?)", (fingerprint, name, digest)
                )
        record_id = os.urandom(6).hex()  # what secrets.token_hex does, without its imports
        while tx.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)):
            record_id = os.urandom(6).hex()
        created = timestamp(datetime.now(UTC))
        data = {
            "id": record_id,
            "created": created,
            "kind": kind,
            "tool_version": tool_version(),
            "position": count,
            "prev_id": last_id,
            "rulebase": {
                "fingerprint": fingerprint,
                "files": [{"name": name, "sha256": digest} for name, digest, _ in files],
            },
            **produced,
        }
        if signer is not None:
            data["signer"] = signer.fingerprint  # inside the hash: the signature cannot be dropped
            tx.execute(
                "INSERT INTO signers VALUES (?, ?) ON CONFLICT DO NOTHING",
                (signer.fingerprint, signer.public.hex()),
            )
        body = canonical(data)
        digest = chain_hash(head, body)
        signature = signer.sign(record_message(digest)) if signer is not None else None
        tx.execute(
            _INSERT,
            (
                record_id,
                created,
                kind,
                produced["recommendation"],
                fingerprint,
                body,
                head,
                digest,
                signer.fingerprint if signer is not None else None,
                signature,
            ),
        )
        tx.execute(
            "UPDATE chain_head SET count = ?, last_id = ?, hash = ?", (count + 1, record_id, digest)
        )
        return record_id

    # reading --------------------------------------------------------------------------------

    def records(
        self,
        *,
        since: str | None = None,
        approach: str | None = None,
        fingerprint: str | None = None,
    ) -> list[StoredRecord]:
        """Records in chain order, optionally from a time on, by recommendation, by rule base prefix."""
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("created >= ?")
            params.append(since)
        if approach is not None:
            where.append("recommendation = ?")
            params.append(approach)
        if fingerprint is not None:
            where.append("substr(fingerprint, 1, ?) = ?")
            params += [len(fingerprint), fingerprint.lower()]
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_row(r) for r in self.backend.read(sql + " ORDER BY seq", params)]

    def record_at(self, position: int) -> StoredRecord | None:
        """The record at a position of the chain (0 is the first), or None past its end."""
        rows = self.backend.read(f"{_SELECT} ORDER BY seq LIMIT 1 OFFSET ?", (position,))
        return _row(rows[0]) if rows else None

    def count(self) -> int:
        return int(self.backend.read("SELECT count(*) FROM records")[0][0])

    def head(self) -> ChainHead | None:
        """What the store says its chain ends with; None when that row is gone (only
        tampering removes it, and `verify` reports it)."""
        rows = self.backend.read("SELECT count, last_id, hash FROM chain_head")
        if not rows:
            return None
        count, last_id, digest = rows[0]
        return ChainHead(int(count), last_id, digest)

    def store_id(self) -> str:
        """The store's random id, which its checkpoints name (a copy keeps it); a store whose
        id was deleted → AuditError."""
        rows = self.backend.read("SELECT store_id FROM store_info")
        if not rows:
            raise AuditError(f"the audit store {self.location} is broken: its store id was deleted")
        return str(rows[0][0])

    def signers(self) -> dict[str, bytes]:
        """The public keys the store holds, by fingerprint (its own copy: not a trust root)."""
        keys: dict[str, bytes] = {}
        for key_fingerprint, public in self.backend.read(
            "SELECT fingerprint, public_key FROM signers"
        ):
            try:
                keys[str(key_fingerprint)] = bytes.fromhex(str(public))
            except ValueError:
                continue  # a mangled key verifies nothing
        return keys

    def get(self, ref: str) -> StoredRecord:
        """The record whose id is `ref` or starts with it; unknown or ambiguous → InputError;
        a record that no longer matches its own hash → AuditError (never shown as genuine)."""
        prefix = ref.strip().lower()
        if not _ID.match(prefix):
            raise InputError(f"malformed audit id {ref!r}: expected up to 12 hex digits", item=ref)
        rows = self.backend.read(
            f"{_SELECT} WHERE substr(id, 1, ?) = ? ORDER BY seq LIMIT 2",
            (len(prefix), prefix),
        )
        if not rows:
            raise InputError(f"unknown audit id {ref!r} in {self.location}", item=ref)
        if len(rows) > 1:
            raise InputError(f"audit id prefix {ref!r} is ambiguous: give more digits", item=ref)
        record = _row(rows[0])
        problem = content_problem(record, None, None)
        if problem is not None:
            raise AuditError(f"record {record.id} was altered: {problem}")
        return record

    def rule_files(self, fingerprint: str) -> tuple[RuleFile, ...]:
        """The rule files stored for a fingerprint, by name."""
        rows = self.backend.read(
            "SELECT f.name, b.content FROM rulebase_files f JOIN blobs b ON b.sha256 = f.sha256"
            " WHERE f.fingerprint = ? ORDER BY f.name",
            (fingerprint,),
        )
        return tuple(RuleFile(name, _as_bytes(content)) for name, content in rows)

    def knowledge_base(self, fingerprint: str) -> KnowledgeBase:
        """Load the stored rule files of a fingerprint, in memory, exactly as they were recorded."""
        from llm_advisor.engine.language.loader import MemorySource, load

        files = self.rule_files(fingerprint)
        if not files:
            raise AuditError(
                f"the rule files of rule base {fingerprint[:12]} are missing from the store"
            )
        for rule_file in files:  # a rule base directory can hold nothing else: altered
            name = rule_file.name
            if Path(name).name != name or not name.endswith(".yaml") or set(name) & {"\\", "\0"}:
                raise AuditError(
                    f"the stored rule base {fingerprint[:12]} has a file named "
                    f"{rule_file.name!r}, which is not a plain .yaml file name"
                )
        where = f"audit store (rule base {fingerprint[:12]})"
        try:
            kb = load(MemorySource(files, where))
        except InputError as err:
            raise AuditError(
                f"the stored rule base {fingerprint[:12]} no longer loads: {err}"
            ) from None
        if kb.fingerprint != fingerprint:
            raise AuditError(f"the stored rule files do not match fingerprint {fingerprint[:12]}")
        return kb

    # verifying --------------------------------------------------------------------------------

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside see one state of the store, whatever writers commit meanwhile."""
        return self.backend.snapshot()

    def checked(self) -> tuple[list[StoredRecord], ChainHead | None, Verification]:
        """The records and the chain head, read at one moment, and what recomputing the chain
        finds: the first altered, inserted, moved or deleted record."""
        with self.snapshot():
            rows, head = self.records(), self.head()
            return rows, head, verify_chain(rows, head, self._files_problem)

    def verify(self) -> Verification:
        """Recompute the chain and name the first altered, inserted, moved or deleted record."""
        return self.checked()[2]

    def verified(self) -> tuple[list[StoredRecord], ChainHead]:
        """The records and head of the chain, read at one moment, once they verify; a broken
        chain → AuditError (it gets no checkpoint and no copy)."""
        rows, head, report = self.checked()
        if not report.ok or head is None:
            raise AuditError(f"the audit store {self.location} is broken: {report.problem}")
        return rows, head

    def _files_problem(self, row: StoredRecord) -> str | None:
        """Whether the stored rule files still hash to the record's fingerprint and file digests."""
        from llm_advisor.engine.language.loader import fingerprint

        wanted = {(f["name"], f["sha256"]) for f in row.data["rulebase"]["files"]}
        stored = self.backend.read(
            "SELECT f.name, f.sha256, b.content FROM rulebase_files f LEFT JOIN blobs b"
            " ON b.sha256 = f.sha256 WHERE f.fingerprint = ? ORDER BY f.name",
            (row.fingerprint,),
        )
        if {(name, digest) for name, digest, _ in stored} != wanted:
            return f"the list of rule files of rule base {row.fingerprint[:12]} changed"
        files: list[RuleFile] = []
        for name, digest, content in stored:
            if not isinstance(content, bytes) or hashlib.sha256(content).hexdigest() != digest:
                return f"the stored rule file {name} of rule base {row.fingerprint[:12]} changed"
            files.append(RuleFile(name, content))
        if fingerprint(tuple(files)) != row.fingerprint:
            return f"the stored rule files do not hash to fingerprint {row.fingerprint[:12]}"
        return None

    # copying ----------------------------------------------------------------------------------

    def copy_to(self, target: AuditStore) -> Verification:
        """Copy every record and stored rule file into `target`, an empty store, in one
        transaction; returns the copy's verification. A broken source is not copied."""
        with self.snapshot():
            rows, head = self.verified()
            blobs = self.backend.read("SELECT sha256, content FROM blobs ORDER BY sha256")
            files = self.backend.read(
                "SELECT fingerprint, name, sha256 FROM rulebase_files ORDER BY fingerprint, name"
            )
            signers = self.backend.read("SELECT fingerprint, public_key FROM signers")
            store_id = self.store_id()
        with target.backend.transaction() as tx:
            if tx.execute("SELECT 1 FROM records LIMIT 1"):
                raise InputError(
                    f"the audit store {target.location} already holds records; copy into an empty one",
                    item=target.location,
                )
            for digest, content in blobs:
                tx.execute(
                    "INSERT INTO blobs VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (digest, _as_bytes(content)),
                )
            for fingerprint_, name, digest in files:
                tx.execute(
                    "INSERT INTO rulebase_files VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (fingerprint_, name, digest),
                )
            for row in rows:
                tx.execute(_INSERT, astuple(row)[1:])
            for key_fingerprint, public in signers:
                tx.execute(
                    "INSERT INTO signers VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (key_fingerprint, public),
                )
            # the copy is the same chain: checkpoints of the original hold for it
            tx.execute("UPDATE store_info SET store_id = ?", (store_id,))
            tx.execute(
                "UPDATE chain_head SET count = ?, last_id = ?, hash = ?",
                (head.count, head.last_id, head.hash),
            )
        return target.verify()
