"""The audit store on real SQLite and a real PostgreSQL server: records, the hash chain, tampering,
concurrency, crashes, replay."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Location, is_pg, location, raw_sql, record_result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_advisor.cli import records
from llm_advisor.cli.audit import parse_since
from llm_advisor.engine.audit.backend import AuditError
from llm_advisor.engine.audit.chain import (
    GENESIS,
    ChainHead,
    Verification,
    canonical,
    chain_hash,
)
from llm_advisor.engine.audit.migrations import SCHEMA_VERSION
from llm_advisor.engine.audit.record import result_part, tool_version
from llm_advisor.engine.audit.replay import replay
from llm_advisor.engine.audit.signing import create_signer
from llm_advisor.engine.audit.store import AuditStore, open_backend
from llm_advisor.engine.audit.trust import make_checkpoint
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.inference.codec import result_from_json, result_to_json
from llm_advisor.engine.inference.run import Result, evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
KBS = Path(__file__).parent / "kbs"
CASES: list[dict[str, object]] = [
    {"size": "2M", "urgent": "yes", "budget": "50k"},
    {"size": "2k", "color": "blue"},
    {"budget": "$300k"},
    {"budget": "$5k", "color": "green", "urgent": "no"},
    {"size": "10M", "budget": "$1M", "urgent": "yes"},
    {},
]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base(KBS / "audit")


def run(kb: KnowledgeBase, raw: dict[str, object]) -> Result:
    return evaluate(kb, make_case(kb, raw))


@pytest.fixture
def db(store_at: str) -> Location:
    return location(store_at)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "audit.sqlite3"


def fill(db: Location, kb: KnowledgeBase, n: int = 6) -> list[str]:
    if isinstance(db, Path):
        db.parent.mkdir(parents=True, exist_ok=True)
    with AuditStore.open(db, create=True) as store:
        return [store.record(kb, run(kb, CASES[i % len(CASES)])) for i in range(n)]


def verify(db: Location) -> Verification:
    with AuditStore.open(db) as store:
        return store.verify()


# --- records and the chain ----------------------------------------------------------------------


def test_record_holds_the_whole_result(db: Location, kb: KnowledgeBase) -> None:
    result = run(kb, CASES[0])
    ids = fill(db, kb, 1)
    with AuditStore.open(db) as store:
        record = store.get(ids[0])
        data = record.data
        assert record.body == canonical(data)
        assert data["id"] == ids[0] and data["prev_id"] is None and data["position"] == 0
        assert data["created"].endswith("Z") and data["kind"] == "recommend"
        assert data["tool_version"] == tool_version()
        assert data["rulebase"]["fingerprint"] == kb.fingerprint
        assert sorted(f["name"] for f in data["rulebase"]["files"]) == sorted(
            f.name for f in kb.files
        )
        assert data["recommendation"] == result.recommendation == "fancy"
        assert [f["rule"] for f in data["fired"]] == [f.rule_id for f in result.firings]
        assert data["fired"][0]["matched"] == [["size", 2_000_000.0]]
        statuses = {f["name"]: f["status"] for f in data["facts"]}
        assert statuses == {
            "size": "given",
            "budget": "given",
            "color": "defaulted",
            "urgent": "given",
        }
        assert [r["approach"] for r in data["ranking"]] == [r.approach for r in result.ranking]
        assert {f.name: f.content for f in store.rule_files(kb.fingerprint)} == {
            f.name: f.content for f in kb.files
        }
        assert record.hash == chain_hash(GENESIS, record.body)
        assert result_from_json(record.data, record.fingerprint) == result


def test_rule_files_are_stored_once_per_fingerprint(sqlite_db: Path, kb: KnowledgeBase) -> None:
    fill(sqlite_db, kb, 5)
    conn = sqlite3.connect(sqlite_db)
    try:
        assert conn.execute("SELECT count(*) FROM rulebase_files").fetchone()[0] == len(kb.files)
        assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == len(kb.files)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_chain_links_every_record_and_verifies(db: Location, kb: KnowledgeBase) -> None:
    ids = fill(db, kb, 6)
    with AuditStore.open(db) as store:
        records = store.records()
        report = store.verify()
    assert [r.id for r in records] == ids
    assert report.ok and report.count == 6 and report.head == records[-1].hash
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
        assert after.data["prev_id"] == before.id


def test_ids_are_12_hex_and_prefixes_resolve(db: Location, kb: KnowledgeBase) -> None:
    ids = fill(db, kb, 20)
    assert len(set(ids)) == 20 and all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    with AuditStore.open(db) as store:
        assert store.get(ids[3][:8].upper()).id == ids[3]
        with pytest.raises(InputError, match="unknown audit id"):
            store.get("0" * 12 if "0" * 12 not in ids else "f" * 12)
        with pytest.raises(InputError, match="malformed"):
            store.get("not-an-id")
        with pytest.raises(InputError, match="malformed"):
            store.get("0123456789abc")
        shared = next(a[0] for a in ids if sum(b[0] == a[0] for b in ids) > 1)
        with pytest.raises(InputError, match="ambiguous"):
            store.get(shared)


def test_filters(db: Location, kb: KnowledgeBase) -> None:
    ids = fill(db, kb, 6)
    with AuditStore.open(db) as store:
        everything = store.records()
        fancy = store.records(approach="fancy")
        assert fancy and all(r.recommendation == "fancy" for r in fancy)
        assert len(store.records(fingerprint=kb.fingerprint[:6])) == 6
        assert (
            store.records(fingerprint="ffff" if not kb.fingerprint.startswith("ffff") else "0000")
            == []
        )
        assert [r.id for r in store.records(since=everything[3].created)] == ids[3:]
        assert store.records(since=parse_since("1d")) == everything
        assert store.records(since=parse_since("2999-01-01")) == []


def test_parse_since() -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2024-05-01", now) == "2024-05-01T00:00:00.000000Z"
    assert parse_since("2024-05-01T10:30:00+02:00", now) == "2024-05-01T08:30:00.000000Z"
    assert parse_since("2024-05-01T10:30:00Z", now) == "2024-05-01T10:30:00.000000Z"
    assert parse_since("1w", now) == "2024-05-03T12:00:00.000000Z"
    assert parse_since("100000y", now).startswith("0001-01-01")
    for bad in ("yesterday", "", "5 parsecs"):
        with pytest.raises(InputError, match="--since"):
            parse_since(bad, now)


def test_missing_store_reads_as_empty_and_is_not_created(db: Location) -> None:
    with AuditStore.open(db) as store:
        assert store.records() == [] and store.verify().ok and store.verify().count == 0
        assert not store.exists
        with pytest.raises(InputError, match="unknown audit id"):
            store.get("abc")
    if isinstance(db, Path):
        assert not db.exists()
    else:
        import psycopg

        with psycopg.connect(db) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone() == (0,)


def test_resolve_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(records.ENV_VAR, str(tmp_path / "env.db"))
    assert records.resolve_location() == tmp_path / "env.db"
    assert records.resolve_location(tmp_path / "given.db") == tmp_path / "given.db"
    url = "postgresql://someone@db.example:5432/audit"
    assert records.resolve_location(url) == url
    monkeypatch.setenv(records.ENV_VAR, url)
    assert records.resolve_location() == url
    monkeypatch.delenv(records.ENV_VAR)
    assert records.resolve_location() == records.default_path()
    assert records.default_path().name == records.DB_NAME
    for bad in ("", "   ", "a\0b", str(tmp_path), "mysql://x@y/z"):
        with pytest.raises(InputError):
            records.resolve_location(bad)


# --- refusing what is not ours, and failing without damage --------------------------------------


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(InputError, match="not an audit store"):
        AuditStore.open(text, create=True)
    assert text.read_bytes() == b"these are my notes, not a database\n" * 100
    other = tmp_path / "other.sqlite3"
    raw_sql(other, ("CREATE TABLE mine (x)", ()), ("INSERT INTO mine VALUES (1)", ()))
    with pytest.raises(InputError, match="not an audit store"):
        AuditStore.open(other, create=True)
    conn = sqlite3.connect(other)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 1
    conn.close()


def test_a_newer_schema_is_refused(db: Location, kb: KnowledgeBase) -> None:
    fill(db, kb, 1)
    newer = SCHEMA_VERSION + 1
    if is_pg(db):
        raw_sql(db, ("UPDATE llm_advisor_schema SET version = ?", (newer,)))
    else:
        raw_sql(db, (f"PRAGMA user_version = {newer}", ()))
    with pytest.raises(AuditError, match="schema version"):
        AuditStore.open(db, create=True)


def test_migration_from_an_empty_file(tmp_path: Path, kb: KnowledgeBase) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    with AuditStore.open(empty, create=True) as store:
        store.record(kb, run(kb, {}))
        assert store.verify().ok


def test_locked_too_long_fails_cleanly(sqlite_db: Path, kb: KnowledgeBase) -> None:
    ids = fill(sqlite_db, kb, 3)
    holder = sqlite3.connect(sqlite_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with AuditStore.open(sqlite_db, create=True, timeout=0.2) as store:
            started = time.monotonic()
            with pytest.raises(AuditError, match="locked"):
                store.record(kb, run(kb, {}))
            assert time.monotonic() - started < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with AuditStore.open(sqlite_db) as store:
        assert [r.id for r in store.records()] == ids and store.verify().ok


def test_a_full_disk_fails_cleanly_and_keeps_records(sqlite_db: Path, kb: KnowledgeBase) -> None:
    ids = fill(sqlite_db, kb, 2)
    with AuditStore.open(sqlite_db, create=True) as store:
        pages = store.backend._conn.execute("PRAGMA page_count").fetchone()[0]
        store.backend._conn.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is full now
        with pytest.raises(AuditError, match="full"):
            for _ in range(50):
                store.record(kb, run(kb, CASES[0]))
        assert store.verify().ok
    with AuditStore.open(sqlite_db, create=True) as store:
        assert [r.id for r in store.records()][:2] == ids and store.verify().ok
        store.record(kb, run(kb, {}))
        assert store.verify().ok


def test_unwritable_location_fails_with_audit_error(tmp_path: Path, kb: KnowledgeBase) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot open"):
        record_result(blocker / "audit.sqlite3", kb, run(kb, {}))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_store_fails_and_keeps_records(sqlite_db: Path, kb: KnowledgeBase) -> None:
    ids = fill(sqlite_db, kb, 2)
    sqlite_db.parent.chmod(0o555)
    sqlite_db.chmod(0o444)
    try:
        with pytest.raises(AuditError):
            record_result(sqlite_db, kb, run(kb, {}))
    finally:
        sqlite_db.parent.chmod(0o755)
        sqlite_db.chmod(0o644)
    with AuditStore.open(sqlite_db) as store:
        assert [r.id for r in store.records()] == ids and store.verify().ok


# --- tampering ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def chain(
    request: pytest.FixtureRequest, tmp_path: Path, kb: KnowledgeBase
) -> tuple[Location, list[str]]:
    """A store of 6 records, checkpointed so that a plain copy of the file is complete."""
    if request.param == "postgres":
        srv = request.getfixturevalue("pg")
        name = srv.database()
        ids = fill(srv.url(name), kb, 6)
        return srv.url(name), ids
    db = tmp_path / "pristine.sqlite3"
    ids = fill(db, kb, 6)
    raw_sql(db, ("PRAGMA wal_checkpoint(TRUNCATE)", ()))
    return db, ids


@pytest.fixture
def tamper(
    request: pytest.FixtureRequest, tmp_path: Path, chain: tuple[Location, list[str]]
) -> Iterator[Callable[..., Verification]]:
    """Apply SQL to a fresh copy of the chain and verify the copy."""
    pristine, _ = chain
    count = 0

    def apply(*statements: tuple[str, tuple[Any, ...]]) -> Verification:
        nonlocal count
        count += 1
        copy: Location
        if isinstance(pristine, str):
            srv = request.getfixturevalue("pg")
            copy = srv.url(srv.database(template=pristine.rsplit("/", 1)[1]))
        else:
            copy = tmp_path / f"copy{count}.sqlite3"
            shutil.copy(pristine, copy)
        raw_sql(copy, *statements)
        return verify(copy)

    yield apply


def record_row(db: Location, record_id: str) -> dict[str, Any]:
    if isinstance(db, str):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(db, row_factory=dict_row) as pconn:
            found = pconn.execute("SELECT * FROM records WHERE id = %s", (record_id,)).fetchone()
            assert found is not None
            return dict(found)
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone())
    finally:
        conn.close()


@pytest.mark.parametrize("position", [0, 2, 5])
@pytest.mark.parametrize(
    "column",
    ["id", "created", "kind", "recommendation", "fingerprint", "body", "prev_hash", "hash"],
)
def test_changing_any_column_is_detected(
    chain: tuple[Location, list[str]],
    tamper: Callable[..., Verification],
    position: int,
    column: str,
) -> None:
    db, ids = chain
    target = ids[position]
    value = record_row(db, target)[column]
    changed = {
        "id": "0123456789ab",
        "created": "1999-01-01T00:00:00.000000Z",
        "kind": "consult",
        "recommendation": "exotic" if value != "exotic" else "cheap",
        "fingerprint": "0" * 64,
        "body": str(value).replace('"position":', '"position":1', 1),
        "prev_hash": "1" * 64,
        "hash": "2" * 64,
    }[column]
    report = tamper((f"UPDATE records SET {column} = ? WHERE id = ?", (changed, target)))
    assert not report.ok
    assert report.record_id in (target, "0123456789ab")
    assert report.kind == "altered"


def _mutations(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every top-level field of a record body, and a few nested ones, changed one at a time."""
    for key, value in data.items():
        if isinstance(value, bool) or value is None:
            new: Any = "changed"
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, str):
            new = value + "x"
        elif isinstance(value, list):
            new = [*value, "extra"]
        else:
            new = {**value, "extra": 1}
        yield key, {**data, key: new}
    if data["fired"]:
        first = {**data["fired"][0], "because": "Something else."}
        yield "fired[0].because", {**data, "fired": [first, *data["fired"][1:]]}
    if data["ranking"]:
        top = {**data["ranking"][0], "score": data["ranking"][0]["score"] + 1}
        yield "ranking[0].score", {**data, "ranking": [top, *data["ranking"][1:]]}
    facts = [{**data["facts"][0], "value": "changed"}, *data["facts"][1:]]
    yield "facts[0].value", {**data, "facts": facts}


