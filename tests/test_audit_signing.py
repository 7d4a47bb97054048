"""Signed records and checkpoints kept outside the store, on both back ends: what the chain alone
misses (a forgery re-hashed with the project's own hash function), and what checkpoints and
signatures catch."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Location, is_pg, location, raw_sql
from click.testing import CliRunner, Result

from llm_advisor.cli.keys import KEY_ENV_VAR, default_key_path
from llm_advisor.cli.main import cli
from llm_advisor.engine.audit.chain import canonical, chain_hash
from llm_advisor.engine.audit.signing import (
    Signer,
    create_signer,
    load_signer,
    public_key_pem,
    record_message,
)
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base

RULES = str(Path(__file__).parent / "kbs" / "audit")
CASES = [["size=2M", "urgent=yes"], ["size=2k", "color=blue"], ["budget=$300k"], ["budget=$5k"]]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def db(store_at: str) -> Location:
    return location(store_at)


def recommend(db: Location, facts: list[str]) -> str:
    args = ["recommend", "--rules", RULES, "--audit-db", str(db), "--json"]
    for fact in facts:
        args += ["--fact", fact]
    out = invoke(*args)
    assert out.exit_code == 0, out.output + out.stderr
    return str(json.loads(out.stdout)["audit_id"])


def fill(db: Location, n: int = 4) -> list[str]:
    return [recommend(db, CASES[i % len(CASES)]) for i in range(n)]


def checkpoint(db: Location, path: Path) -> Path:
    out = invoke("audit", "checkpoint", "-o", str(path), "--audit-db", str(db))
    assert out.exit_code == 0, out.output + out.stderr
    return path


def verify(db: Location, *args: str) -> Result:
    return invoke("audit", "verify", "--audit-db", str(db), *args)


def my_public_key(tmp_path: Path) -> Path:
    out = invoke("audit", "key", "-o", str(tmp_path / "me.pem"))
    assert out.exit_code == 0, out.output
    return tmp_path / "me.pem"


def rewrite(db: Location, change: int, edit: dict[str, Any], signer: Signer | None) -> None:
    """Change record `change`'s content, then recompute the chain from it on and the stored head
    with the project's own hash function; with `signer`, re-sign what changed with that key."""
    with AuditStore.open(db) as store:
        records = store.records()
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if signer is not None:
        statements.append(
            (
                "INSERT INTO signers VALUES (?, ?) ON CONFLICT DO NOTHING",
                (signer.fingerprint, signer.public.hex()),
            )
        )
    prev = records[change - 1].hash if change else "0" * 64
    for record in records[change:]:
        data = record.data
        if record is records[change]:
            data = {**data, **edit}
        if signer is not None:
            data["signer"] = signer.fingerprint
        body = canonical(data)
        digest = chain_hash(prev, body)
        signature = signer.sign(record_message(digest)) if signer else record.signature
        statements.append(
            (
                "UPDATE records SET body = ?, recommendation = ?, prev_hash = ?, hash = ?,"
                " signer = ?, signature = ? WHERE id = ?",
                (
                    body,
                    data["recommendation"],
                    prev,
                    digest,
                    data.get("signer"),
                    signature,
                    record.id,
                ),
            )
        )
        prev = digest
    statements.append(("UPDATE chain_head SET hash = ?", (prev,)))
    raw_sql(db, *statements)


def plain_chain_ok(db: Location) -> bool:
    with AuditStore.open(db) as store:
        return store.verify().ok


def the_signer() -> Signer:
    return load_signer(Path(os.environ.get(KEY_ENV_VAR) or default_key_path()))


# --- the forgery of issue 17 ----------------------------------------------------------------------


def test_a_rehashed_forgery_passes_the_chain_but_not_checkpoint_or_signatures(
    db: Location, tmp_path: Path
) -> None:
    ids = fill(db)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    trusted = my_public_key(tmp_path)
    assert verify(db, "--checkpoint", str(kept), "--public-key", str(trusted)).exit_code == 0
    rewrite(db, 1, {"recommendation": "exotic"}, None)  # without the key
    assert plain_chain_ok(db)  # the chain alone is fooled
    out = verify(db)
    assert out.exit_code == 1 and f"record {ids[1]}'s signature" in out.stdout
    out = verify(db, "--public-key", str(trusted))
    assert out.exit_code == 1 and f"record {ids[1]}'s signature" in out.stdout
    out = verify(db, "--checkpoint", str(kept))
    assert out.exit_code == 1 and "differs from the checkpoint" in out.stdout
    data = json.loads(verify(db, "--checkpoint", str(kept), "--json").stdout)
    assert not data["ok"] and data["record"] == ids[3] and data["kind"] == "rewritten"


