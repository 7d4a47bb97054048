"""The audit store: every recommendation as one hash-chained record in SQLite.

Each record holds the case, the firings in order, the ranking and the recommendation, and names
the rule files it was made with; those files are stored once per rule-base fingerprint, keyed by
their SHA-256. Each record's hash covers its canonical JSON and the previous record's hash, so
`verify` can name the first altered, inserted, moved or deleted record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from . import quantity
from .errors import AdvisorError, InputError
from .facts import Case, Status
from .inference import Firing, Result, evaluate
from .model import (
    Advise,
    Combine,
    Derive,
    Effect,
    Exclude,
    Fact,
    KnowledgeBase,
    RuleFile,
    Score,
    Value,
    effect_json,
    technique_from_json,
)
from .outcome import Outcome, Ranked

ENV_VAR = "LLM_ADVISOR_AUDIT_DB"
APP_NAME = "llm-advisor"
DB_NAME = "audit.sqlite3"
APPLICATION_ID = 0x4C4C4D41  # "LLMA": marks the SQLite file as an llm-advisor audit store
BUSY_TIMEOUT = 10.0
"""Seconds a writer waits for another writer's lock before giving up."""
SYNCHRONOUS = "NORMAL"
"""WAL with NORMAL sync: commits survive a killed process and the file never corrupts; a power
cut may lose the last commits (never part of one). FULL makes each commit durable at ~4 ms."""
GENESIS = "0" * 64
RESULT_KEYS = ("facts", "fired", "derived", "ranking", "recommendation", "combine_with", "advice")
"""The parts of a record that inference produces; a replay must reproduce them exactly."""
_ID = re.compile(r"^[0-9a-f]{1,12}$")

# Each migration moves the schema up by one version (PRAGMA user_version); never edit one that
# has shipped, append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, content BLOB NOT NULL)",
        "CREATE TABLE rulebase_files (fingerprint TEXT NOT NULL, name TEXT NOT NULL,"
        " sha256 TEXT NOT NULL REFERENCES blobs (sha256), PRIMARY KEY (fingerprint, name))",
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " created TEXT NOT NULL, kind TEXT NOT NULL, recommendation TEXT,"
        " fingerprint TEXT NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL)",
        "CREATE INDEX records_created ON records (created)",
        "CREATE TABLE chain_head (one INTEGER PRIMARY KEY CHECK (one = 1),"
        " count INTEGER NOT NULL, last_id TEXT, hash TEXT NOT NULL)",
        f"INSERT INTO chain_head VALUES (1, 0, NULL, '{GENESIS}')",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class AuditError(AdvisorError):
    """The audit store could not be read or written (exit code 1); nothing stored is damaged."""


# --- where the store lives ----------------------------------------------------------------------


def default_path() -> Path:
    """The store in the user's data directory."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / DB_NAME


def resolve_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store's path: `explicit`, else $LLM_ADVISOR_AUDIT_DB, else the default; bad → InputError."""
    raw = os.fspath(explicit) if explicit is not None else os.environ.get(ENV_VAR) or None
    if raw is None:
        return default_path()
    if not raw.strip() or "\0" in raw:
        raise InputError(f"malformed audit store path {raw!r}", item=raw)
    path = Path(raw).expanduser()
    if path.is_dir():
        raise InputError(f"audit store path {raw} is a directory; give a file name", item=raw)
    return path


# --- canonical records ------------------------------------------------------------------------


def canonical(data: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, body: str) -> str:
    """A record's hash: SHA-256 over the previous record's hash and this record's canonical JSON."""
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


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


def file_digests(kb: KnowledgeBase) -> list[tuple[str, str, bytes]]:
    """The rule files of a knowledge base by name: name, SHA-256 and content."""
    files = ((f.name, hashlib.sha256(f.content).hexdigest(), f.content) for f in kb.files)
    return sorted(files, key=lambda item: item[0])


def result_part(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data.get(key) for key in RESULT_KEYS}


@dataclass(frozen=True)
class StoredRecord:
    """One row of the store; `body` is the canonical JSON the hash covers."""

    seq: int
    id: str
    created: str
    kind: str
    recommendation: str | None
    fingerprint: str
    body: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed

    def export(self) -> dict[str, Any]:
        """The record as one self-checking JSON object: content, previous hash and hash."""
        return {"record": self.data, "prev_hash": self.prev_hash, "hash": self.hash}