@pytest.mark.parametrize("position", [0, 3, 5])
def test_changing_any_field_of_the_content_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification], position: int
) -> None:
    db, ids = chain
    target = ids[position]
    data = json.loads(record_row(db, target)["body"])
    for field, mutated in _mutations(data):
        report = tamper(("UPDATE records SET body = ? WHERE id = ?", (canonical(mutated), target)))
        assert not report.ok, field
        assert report.record_id == target, field
        # rewriting the hash too is caught by the next link (or by the chain head)
        row = record_row(db, target)
        rehashed = chain_hash(row["prev_hash"], canonical(mutated))
        report = tamper(
            (
                "UPDATE records SET body = ?, hash = ? WHERE id = ?",
                (canonical(mutated), rehashed, target),
            )
        )
        assert not report.ok, field
        assert report.record_id == target, field


@pytest.mark.parametrize("position", [0, 3, 5])
@pytest.mark.parametrize(
    "junk", [{"just": "junk"}, [1, 2], "text", None, {"rulebase": "x", "position": "0"}]
)
def test_junk_content_with_a_valid_hash_is_named_not_crashed_on(
    chain: tuple[Location, list[str]],
    tamper: Callable[..., Verification],
    position: int,
    junk: Any,
) -> None:
    db, ids = chain
    row = record_row(db, ids[position])
    body = canonical(junk)
    report = tamper(
        (
            "UPDATE records SET body = ?, hash = ? WHERE id = ?",
            (body, chain_hash(row["prev_hash"], body), ids[position]),
        )
    )
    assert not report.ok and report.record_id == ids[position] and report.kind == "altered"