def test_a_key_holder_rewriting_is_caught_by_the_checkpoint_only(
    db: Location, tmp_path: Path
) -> None:
    fill(db)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    trusted = my_public_key(tmp_path)
    rewrite(db, 1, {"recommendation": "exotic"}, the_signer())
    assert verify(db).exit_code == 0
    assert verify(db, "--public-key", str(trusted)).exit_code == 0
    out = verify(db, "--checkpoint", str(kept))
    assert out.exit_code == 1 and "were rewritten" in out.stdout


def test_records_re_signed_with_another_key_are_caught_by_the_public_key(
    db: Location, tmp_path: Path
) -> None:
    ids = fill(db)
    trusted = my_public_key(tmp_path)
    intruder = create_signer(tmp_path / "intruder.pem")
    rewrite(db, 2, {"recommendation": "cheap"}, intruder)
    assert plain_chain_ok(db) and verify(db).exit_code == 0  # the store vouches for its keys
    out = verify(db, "--public-key", str(trusted))
    assert out.exit_code == 1
    assert f"record {ids[2]} is signed by key {intruder.fingerprint[:16]}" in out.stdout
    assert "not by a trusted key" in out.stdout
    (tmp_path / "intruder.pub").write_text(public_key_pem(intruder.public))
    both = ["--public-key", str(trusted), "--public-key", str(tmp_path / "intruder.pub")]
    assert verify(db, *both).exit_code == 0  # a reviewer who trusts both keys


def test_a_rebuilt_store_is_caught_by_the_checkpoint(
    db: Location, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    fill(db)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    with AuditStore.open(db) as store:
        store_id = store.store_id()
    if is_pg(db):
        srv = request.getfixturevalue("pg")
        rebuilt: Location = srv.url(srv.database())
    else:
        rebuilt = tmp_path / "rebuilt.sqlite3"
    fill(rebuilt)  # the same key, the same number of records
    raw_sql(rebuilt, ("UPDATE store_info SET store_id = ?", (store_id,)))
    assert verify(rebuilt).exit_code == 0
    out = verify(rebuilt, "--checkpoint", str(kept))
    assert out.exit_code == 1 and "differs from the checkpoint" in out.stdout


def test_records_appended_after_a_checkpoint_pass_it(db: Location, tmp_path: Path) -> None:
    fill(db, 3)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    fill(db, 2)
    out = verify(db, "--checkpoint", str(kept))
    assert out.exit_code == 0, out.output
    assert "OK: 5 records" in out.stdout and "extends the checkpoint of 3 records" in out.stdout


def test_truncation_is_caught_against_a_later_checkpoint(db: Location, tmp_path: Path) -> None:
    ids = fill(db, 5)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    with AuditStore.open(db) as store:
        third = store.get(ids[2])
    raw_sql(
        db,
        ("DELETE FROM records WHERE id IN (?, ?)", (ids[3], ids[4])),
        ("UPDATE chain_head SET count = 3, last_id = ?, hash = ?", (ids[2], third.hash)),
    )
    assert plain_chain_ok(db) and verify(db).exit_code == 0  # a consistent, shorter chain
    out = verify(db, "--checkpoint", str(kept))
    assert out.exit_code == 1
    assert "deleted" in out.stdout and ids[4] in out.stdout


def test_a_checkpoint_of_another_store_is_refused_in_one_line(tmp_path: Path) -> None:
    first, second = tmp_path / "first.sqlite3", tmp_path / "second.sqlite3"
    fill(first, 2)
    fill(second, 2)
    kept = checkpoint(first, tmp_path / "first.json")
    out = verify(second, "--checkpoint", str(kept))
    assert out.exit_code == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "is a checkpoint of audit store" in lines[0] and str(kept) in lines[0]
    )


@pytest.mark.parametrize(
    "content", ["", "{}", "not json", '{"checkpoint": {"format": "x"}, "signature": ""}']
)
def test_a_malformed_checkpoint_is_bad_input(tmp_path: Path, content: str) -> None:
    db = tmp_path / "store.sqlite3"
    fill(db, 1)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = verify(db, "--checkpoint", str(bad))
    assert out.exit_code == 2 and "not an audit checkpoint" in out.stderr


def test_an_altered_checkpoint_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    fill(db, 3)
    kept = checkpoint(db, tmp_path / "checkpoint.json")
    doc = json.loads(kept.read_text())
    doc["checkpoint"]["records"] = 2
    kept.write_text(json.dumps(doc))
    out = verify(db, "--checkpoint", str(kept))
    assert out.exit_code == 2 and "signature does not match" in out.stderr


# --- unsigned records, keys -----------------------------------------------------------------------


def test_records_older_than_signing_are_unsigned_not_broken(db: Location) -> None:
    kb = load_knowledge_base(RULES)
    with AuditStore.open(db, create=True) as store:
        old = [store.record(kb, evaluate(kb, make_case(kb, {}))) for _ in range(2)]
    fill(db, 2)
    out = verify(db)
    assert out.exit_code == 0, out.output
    assert "2 signed by 1 key " in out.stdout and "2 unsigned (older than signing)" in out.stdout
    # but a record without a signature after signed ones is not accepted
    with AuditStore.open(db, create=True) as store:
        late = store.record(kb, evaluate(kb, make_case(kb, {})))
    out = verify(db)
    assert out.exit_code == 1 and f"record {late} is unsigned, after signed records" in out.stdout
    assert old[0] not in out.stdout