_COLUMNS = "seq, id, created, kind, recommendation, fingerprint, body, prev_hash, hash"


def _as_bytes(content: object) -> bytes:
    """A stored blob as bytes, whatever SQLite type someone may have given it."""
    if isinstance(content, bytes):
        return content
    return b"" if content is None else str(content).encode()


def _row(row: tuple[Any, ...]) -> StoredRecord:
    return StoredRecord(*row)


# --- verification ---------------------------------------------------------------------------


Kind = Literal["altered", "inserted", "deleted", "moved"]


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


# --- the store ----------------------------------------------------------------------------------


def _busy(err: sqlite3.Error) -> bool:
    """Whether SQLite failed because another connection holds a lock (worth retrying)."""
    return "locked" in str(err) or "busy" in str(err)


def _timestamp(moment: datetime) -> str:
    """A UTC time as stored: ISO 8601 with microseconds and `Z`, so that text order is time order."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def _now() -> str:
    return _timestamp(datetime.now(UTC))


def parse_since(text: str, now: datetime | None = None) -> str:
    """A --since value (a date, an ISO time, or a duration back from now such as 7d) as a timestamp."""
    now = now or datetime.now(UTC)
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw.removesuffix("Z").removesuffix("z"))
    except ValueError:
        try:
            days = quantity.parse(raw, "duration")
        except quantity.QuantityError:
            raise InputError(
                f"bad --since {text!r}: expected a date (2024-05-01), a time (2024-05-01T12:00) or a duration (7d, 2w)",
                item=text,
            ) from None
        try:
            moment = now - timedelta(days=days)
        except OverflowError:
            moment = datetime.min.replace(tzinfo=UTC)
    return _timestamp(moment)


class AuditStore:
    """An open audit store. Open it with `AuditStore.open`; use it as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._conn = conn

    # opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = False, timeout: float | None = None) -> AuditStore:
        """Open (and with `create`, create or migrate) the store; a missing store reads as empty."""
        wait = BUSY_TIMEOUT if timeout is None else timeout
        if not create and not path.exists():
            conn = sqlite3.connect(":memory:", isolation_level=None)
            _migrate(conn, path)
            return cls(path, conn)
        if create and not path.parent.is_dir() and path == default_path():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise AuditError(
                    f"cannot create the audit store directory: {err.strerror or err}"
                ) from None
        mode = "rwc" if create else "rw"
        deadline = time.monotonic() + wait
        while True:
            try:
                conn = sqlite3.connect(
                    f"{path.absolute().as_uri()}?mode={mode}",
                    uri=True,
                    timeout=wait,
                    isolation_level=None,
                )
            except sqlite3.Error as err:
                raise AuditError(f"cannot open the audit store {path}: {err}") from None
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
                _migrate(conn, path)
                return cls(path, conn, wait)
            except sqlite3.DatabaseError as err:
                conn.close()
                if "not a database" in str(err):
                    raise InputError(
                        f"{path} is not an llm-advisor audit store", item=str(path)
                    ) from None
                # Processes creating the store at once can deadlock on its locks; SQLite then
                # fails at once instead of waiting, so try again until the timeout runs out.
                if not _busy(err) or time.monotonic() > deadline:
                    raise AuditError(f"cannot open the audit store {path}: {err}") from None
            except AdvisorError:
                conn.close()
                raise
            time.sleep(random.uniform(0.001, 0.01))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried with short random pauses until the busy timeout runs out.

        SQLite's own busy handler backs off to 100 ms sleeps, which leaves the lock idle while
        many writers wait; short jittered retries keep it busy.
        """
        deadline = time.monotonic() + self.timeout
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as err:
                    if not _busy(err) or time.monotonic() > deadline:
                        raise AuditError(
                            f"cannot write the audit store {self.path}: {err}"
                        ) from None
                except sqlite3.Error as err:
                    raise AuditError(f"cannot write the audit store {self.path}: {err}") from None
                time.sleep(random.uniform(0.0002, 0.002))
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so that reading the head is atomic."""
        conn = self._conn
        self._begin()
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as err:
            with suppress(sqlite3.Error):  # SQLite may have rolled back already (full disk)
                conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise AuditError(f"cannot write the audit store {self.path}: {err}") from None
            raise

    # writing --------------------------------------------------------------------------------

    def record(self, kb: KnowledgeBase, result: Result, *, kind: str = "recommend") -> str:
        """Append one record for a result in one transaction; returns its id."""
        produced = result_body(kb, result)
        files = file_digests(kb)
        with self._write() as conn:
            return self._append(conn, kb.fingerprint, files, produced, kind)

    def _append(
        self,
        conn: sqlite3.Connection,
        fingerprint: str,
        files: list[tuple[str, str, bytes]],
        produced: dict[str, Any],
        kind: str,
    ) -> str:
        """Insert the rule files (once per fingerprint), the record, and move the chain head."""
        count, last_id, head = conn.execute(
            "SELECT count, last_id, hash FROM chain_head"
        ).fetchone()
        known = conn.execute(
            "SELECT 1 FROM rulebase_files WHERE fingerprint = ? LIMIT 1", (fingerprint,)
        ).fetchone()
        if known is None:
            for name, digest, content in files:
                conn.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, content))
                conn.execute(
                    "INSERT INTO rulebase_files VALUES (?, ?, ?)", (fingerprint, name, digest)
                )
        record_id = secrets.token_hex(6)
        while conn.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone():
            record_id = secrets.token_hex(6)
        created = _now()
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
        body = canonical(data)
        digest = chain_hash(head, body)
        conn.execute(
            f"INSERT INTO records ({_COLUMNS.removeprefix('seq, ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (record_id, created, kind, produced["recommendation"], fingerprint, body, head, digest),
        )
        conn.execute(
            "UPDATE chain_head SET count = ?, last_id = ?, hash = ?", (count + 1, record_id, digest)
        )
        return record_id

    # reading --------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise AuditError(f"cannot read the audit store {self.path}: {err}") from None

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
        sql = f"SELECT {_COLUMNS} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_row(r) for r in self._read(sql + " ORDER BY seq", tuple(params))]

    def count(self) -> int:
        return int(self._read("SELECT count(*) FROM records")[0][0])

    def get(self, ref: str) -> StoredRecord:
        """The record whose id is `ref` or starts with it; unknown or ambiguous → InputError;
        a record that no longer matches its own hash → AuditError (never shown as genuine)."""
        prefix = ref.strip().lower()
        if not _ID.match(prefix):
            raise InputError(f"malformed audit id {ref!r}: expected up to 12 hex digits", item=ref)
        rows = self._read(
            f"SELECT {_COLUMNS} FROM records WHERE substr(id, 1, ?) = ? ORDER BY seq LIMIT 2",
            (len(prefix), prefix),
        )
        if not rows:
            raise InputError(f"unknown audit id {ref!r} in {self.path}", item=ref)
        if len(rows) > 1:
            raise InputError(f"audit id prefix {ref!r} is ambiguous: give more digits", item=ref)
        record = _row(rows[0])
        problem = _content_problem(record, None, None)
        if problem is not None:
            raise AuditError(
                f"record {record.id} was altered: {problem} (see llm-advisor audit verify)"
            )
        return record

    def rule_files(self, fingerprint: str) -> tuple[RuleFile, ...]:
        """The rule files stored for a fingerprint, by name."""
        rows = self._read(
            "SELECT f.name, b.content FROM rulebase_files f JOIN blobs b ON b.sha256 = f.sha256"
            " WHERE f.fingerprint = ? ORDER BY f.name",
            (fingerprint,),
        )
        return tuple(RuleFile(name, _as_bytes(content)) for name, content in rows)

    def knowledge_base(self, fingerprint: str) -> KnowledgeBase:
        """Load the stored rule files of a fingerprint, exactly as they were recorded."""
        from .loader import load_knowledge_base

        files = self.rule_files(fingerprint)
        if not files:
            raise AuditError(
                f"the rule files of rule base {fingerprint[:12]} are missing from the store"
            )
        for rule_file in files:  # an altered store must not write outside the directory
            name = rule_file.name
            if Path(name).name != name or not name.endswith(".yaml") or set(name) & {"\\", "\0"}:
                raise AuditError(
                    f"the stored rule base {fingerprint[:12]} has a file named "
                    f"{rule_file.name!r}, which is not a plain .yaml file name"
                )
        with tempfile.TemporaryDirectory(prefix="llm-advisor-replay-") as tmp:
            for rule_file in files:
                (Path(tmp) / rule_file.name).write_bytes(rule_file.content)
            try:
                kb = load_knowledge_base(tmp)
            except InputError as err:
                raise AuditError(
                    f"the stored rule base {fingerprint[:12]} no longer loads: {err}"
                ) from None
        if kb.fingerprint != fingerprint:
            raise AuditError(f"the stored rule files do not match fingerprint {fingerprint[:12]}")
        return dataclasses.replace(kb, directory=f"audit store (rule base {fingerprint[:12]})")

    # verifying --------------------------------------------------------------------------------

    def verify(self) -> Verification:
        """Recompute the chain and name the first altered, inserted, moved or deleted record."""
        rows = [_row(r) for r in self._read(f"SELECT {_COLUMNS} FROM records ORDER BY seq")]
        head_count, head_last, head_hash = self._read(
            "SELECT count, last_id, hash FROM chain_head"
        )[0]
        checked: dict[str, str | None] = {}
        prev_hash, prev_id = GENESIS, None
        for i, row in enumerate(rows):
            if row.prev_hash != prev_hash:
                return _link_problem(rows, i, head_hash)
            problem = _content_problem(row, prev_id, i)
            if problem is None and row.fingerprint not in checked:
                checked[row.fingerprint] = self._files_problem(row)
                problem = checked[row.fingerprint]
            if problem:
                return _broken(rows, row.id, "altered", f"record {row.id} was altered: {problem}")
            prev_hash, prev_id = row.hash, row.id
        if head_count == len(rows) and head_hash == prev_hash and head_last == prev_id:
            return Verification(len(rows), prev_hash)
        if head_count > len(rows) and head_hash not in {row.hash for row in rows}:
            more = head_count - len(rows) - 1
            extra = f" (and {more} record(s) before it)" if more > 0 else ""
            problem = f"record {head_last}{extra} was deleted from the end of the chain"
            return _broken(rows, head_last, "deleted", problem)
        if head_count < len(rows) and head_hash == (
            rows[head_count - 1].hash if head_count else GENESIS
        ):
            extra = rows[head_count].id
            return _broken(
                rows, extra, "inserted", f"record {extra} was inserted at the end of the chain"
            )
        return _broken(rows, prev_id, "altered", "the chain head does not match the last record")

    def _files_problem(self, row: StoredRecord) -> str | None:
        """Whether the stored rule files still hash to the record's fingerprint and file digests."""
        from .loader import fingerprint

        wanted = {(f["name"], f["sha256"]) for f in row.data["rulebase"]["files"]}
        stored = self._read(
            "SELECT f.name, f.sha256, b.content FROM rulebase_files f LEFT JOIN blobs b"
            " ON b.sha256 = f.sha256 WHERE f.fingerprint = ?",
            (row.fingerprint,),
        )
        if {(name, digest) for name, digest, _ in stored} != wanted:
            return f"the list of rule files of rule base {row.fingerprint[:12]} changed"
        files = tuple(RuleFile(name, _as_bytes(content)) for name, _, content in stored)
        for (name, digest, content), rule_file in zip(stored, files, strict=True):
            if (
                not isinstance(content, bytes)
                or hashlib.sha256(rule_file.content).hexdigest() != digest
            ):
                return f"the stored rule file {name} of rule base {row.fingerprint[:12]} changed"
        if fingerprint(files) != row.fingerprint:
            return f"the stored rule files do not hash to fingerprint {row.fingerprint[:12]}"
        return None