@pytest.mark.parametrize("positions", [[0], [2], [5], [2, 3], [4, 5], [0, 1, 2, 3, 4, 5]])
def test_deleting_records_is_detected(
    chain: tuple[Location, list[str]],
    tamper: Callable[..., Verification],
    positions: list[int],
) -> None:
    _, ids = chain
    statements = [("DELETE FROM records WHERE id = ?", (ids[p],)) for p in positions]
    report = tamper(*statements)
    assert not report.ok and report.kind == "deleted"
    assert report.record_id == ids[positions[-1]]
    assert ids[positions[-1]] in str(report.problem)


def _forged(
    db: Location, ids: list[str], after: int, new_id: str = "feedfeedfeed"
) -> dict[str, Any]:
    """A well-formed record that claims to follow record `after`, with a valid hash."""
    row = record_row(db, ids[after])
    data = {**json.loads(row["body"]), "id": new_id, "prev_id": ids[after], "position": after + 1}
    body = canonical(data)
    return {
        **row,
        "id": new_id,
        "body": body,
        "prev_hash": row["hash"],
        "hash": chain_hash(row["hash"], body),
    }


def _insert(row: dict[str, Any], seq: int) -> tuple[str, tuple[Any, ...]]:
    columns = [
        "seq",
        "id",
        "created",
        "kind",
        "recommendation",
        "fingerprint",
        "body",
        "prev_hash",
        "hash",
    ]
    values = tuple(seq if c == "seq" else row[c] for c in columns)
    return (
        f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        values,
    )


