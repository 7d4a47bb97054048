"""`recommend` recording and the `audit` commands, through click's CliRunner on real stores."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Location, has_tables, location, raw_sql
from cli_helpers import imported
from click.testing import CliRunner, Result

from llm_advisor.cli.main import cli
from llm_advisor.cli.records import ENV_VAR
from llm_advisor.engine.audit.chain import GENESIS, canonical, chain_hash
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.language.loader import load_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
KBS = Path(__file__).parent / "kbs"
RULES = str(KBS / "audit")


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def recommend(db: Location, *facts: str, rules: str = RULES) -> str:
    """Run `recommend --json` and return the audit id it reports."""
    args = ["recommend", "--rules", rules, "--audit-db", str(db), "--json"]
    for fact in facts:
        args += ["--fact", fact]
    out = invoke(*args)
    assert out.exit_code == 0, out.output + out.stderr
    audit_id = json.loads(out.stdout)["audit_id"]
    assert isinstance(audit_id, str)
    return audit_id


@pytest.fixture
def db(store_at: str) -> Location:
    return location(store_at)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite3"


@pytest.fixture
def filled(db: Location) -> list[str]:
    return [
        recommend(db, "size=2M", "urgent=yes", "budget=50k"),
        recommend(db, "size=2k", "color=blue"),
        recommend(db, "budget=$300k"),
    ]


def one_line_error(out: Result, code: int = 2) -> str:
    assert out.exit_code == code, (out.exit_code, out.output)
    assert "Traceback" not in out.output + out.stderr
    assert out.exception is None or isinstance(out.exception, SystemExit)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    return lines[0]


# --- recommend records ----------------------------------------------------------------------------


def test_recommend_json_reports_the_audit_id(db: Location) -> None:
    audit_id = recommend(db, "size=2M", "urgent=yes")
    with AuditStore.open(db) as store:
        record = store.get(audit_id)
    assert record.recommendation == "fancy"
    assert [f["name"] for f in record.data["facts"] if f["status"] == "given"] == ["size", "urgent"]


def test_recommend_text_mentions_the_audit_id(db: Location) -> None:
    out = invoke("recommend", "--rules", RULES, "--audit-db", str(db), "--fact", "size=2M")
    assert out.exit_code == 0
    with AuditStore.open(db) as store:
        (record,) = store.records()
    assert f"audit id: {record.id}" in out.stdout


def test_recommend_uses_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_db = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv(ENV_VAR, str(env_db))
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--json")
    assert out.exit_code == 0
    with AuditStore.open(env_db) as store:
        assert store.get(json.loads(out.stdout)["audit_id"])


def test_no_audit_records_nothing(db: Location, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(db))
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--json", "--no-audit")
    assert out.exit_code == 0 and json.loads(out.stdout)["audit_id"] is None
    assert not has_tables(db)


@pytest.mark.parametrize("bad", ["", "   "])
def test_malformed_audit_db_path_is_bad_input(bad: str) -> None:
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", bad)
    assert "audit store path" in one_line_error(out)


def test_a_directory_as_audit_db_is_bad_input(tmp_path: Path) -> None:
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(tmp_path))
    assert "directory" in one_line_error(out)
    out = invoke("audit", "list", "--audit-db", str(tmp_path))
    assert "directory" in one_line_error(out)


def test_audit_db_and_no_audit_together_is_bad_input(db: Location) -> None:
    out = invoke(
        "recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(db), "--no-audit"
    )
    one_line_error(out)


@pytest.mark.parametrize("parent", ["missing-dir", "a-file"])
def test_a_store_that_cannot_be_created_is_refused_before_the_report(
    tmp_path: Path, parent: str
) -> None:
    """A store path whose directory is missing (or is a file) is bad input: refused before any
    work, so no report is printed that then fails to be recorded."""
    if parent == "a-file":
        (tmp_path / parent).write_text("x")
    target = tmp_path / parent / "audit.db"
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(target))
    message = one_line_error(out)
    assert str(target) in message and str(target.parent) in message
    assert out.stdout == ""
    assert not target.exists()


def test_a_file_that_is_not_a_store_is_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 50)
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", str(notes))
    assert out.exit_code == 1
    assert "Recommendation: Fancy" in out.stdout and "not recorded" in out.stderr
    assert notes.read_text() == "my notes\n" * 50


def test_a_locked_store_fails_after_the_busy_timeout(
    sqlite_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_advisor.engine.audit import sqlite

    filled = [recommend(sqlite_db, "size=2M") for _ in range(2)]
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(sqlite_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        out = invoke(
            "recommend",
            "--rules",
            RULES,
            "--fact",
            "size=2M",
            "--audit-db",
            str(sqlite_db),
            "--json",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.exit_code == 1 and json.loads(out.stdout)["recommendation"] == "fancy"
    assert "not recorded" in out.stderr and "locked" in out.stderr
    assert invoke("audit", "verify", "--audit-db", str(sqlite_db)).exit_code == 0
    with AuditStore.open(sqlite_db) as store:
        assert [r.id for r in store.records()] == filled


def test_eight_cli_processes_create_one_store_at_once(db: Location) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llm_advisor",
                "recommend",
                "--rules",
                RULES,
                "--fact",
                f"size={n + 1}M",
                "--audit-db",
                str(db),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for n in range(8)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    ids = {json.loads(out)["audit_id"] for out, _ in outputs}
    with AuditStore.open(db) as store:
        assert {r.id for r in store.records()} == ids and len(ids) == 8
        assert store.verify().ok


# --- list -----------------------------------------------------------------------------------------


def test_list(db: Location, filled: list[str]) -> None:
    out = invoke("audit", "list", "--audit-db", str(db))
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ID") and lines[-1] == "3 records"
    assert [line.split()[0] for line in lines[1:-1]] == filled
    assert "fancy" in lines[1] and "exotic + cheap" in lines[3]


def test_list_json_and_filters(db: Location, filled: list[str]) -> None:
    def ids(*args: str) -> list[str]:
        out = invoke("audit", "list", "--json", "--audit-db", str(db), *args)
        assert out.exit_code == 0, out.output
        return [row["id"] for row in json.loads(out.stdout)]

    rows = json.loads(invoke("audit", "list", "--json", "--audit-db", str(db)).stdout)
    assert rows[0]["given"] == {"size": 2_000_000, "urgent": True, "budget": 50_000}
    assert isinstance(rows[0]["given"]["size"], int)
    assert rows[2]["combine_with"] == ["cheap"]
    assert ids() == filled
    assert ids("--approach", "exotic") == [filled[2]]
    assert ids("--approach", "rag") == []  # an approach of the shipped rule base
    assert ids("--approach", " Exotic") == [filled[2]]
    fingerprint = load_knowledge_base(RULES).fingerprint
    assert ids("--fingerprint", fingerprint[:8]) == filled
    assert ids("--fingerprint", fingerprint[:8].upper()) == filled
    assert ids("--since", "1d") == filled
    assert ids("--since", "2999-12-31") == []
    assert ids("--since", "2000-01-01T00:00:00Z", "--approach", "fancy") == [filled[0]]


@pytest.mark.parametrize("args", [["--since", "last tuesday"], ["--fingerprint", "xyz"]])
def test_list_bad_filters_are_bad_input(db: Location, filled: list[str], args: list[str]) -> None:
    one_line_error(invoke("audit", "list", "--audit-db", str(db), *args))


@pytest.mark.parametrize("command", ["list", "export"])
def test_an_approach_that_does_not_exist_is_bad_input(
    db: Location, filled: list[str], command: str
) -> None:
    """`--approach foo` would list nothing and look like a real answer: exit 2 naming the
    approaches there are (the shipped rule base's and any recorded ones)."""
    out = invoke("audit", command, "--audit-db", str(db), "--approach", "foo")
    assert out.exit_code == 2, out.output
    [line] = out.stderr.strip().splitlines()
    assert "--approach foo" in line and "Traceback" not in out.output
    for approach in [*load_knowledge_base(None).approach_ids, "fancy", "exotic", "cheap"]:
        assert approach in line, line


def test_list_of_a_missing_store_is_empty_and_creates_nothing(db: Location) -> None:
    out = invoke("audit", "list", "--audit-db", str(db))
    assert out.exit_code == 0 and "0 records" in out.stdout
    assert not has_tables(db)


# --- show -----------------------------------------------------------------------------------------


def test_show(db: Location, filled: list[str]) -> None:
    out = invoke("audit", "show", filled[0][:6], "--audit-db", str(db))
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert f"Audit record {filled[0]}" in text
    assert "Recommendation: Fancy" in text
    assert (
        "big-favours-fancy" in text
        and "rules.yaml:" in text
        and "because: Fancy handles volume." in text
    )
    assert "Why not the others" in text and "What would change the recommendation" in text


def test_show_json(db: Location, filled: list[str]) -> None:
    out = invoke("audit", "show", filled[1], "--json", "--audit-db", str(db))
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert data["record"]["id"] == filled[1]
    assert data["hash"] == chain_hash(data["prev_hash"], canonical(data["record"]))
    assert data["explanation"]["recommendation"] == data["record"]["recommendation"] == "cheap"
    assert data["explanation"]["audit_id"] == filled[1]


@pytest.mark.parametrize("ref", ["000000000000", "zzz", "0123456789abcdef", "-"])
def test_show_bad_ids_are_bad_input(db: Location, filled: list[str], ref: str) -> None:
    if ref in filled:
        pytest.skip("that id exists")
    message = one_line_error(invoke("audit", "show", ref, "--audit-db", str(db)))
    assert "audit id" in message


def test_show_in_a_missing_store_is_bad_input(db: Location) -> None:
    assert "unknown audit id" in one_line_error(
        invoke("audit", "show", "abc", "--audit-db", str(db))
    )


def test_show_of_a_non_store_file_is_bad_input(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n" * 200)
    message = one_line_error(invoke("audit", "show", "abc", "--audit-db", str(notes)))
    assert "not an audit store" in message


# --- verify ---------------------------------------------------------------------------------------


def test_verify_intact(db: Location, filled: list[str]) -> None:
    out = invoke("audit", "verify", "--audit-db", str(db))
    assert out.exit_code == 0 and out.stdout.startswith("OK: 3 records")
    data = json.loads(invoke("audit", "verify", "--json", "--audit-db", str(db)).stdout)
    assert data["ok"] and data["records"] == 3 and data["problem"] is None


def test_verify_of_a_missing_store_is_bad_input(db: Location) -> None:
    message = one_line_error(invoke("audit", "verify", "--audit-db", str(db)))
    assert "no audit store at" in message and not has_tables(db)


def test_verify_names_an_altered_record(db: Location, filled: list[str]) -> None:
    raw_sql(
        db,
        (
            "UPDATE records SET body = replace(body, '\"score\":8', '\"score\":9') WHERE id = ?",
            (filled[0],),
        ),
    )
    out = invoke("audit", "verify", "--audit-db", str(db))
    assert out.exit_code == 1 and f"record {filled[0]} was altered" in out.stdout
    data = json.loads(invoke("audit", "verify", "--json", "--audit-db", str(db)).stdout)
    assert not data["ok"] and data["record"] == filled[0] and data["kind"] == "altered"


def test_an_altered_record_is_never_shown_as_genuine(db: Location, filled: list[str]) -> None:
    raw_sql(
        db,
        (
            "UPDATE records SET body = replace(body, '\"score\":8', '\"score\":9') WHERE id = ?",
            (filled[0],),
        ),
    )
    for args in (
        ["audit", "show", filled[0]],
        ["audit", "replay", filled[0]],
        ["explain", filled[0]],
        ["diagram", "--highlight", filled[0], "--format", "dot"],
    ):
        out = invoke(*args, "--audit-db", str(db))
        message = one_line_error(out, 1)
        assert f"record {filled[0]} was altered: its content does not match its hash" in message
        assert out.stdout == ""
    assert invoke("audit", "show", filled[1], "--audit-db", str(db)).exit_code == 0


def test_verify_names_a_deleted_record(db: Location, filled: list[str]) -> None:
    raw_sql(db, ("DELETE FROM records WHERE id = ?", (filled[1],)))
    out = invoke("audit", "verify", "--audit-db", str(db))
    assert out.exit_code == 1 and f"record {filled[1]} was deleted" in out.stdout


def test_a_body_that_is_not_json_is_named_by_verify_list_and_export(
    db: Location, filled: list[str]
) -> None:
    raw_sql(db, ("UPDATE records SET body = ? WHERE id = ?", ("{not json", filled[1])))
    out = invoke("audit", "verify", "--audit-db", str(db))
    assert out.exit_code == 1, out.output
    assert (
        out.stdout
        == f"BROKEN: record {filled[1]} was altered: its content does not match its hash\n"
    )
    data = json.loads(invoke("audit", "verify", "--json", "--audit-db", str(db)).stdout)
    assert not data["ok"] and data["record"] == filled[1] and data["kind"] == "altered"
    for args in (["list"], ["list", "--json"], ["export"]):
        out = invoke("audit", *args, "--audit-db", str(db))
        message = one_line_error(out, 1)
        assert f"record {filled[1]} was altered: its content is not a JSON object" in message
        assert out.stdout == ""  # no part of the table or export before the error


def test_a_deleted_chain_head_is_reported_as_tampering(db: Location, filled: list[str]) -> None:
    raw_sql(db, ("DELETE FROM chain_head", ()))
    out = invoke("audit", "verify", "--audit-db", str(db))
    assert out.exit_code == 1 and out.stdout.startswith("BROKEN: the chain head was deleted")
    data = json.loads(invoke("audit", "verify", "--json", "--audit-db", str(db)).stdout)
    assert not data["ok"] and data["kind"] == "deleted" and data["record"] is None
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2k", "--audit-db", str(db))
    message = one_line_error(out, 1)
    assert "not recorded" in message and "the chain head was deleted" in message
    with AuditStore.open(db) as store:
        assert [r.id for r in store.records()] == filled and store.head() is None
    message = one_line_error(invoke("audit", "checkpoint", "--audit-db", str(db)), 1)
    assert "the chain head was deleted" in message


# --- replay ---------------------------------------------------------------------------------------


def test_replay_against_stored_rules_after_the_rules_changed(tmp_path: Path, db: Location) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(KBS / "audit", rules)
    audit_id = recommend(db, "size=2M", "urgent=yes", "budget=50k", rules=str(rules))
    path = rules / "rules.yaml"
    path.write_text(path.read_text().replace("score: {fancy: 4, cheap: -1}", "score: {cheap: 6}"))
    out = invoke("audit", "replay", audit_id, "--audit-db", str(db))
    assert out.exit_code == 0, out.output
    assert (
        "against its stored rules" in out.stdout
        and "same: the record is reproduced exactly" in out.stdout
    )
    out = invoke("audit", "replay", audit_id, "--rules", str(rules), "--audit-db", str(db))
    assert out.exit_code == 0
    assert "different: the recommendation changed" in out.stdout
    assert "urgent-favours-fancy: fires differently" in out.stdout
    data = json.loads(
        invoke(
            "audit", "replay", audit_id, "--rules", str(rules), "--json", "--audit-db", str(db)
        ).stdout
    )
    assert data["identical"] is False and data["same_recommendation"] is False
    assert (
        data["recorded"]["recommendation"] == "fancy" and data["now"]["recommendation"] == "cheap"
    )
    assert data["rule_changes"] == [
        {"rule": "urgent-favours-fancy", "change": "differently", "title": "Urgency favours fancy"}
    ]
    same = json.loads(invoke("audit", "replay", audit_id, "--json", "--audit-db", str(db)).stdout)
    assert same["identical"] is True and same["differences"] == [] and same["rule_changes"] == []


def test_replay_of_a_record_its_rules_no_longer_reproduce_exits_1(
    db: Location, filled: list[str]
) -> None:
    with AuditStore.open(db) as store:
        record = store.get(filled[0])
    body = record.body.replace('"score":8', '"score":9')
    raw_sql(
        db,
        (
            "UPDATE records SET body = ?, hash = ? WHERE id = ?",
            (body, chain_hash(record.prev_hash, body), filled[0]),
        ),
    )
    out = invoke("audit", "replay", filled[0], "--audit-db", str(db))
    assert out.exit_code == 1 and "ranking" in out.stdout
    # show and explain still present the record as stored, with a warning
    for args in (["audit", "show", filled[0]], ["explain", filled[0]]):
        out = invoke(*args, "--audit-db", str(db))
        assert out.exit_code == 0, out.output
        assert "not reproduced by its stored rules" in out.stderr
        assert "Cheap: score +2, 7 behind" in out.stdout


@pytest.fixture(scope="module")
def shipped() -> str:
    from llm_advisor.engine.language.loader import default_rules_dir

    try:
        load_knowledge_base()
    except RuleError as err:  # the shipped rule base is being written concurrently
        pytest.skip(f"shipped rule base does not load: {err}")
    return str(default_rules_dir())


def test_replay_current_against_the_shipped_rules(db: Location, shipped: str) -> None:
    audit_id = recommend(db, "problem_type=knowledge", "change_frequency=weekly", rules=shipped)
    out = invoke("audit", "replay", audit_id, "--current", "--json", "--audit-db", str(db))
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["identical"] and data["against"] == "today's shipped rules"
    other = recommend(db, "size=2M", "urgent=yes")
    data = json.loads(
        invoke("audit", "replay", other, "--current", "--json", "--audit-db", str(db)).stdout
    )
    assert set(data["dropped_facts"]) == {"size", "urgent"}


def test_replay_bad_input(db: Location, filled: list[str], tmp_path: Path) -> None:
    one_line_error(invoke("audit", "replay", "nothex", "--audit-db", str(db)))
    one_line_error(
        invoke("audit", "replay", filled[0], "--current", "--rules", RULES, "--audit-db", str(db))
    )
    one_line_error(
        invoke(
            "audit", "replay", filled[0], "--rules", str(tmp_path / "none"), "--audit-db", str(db)
        )
    )


# --- export ---------------------------------------------------------------------------------------


def _check_lines(lines: list[str]) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in lines]
    previous = GENESIS
    for row in rows:
        assert row["prev_hash"] == previous
        assert row["hash"] == chain_hash(row["prev_hash"], canonical(row["record"]))
        previous = row["hash"]
    return rows


def test_export_to_stdout(db: Location, filled: list[str]) -> None:
    out = invoke("audit", "export", "--audit-db", str(db))
    assert out.exit_code == 0
    rows = _check_lines(out.stdout.splitlines())
    assert [row["record"]["id"] for row in rows] == filled


def test_export_to_a_file(db: Location, filled: list[str], tmp_path: Path) -> None:
    target = tmp_path / "trail.jsonl"
    out = invoke("audit", "export", "-o", str(target), "--audit-db", str(db))
    assert out.exit_code == 0 and out.stdout == ""
    rows = _check_lines(target.read_text().splitlines())
    assert len(rows) == 3
    filtered = invoke("audit", "export", "--approach", "cheap", "--audit-db", str(db))
    assert [json.loads(line)["record"]["id"] for line in filtered.stdout.splitlines()] == [
        filled[1]
    ]


def test_export_to_an_unwritable_place_is_bad_input(
    db: Location, filled: list[str], tmp_path: Path
) -> None:
    one_line_error(
        invoke(
            "audit", "export", "-o", str(tmp_path / "missing" / "x.jsonl"), "--audit-db", str(db)
        )
    )


@pytest.mark.parametrize("command", [["list"], ["verify"], ["export"], ["checkpoint"]])
def test_reading_commands_import_no_inference(sqlite_db: Path, command: list[str]) -> None:
    """Reading the store needs no inference engine (durable_rules costs a cold start dearly)."""
    recommend(sqlite_db, "size=2M")
    modules = imported(["audit", *command, "--audit-db", str(sqlite_db)], check=True)
    assert "llm_advisor.engine.audit.store" in modules
    assert not {m for m in modules if m.startswith(("durable", "llm_advisor.engine.inference"))}


def test_copy_into_a_missing_directory_is_refused_before_any_work(sqlite_db: Path) -> None:
    recommend(sqlite_db, "size=2M")
    target = sqlite_db.parent / "nowhere" / "copy.sqlite3"
    message = one_line_error(
        invoke("audit", "copy", "--audit-db", str(sqlite_db), "--to", str(target))
    )
    assert str(target.parent) in message and "does not exist" in message
    assert not target.parent.exists()