def _broken(
    rows: list[StoredRecord], record_id: str | None, kind: Kind, problem: str
) -> Verification:
    return Verification(len(rows), "", problem, record_id, kind)


def _link_problem(rows: list[StoredRecord], i: int, head_hash: str) -> Verification:
    """Explain why record `i` does not link to the record before it."""
    row = rows[i]
    prev_hash = rows[i - 1].hash if i else GENESIS
    prev_id = rows[i - 1].id if i else None
    successor = rows[i + 1].prev_hash if i + 1 < len(rows) else head_hash
    if i and row.prev_hash == rows[i - 1].prev_hash:
        # two records claim the same predecessor: the one nothing links to was inserted
        genuine = _content_problem(row, None, None) is None and successor == row.hash
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
    problem = _content_problem(row, None, None)
    if problem:
        return _broken(rows, row.id, "altered", f"record {row.id} was altered: {problem}")
    data = row.data
    if data["position"] > i and data["prev_id"] != prev_id:
        missing = data["prev_id"]
        more = data["position"] - i - 1
        extra = f" (and {more} record(s) before it)" if more > 0 else ""
        return _broken(
            rows,
            missing,
            "deleted",
            f"record {missing}{extra} was deleted; it came before {row.id}",
        )
    culprit = prev_id or row.id
    problem = f"record {culprit} was altered: the next record {row.id} no longer links to it"
    return _broken(rows, culprit, "altered", problem)