def test_inserting_a_forged_record_at_the_end_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification]
) -> None:
    db, ids = chain
    report = tamper(_insert(_forged(db, ids, 5), 100))
    assert not report.ok and report.kind == "inserted" and report.record_id == "feedfeedfeed"


@pytest.mark.parametrize("after", [0, 2, 4])
def test_inserting_a_forged_record_in_the_middle_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification], after: int
) -> None:
    db, ids = chain
    seq = record_row(db, ids[after])["seq"]
    report = tamper(
        ("UPDATE records SET seq = seq + 1000 WHERE seq > ?", (seq,)),
        _insert(_forged(db, ids, after), seq + 1),
    )
    assert not report.ok and report.kind == "inserted" and report.record_id == "feedfeedfeed"


def test_inserting_a_copy_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification]
) -> None:
    db, ids = chain
    copy = {**record_row(db, ids[2]), "id": "c0c0c0c0c0c0"}
    for seq in (0, 100):
        report = tamper(_insert(copy, seq))
        assert not report.ok and report.record_id == "c0c0c0c0c0c0", report
    seq = record_row(db, ids[2])["seq"]
    report = tamper(
        ("UPDATE records SET seq = seq + 1000 WHERE seq > ?", (seq,)), _insert(copy, seq + 1)
    )
    assert not report.ok and report.record_id == "c0c0c0c0c0c0", report