def test_a_signature_cannot_be_stripped(db: Location) -> None:
    ids = fill(db, 2)
    raw_sql(db, ("UPDATE records SET signature = NULL, signer = NULL WHERE id = ?", (ids[1],)))
    out = verify(db)
    assert out.exit_code == 1 and ids[1] in out.stdout


def test_the_key_is_created_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = default_key_path()
    assert not path.exists()
    fill(tmp_path / "store.sqlite3", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "PRIVATE KEY" in path.read_text()
    before = path.read_bytes()
    fill(tmp_path / "store.sqlite3", 1)  # and reused, never replaced
    assert path.read_bytes() == before


def test_the_key_from_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = create_signer(tmp_path / "mine.pem")
    monkeypatch.setenv(KEY_ENV_VAR, str(tmp_path / "mine.pem"))
    db = tmp_path / "store.sqlite3"
    fill(db, 2)
    with AuditStore.open(db) as store:
        assert {r.signer for r in store.records()} == {mine.fingerprint}
    assert not default_key_path().exists()
    monkeypatch.setenv(KEY_ENV_VAR, str(tmp_path / "missing.pem"))
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(db))
    assert out.exit_code == 1 and "cannot read the signing key" in out.stderr
    assert "Recommendation" in out.stdout  # the answer is still given


def test_a_malformed_key_file_is_named_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "MC4CAQAwBQYDK2VwBCIEIHopefullySecretButNotAKey0000000000000"
    bad = tmp_path / "bad.pem"
    bad.write_text(f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv(KEY_ENV_VAR, str(bad))
    for args in (
        ["recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(tmp_path / "s")],
        ["audit", "key"],
    ):
        out = invoke(*args)
        assert out.exit_code == 1 and str(bad) in out.stderr
        assert secret not in out.output + out.stderr


def test_the_private_key_appears_in_no_output(
    db: Location, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ids = fill(db, 3)
    outputs: list[str] = []
    for args in (
        ["audit", "list", "--json"],
        ["audit", "show", ids[0], "--json"],
        ["audit", "show", ids[1]],
        ["audit", "export"],
        ["audit", "verify", "--json"],
        ["audit", "replay", ids[2]],
        ["audit", "checkpoint"],
        ["explain", ids[0], "--json"],
    ):
        out = invoke(*args, "--audit-db", str(db))
        assert out.exit_code == 0, (args, out.output)
        outputs.append(out.output + out.stderr)
    out = invoke("audit", "key")
    outputs.append(out.output + out.stderr)
    copy = tmp_path / "copy.sqlite3"
    outputs.append(invoke("audit", "copy", "--audit-db", str(db), "--to", str(copy)).output)
    # what the store holds, on either back end, and its copy
    with AuditStore.open(db) as store:
        outputs.append(repr(store.backend.read("SELECT * FROM signers")))
        outputs.append(repr(store.backend.read("SELECT * FROM records")))
    outputs.append(copy.read_bytes().decode("latin-1"))
    key_text = default_key_path().read_text()
    der_b64 = "".join(key_text.splitlines()[1:-1])
    raw = base64.b64decode(der_b64)[-32:]
    forms = [der_b64, raw.hex(), base64.b64encode(raw).decode(), raw.decode("latin-1")]
    for text in outputs:
        for form in forms:
            assert form not in text


# --- migration ------------------------------------------------------------------------------------


def test_a_version_1_store_is_migrated_on_open(db: Location) -> None:
    kb = load_knowledge_base(RULES)
    with AuditStore.open(db, create=True) as store:
        old = [store.record(kb, evaluate(kb, make_case(kb, {}))) for _ in range(3)]
    downgrade = [
        ("DROP TABLE signers", ()),
        ("DROP TABLE store_info", ()),
        ("ALTER TABLE records DROP COLUMN signature", ()),
        ("ALTER TABLE records DROP COLUMN signer", ()),
    ]
    if is_pg(db):
        downgrade.append(("UPDATE llm_advisor_schema SET version = 1", ()))
    else:
        downgrade.append(("PRAGMA user_version = 1", ()))
    raw_sql(db, *downgrade)
    new = fill(db, 1)  # opening for writing migrates
    out = verify(db, "--json")
    data = json.loads(out.stdout)
    assert out.exit_code == 0 and data["records"] == 4, out.output
    assert data["signed"] == 1 and data["unsigned"] == 3
    with AuditStore.open(db) as store:
        assert [r.id for r in store.records()] == [*old, *new]
        assert len(store.store_id()) == 32