def _content_problem(row: StoredRecord, prev_id: str | None, position: int | None) -> str | None:
    """Why a row does not match its own hash and content (None when it does)."""
    if chain_hash(row.prev_hash, row.body) != row.hash:
        return "its content does not match its hash"
    try:
        data = row.data
    except (ValueError, AssertionError):
        return "its content is not a JSON object"
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


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to `SCHEMA_VERSION` in one transaction; refuse foreign or newer files."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise InputError(f"{path} is not an llm-advisor audit store", item=str(path))
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app != APPLICATION_ID and (app != 0 or version != 0 or tables):
            raise InputError(f"{path} is not an llm-advisor audit store", item=str(path))
        if version > SCHEMA_VERSION:
            raise AuditError(
                f"the audit store {path} has schema version {version}; this llm-advisor knows up to {SCHEMA_VERSION}"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# --- convenience --------------------------------------------------------------------------------


def record_result(path: Path, kb: KnowledgeBase, result: Result, *, kind: str = "recommend") -> str:
    """Open the store at `path` (creating it if needed), append one record, close it."""
    with AuditStore.open(path, create=True) as store:
        return store.record(kb, result, kind=kind)


def stored_case(data: dict[str, Any]) -> Case:
    """The case of a record exactly as it was evaluated."""
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for item in data["facts"]:
        values.append((item["name"], item["value"]))
        status.append((item["name"], item["status"]))
    return Case(tuple(values), tuple(status))


def effect_from_record(entry: dict[str, Any]) -> Effect:
    """The inverse of `engine.model.effect_json`."""
    if "derive" in entry:
        return Derive(entry["derive"])
    if "score" in entry:
        return Score(entry["score"]["approach"], entry["score"]["delta"])
    if "exclude" in entry:
        return Exclude(entry["exclude"]["approach"], entry["exclude"]["reason"])
    if "combine" in entry:
        return Combine(*entry["combine"])
    if "technique" in entry:
        return technique_from_json(entry["technique"])
    return Advise(
        entry["advise"], tuple(entry.get("favours", ())), tuple(entry.get("rules_out", ()))
    )


def stored_result(record: StoredRecord) -> Result:
    """The result exactly as the record holds it (no inference is run)."""
    data = record.data
    firings = tuple(
        Firing(
            order=entry["order"],
            rule_id=entry["rule"],
            matched=tuple((name, value) for name, value in entry["matched"]),
            matched_derived=tuple((name, bool(value)) for name, value in entry["matched_derived"]),
            effects=tuple(effect_from_record(e) for e in entry["effects"]),
        )
        for entry in data["fired"]
    )
    ranking = tuple(
        Ranked(r["approach"], r["score"], r["excluded"], tuple(r["reasons"]))
        for r in data["ranking"]
    )
    outcome = Outcome(data["recommendation"], tuple(data["combine_with"]), ranking)
    return Result(stored_case(data), outcome, firings, tuple(data["derived"]), record.fingerprint)


def _fits(fact: Fact, value: object) -> bool:
    if fact.type == "bool":
        return isinstance(value, bool)
    if fact.type == "enum":
        return isinstance(value, str) and value in fact.values
    return isinstance(value, int | float) and not isinstance(value, bool)


def case_for(kb: KnowledgeBase, data: dict[str, Any]) -> tuple[Case, tuple[str, ...]]:
    """A record's given facts as a case of another rule base, and the given facts it cannot take."""
    given = {item["name"]: item["value"] for item in data["facts"] if item["status"] == "given"}
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for fact in kb.facts:
        value = given.get(fact.name)
        if value is not None and _fits(fact, value):
            values.append((fact.name, float(value) if fact.type == "quantity" else value))
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
        if name not in names or not _fits(kb.fact(name), value)
    )
    return Case(tuple(values), tuple(status)), dropped


# --- replay ---------------------------------------------------------------------------------------


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
        case = stored_case(data)
    else:
        case, dropped = case_for(kb, data)
    result = evaluate(kb, case)
    then, now = result_part(data), result_part(json.loads(canonical(result_body(kb, result))))
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