def test_moving_a_record_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification]
) -> None:
    _, ids = chain
    report = tamper(("UPDATE records SET seq = 1000 WHERE id = ?", (ids[1],)))
    assert not report.ok and report.kind == "moved" and report.record_id == ids[1]


def test_changing_stored_rule_files_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification]
) -> None:
    db, ids = chain
    newline = "'\\x0a'::bytea" if is_pg(db) else "x'0a'"
    first = "(SELECT min(sha256) FROM blobs)"
    report = tamper((f"UPDATE blobs SET content = content || {newline} WHERE sha256 = {first}", ()))
    assert not report.ok and report.record_id == ids[0] and "rule file" in str(report.problem)
    report = tamper(
        ("DELETE FROM rulebase_files WHERE name = (SELECT min(name) FROM rulebase_files)", ())
    )
    assert not report.ok and report.record_id == ids[0]


def test_changing_the_chain_head_is_detected(
    chain: tuple[Location, list[str]], tamper: Callable[..., Verification]
) -> None:
    _, ids = chain
    report = tamper(("UPDATE chain_head SET count = 5", ()))
    assert not report.ok
    report = tamper(("UPDATE chain_head SET hash = ?", ("3" * 64,)))
    assert not report.ok and report.record_id == ids[5]


def test_a_body_that_is_not_json_is_a_typed_error_naming_the_record(
    db: Location, kb: KnowledgeBase
) -> None:
    """Only tampering writes such a body; reading it must name the record, not crash."""
    ids = fill(db, kb, 4)
    raw_sql(db, ("UPDATE records SET body = ? WHERE id = ?", ("{not json", ids[2])))
    with AuditStore.open(db) as store:
        stored = store.records()
        assert stored[1].data["id"] == ids[1]
        with pytest.raises(AuditError, match=f"record {ids[2]} was altered"):
            stored[2].data  # noqa: B018
        with pytest.raises(AuditError, match=f"record {ids[2]} was altered"):
            stored[2].export()
        report = store.verify()
    assert not report.ok and report.record_id == ids[2] and report.kind == "altered"


def test_a_deleted_chain_head_is_tampering_and_blocks_writing(
    db: Location, kb: KnowledgeBase, tmp_path: Path
) -> None:
    ids = fill(db, kb, 3)
    raw_sql(db, ("DELETE FROM chain_head", ()))
    with AuditStore.open(db, create=True) as store:
        assert store.head() is None
        report = store.verify()
        assert not report.ok and report.kind == "deleted"
        assert report.problem is not None and "chain head was deleted" in report.problem
        with pytest.raises(AuditError, match="chain head was deleted"):
            store.record(kb, run(kb, CASES[0]))
        with pytest.raises(AuditError, match="chain head was deleted"):
            make_checkpoint(store, create_signer(tmp_path / "key.pem"))
        assert [r.id for r in store.records()] == ids  # nothing written


def test_a_deleted_store_id_is_a_typed_error(db: Location, kb: KnowledgeBase) -> None:
    fill(db, kb, 1)
    raw_sql(db, ("DELETE FROM store_info", ()))
    with AuditStore.open(db) as store, pytest.raises(AuditError, match="store id was deleted"):
        store.store_id()


# --- concurrency and crashes ----------------------------------------------------------------------


class _WrittenBetweenReads(AuditStore):
    """A store whose chain head is read just after another writer appended a record: what a
    writer committing between a reader's reads of the records and of the head looks like."""

    def __init__(self, db: Location, append: Callable[[], object]) -> None:
        super().__init__(open_backend(db))
        self._append = append

    def head(self) -> ChainHead:
        self._append()
        return super().head()


def test_a_store_being_written_to_reads_as_intact(
    db: Location, kb: KnowledgeBase, tmp_path: Path
) -> None:
    """verify, checkpoint and copy read the records and the head at one moment: a record
    appended between the two reads is not taken for tampering, nor signed unverified."""
    fill(db, kb, 3)
    with AuditStore.open(db, create=True) as writer:

        def append() -> None:
            writer.record(kb, run(kb, CASES[1]))

        with _WrittenBetweenReads(db, append) as store:
            report = store.verify()
            assert report.ok, report.problem
            assert report.count == 3
            made = make_checkpoint(store, create_signer(tmp_path / "key.pem"))
            assert (made.records, made.last_id) == (4, store.records()[3].id)
            with AuditStore.open(tmp_path / "copy.sqlite3", create=True) as target:
                copied = store.copy_to(target)
                assert copied.ok, copied.problem
                assert copied.count == 5
                assert [r.id for r in target.records()] == [r.id for r in store.records()[:5]]
        assert writer.count() == 6
        assert writer.verify().ok


WRITER = """
import json, sys
from pathlib import Path
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.loader import load_knowledge_base

db, rules, n, worker = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cases = json.loads(sys.argv[5])
kb = load_knowledge_base(rules)
results = [evaluate(kb, make_case(kb, cases[(worker + i) % len(cases)])) for i in range(len(cases))]
with AuditStore.open(db, create=True, timeout=60) as store:
    ids = [store.record(kb, results[i % len(results)]) for i in range(n)]
print(json.dumps(ids))
"""


def test_eight_processes_write_500_records_each(db: Location) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(db),
                str(KBS / "audit"),
                "500",
                str(w),
                json.dumps(CASES),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for w in range(8)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 8
    written: list[list[str]] = [json.loads(out) for out in outputs]
    every = [i for ids in written for i in ids]
    assert len(every) == len(set(every)) == 4000
    with AuditStore.open(db) as store:
        records = store.records()
        report = store.verify()
    assert report.ok, report.problem
    assert report.count == 4000 and {r.id for r in records} == set(every)
    positions = {r.id: r.data["position"] for r in records}
    assert sorted(positions.values()) == list(range(4000))
    for ids in written:  # each writer's records appear in the order it wrote them
        assert [positions[i] for i in ids] == sorted(positions[i] for i in ids)


OPENER = """
import json, multiprocessing, sys
from pathlib import Path
from llm_advisor.engine.audit.backend import AuditError
from llm_advisor.engine.audit.store import AuditStore

def opener(directory, barrier, errors):
    failed = []
    for n in range(int(sys.argv[2])):
        barrier.wait()  # all processes create store n at the same moment
        try:
            with AuditStore.open(Path(directory, f"{n}.sqlite3"), create=True) as store:
                store.count()
        except AuditError as err:
            failed.append(str(err))
    errors.put(failed)

if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(8), context.Queue()
    workers = [context.Process(target=opener, args=(sys.argv[1], barrier, errors)) for _ in range(8)]
    for worker in workers:
        worker.start()
    failed = [message for _ in workers for message in errors.get()]
    for worker in workers:
        worker.join()
    print(json.dumps(failed))
"""


def test_processes_creating_a_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """Creating a store converts it to WAL; racing that, SQLite can fail without waiting."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", OPENER, str(tmp_path), "300"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    assert json.loads(out.stdout) == []
    assert len(list(tmp_path.glob("*.sqlite3"))) == 300


KILLED_WRITER = """
import sys, time
from pathlib import Path
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.audit.record import file_digests
from llm_advisor.engine.inference.codec import result_to_json
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.loader import load_knowledge_base

kb = load_knowledge_base(sys.argv[2])
result = evaluate(kb, make_case(kb, {"size": "5M"}))
store = AuditStore.open(sys.argv[1], create=True)
if sys.argv[3] == "pause":
    with store.backend.transaction() as tx:
        store._append(tx, kb.fingerprint, file_digests(kb), result_to_json(kb, result), "recommend")
        print("inside", flush=True)
        time.sleep(60)
else:
    while True:
        print(store.record(kb, result), flush=True)
"""


def _spawn_writer(db: Location, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(db), str(KBS / "audit"), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def test_writer_killed_mid_transaction_leaves_no_partial_record(
    db: Location, kb: KnowledgeBase
) -> None:
    ids = fill(db, kb, 3)
    proc = _spawn_writer(db, "pause")
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "inside"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with AuditStore.open(db, create=True, timeout=5) as store:
        assert [r.id for r in store.records()] == ids
        assert store.verify().ok
        new = store.record(kb, run(kb, {}))  # the lock died with the writer
        assert store.verify().ok and store.records()[-1].id == new


def test_writer_killed_while_writing_in_a_loop(db: Location, kb: KnowledgeBase) -> None:
    proc = _spawn_writer(db, "loop")
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        while len(seen) < 30:
            seen.append(proc.stdout.readline().strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with AuditStore.open(db) as store:
        report = store.verify()
        stored = [r.id for r in store.records()]
    assert report.ok, report.problem
    assert stored[: len(seen)] == seen and len(stored) >= len(seen)
    assert all(len(r) == 12 for r in stored)


# --- replay -----------------------------------------------------------------------------------------


def test_replay_reproduces_an_old_record_after_the_rules_changed(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(KBS / "audit", rules)
    db = tmp_path / "audit.sqlite3"
    old = load_knowledge_base(rules)
    ids = [record_result(db, old, run(old, case)) for case in CASES]
    text = (rules / "rules.yaml").read_text()
    text = text.replace("score: {fancy: 4, cheap: -1}", "score: {cheap: 6}").replace(
        "at_least: 1M", "at_least: 100M"
    )
    (rules / "rules.yaml").write_text(text)
    new = load_knowledge_base(rules)
    assert new.fingerprint != old.fingerprint
    with AuditStore.open(db) as store:
        for record_id in ids:
            record = store.get(record_id)
            again = replay(store, record)
            assert again.identical and again.stored_rules and again.differences == ()
            assert again.rule_changes == ()
            assert canonical(result_to_json(again.kb, again.result)) == canonical(
                result_part(record.data)
            )
        changed = replay(store, store.get(ids[0]), new)
    assert not changed.identical and not changed.stored_rules
    assert changed.recorded_recommendation == "fancy" and changed.recommendation == "cheap"
    assert not changed.same_recommendation
    assert {(c.rule_id, c.change) for c in changed.rule_changes} == {
        ("big", "then"),
        ("big-favours-fancy", "then"),
        ("urgent-favours-fancy", "differently"),
    }


def test_replay_against_a_rule_base_with_other_facts(tmp_path: Path, kb: KnowledgeBase) -> None:
    db = tmp_path / "audit.sqlite3"
    record_id = record_result(db, kb, run(kb, CASES[0]))
    mini = load_knowledge_base(KBS / "mini")
    with AuditStore.open(db) as store:
        other = replay(store, store.get(record_id), mini)
    assert set(other.dropped_facts) == {"budget"}
    assert other.result.case.status_of("size") == "given" and other.result.case.get("size") == 2e6
    assert other.result.case.status_of("color") == "defaulted"


def test_replay_fails_cleanly_when_stored_rules_are_gone(db: Location, kb: KnowledgeBase) -> None:
    ids = fill(db, kb, 1)
    raw_sql(db, ("DELETE FROM rulebase_files", ()))
    with AuditStore.open(db) as store, pytest.raises(AuditError, match="missing"):
        replay(store, store.get(ids[0]))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.sampled_from([None, "0", "999999", "1M", "3B"]),
    budget=st.sampled_from([None, "$0", "$19999", "$20k", "$200k", "$5M"]),
    color=st.sampled_from([None, "red", "green", "blue"]),
    urgent=st.sampled_from([None, "yes", "no"]),
)
def test_every_record_replays_exactly(
    tmp_path: Path,
    kb: KnowledgeBase,
    size: str | None,
    budget: str | None,
    color: str | None,
    urgent: str | None,
) -> None:
    raw = {
        k: v
        for k, v in {"size": size, "budget": budget, "color": color, "urgent": urgent}.items()
        if v
    }
    db = tmp_path / "property.sqlite3"
    record_id = record_result(db, kb, run(kb, raw))
    with AuditStore.open(db) as store:
        again = replay(store, store.get(record_id))
    assert again.identical, again.differences
