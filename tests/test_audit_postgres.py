"""The audit store on a real PostgreSQL server: the CLI end to end, copying between back ends,
unreachable servers and bad credentials, and secrets kept out of every output."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from postgres import PASSWORD, Server
from test_audit_cli import recommend

from llm_advisor.cli.main import cli
from llm_advisor.engine.audit.store import AuditStore

KBS = Path(__file__).parent / "kbs"
RULES = str(KBS / "audit")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line(out: Result, code: int) -> str:
    assert out.exit_code == code, (out.exit_code, out.output)
    assert "Traceback" not in out.output + out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.fixture
def url(pg: Server) -> str:
    return pg.url(pg.database())


def test_every_audit_command_works_on_postgresql(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_ADVISOR_AUDIT_DB", url)  # the environment variable selects it too
    ids = [recommend(url, "size=2M", "urgent=yes"), recommend(url, "budget=$300k")]
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2k", "--json")
    assert out.exit_code == 0
    ids.append(json.loads(out.stdout)["audit_id"])
    listed = json.loads(invoke("audit", "list", "--json").stdout)
    assert [row["id"] for row in listed] == ids
    assert invoke("audit", "verify").stdout.startswith("OK: 3 records, chain intact")
    shown = invoke("audit", "show", ids[0][:6])
    assert shown.exit_code == 0 and f"Audit record {ids[0]}" in shown.stdout
    assert invoke("audit", "replay", ids[1]).exit_code == 0
    assert invoke("explain", ids[0], "--json").exit_code == 0
    drawn = invoke("diagram", "--highlight", ids[0], "--format", "dot")
    assert drawn.exit_code == 0 and "digraph" in drawn.stdout
    exported = invoke("audit", "export", "-o", str(tmp_path / "all.jsonl"))
    assert exported.exit_code == 0
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert [json.loads(line)["record"]["id"] for line in lines] == ids


def test_copy_sqlite_to_postgresql_and_back(url: str, tmp_path: Path) -> None:
    local = str(tmp_path / "local.sqlite3")
    ids = [
        recommend(local, "size=2M"),
        recommend(local, "color=blue"),
        recommend(local, "budget=$5k"),
    ]
    out = invoke("audit", "copy", "--audit-db", local, "--to", url)
    assert out.exit_code == 0, out.output
    assert "Copied 3 records" in out.stdout and "the copy verifies" in out.stdout
    assert PASSWORD not in out.output
    back = str(tmp_path / "back.sqlite3")
    out = invoke("audit", "copy", "--audit-db", url, "--to", back)
    assert out.exit_code == 0, out.output
    exports = [
        invoke("audit", "export", "--audit-db", where).stdout for where in (local, url, back)
    ]
    assert exports[0] == exports[1] == exports[2] and len(exports[0].splitlines()) == 3
    assert invoke("audit", "verify", "--audit-db", back).exit_code == 0
    # the copy goes on as a chain of its own
    recommend(url, "size=1M")
    with AuditStore.open(url) as store:
        assert [r.id for r in store.records()][:3] == ids and store.verify().ok
    # a store that already holds records is never merged into
    message = one_line(invoke("audit", "copy", "--audit-db", local, "--to", url), 2)
    assert "already holds records" in message and PASSWORD not in message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("problem", ["unreachable", "bad password", "unknown database"])
def test_a_server_that_refuses_fails_in_one_line_and_loses_nothing(
    pg: Server, url: str, tmp_path: Path, problem: str
) -> None:
    bad = {
        "unreachable": f"postgresql://advisor:{PASSWORD}@127.0.0.1:{_closed_port()}/audit",
        "bad password": pg.url(url.rsplit("/", 1)[1], password=PASSWORD + "-wrong"),
        "unknown database": pg.url("no_such_database"),
    }[problem]
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--json", "--audit-db", bad)
    line = one_line(out, 1)
    assert "not recorded" in line and "cannot connect to the audit store" in line
    assert json.loads(out.stdout)["recommendation"] == "fancy"  # the answer is still given
    for args in (["audit", "list"], ["audit", "verify"], ["explain", "abc"]):
        out = invoke(*args, "--audit-db", bad)
        assert "cannot connect" in one_line(out, 1)
        assert PASSWORD not in out.output and PASSWORD not in out.stderr
    # the store that works is untouched, and recording there still works
    good = recommend(url, "size=2M")
    with AuditStore.open(url) as store:
        assert [r.id for r in store.records()] == [good] and store.verify().ok


def test_credentials_never_reach_records_or_messages(pg: Server, url: str) -> None:
    audit_id = recommend(url, "size=2M")
    for args in (["audit", "export"], ["audit", "show", audit_id, "--json"], ["audit", "verify"]):
        out = invoke(*args, "--audit-db", url)
        assert out.exit_code == 0 and PASSWORD not in out.output + out.stderr
    with psycopg.connect(url) as conn:
        for table in ("records", "blobs", "rulebase_files", "chain_head"):
            dump = conn.execute(f"SELECT t::text FROM {table} t").fetchall()
            assert all(PASSWORD not in row[0] for row in dump)
    shown = one_line(invoke("audit", "show", "fff", "--audit-db", url), 2)
    assert "postgresql://advisor@127.0.0.1" in shown and PASSWORD not in shown


def test_the_password_may_come_from_a_password_file(
    pg: Server, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg.port}:*:advisor:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    without = pg.url(url.rsplit("/", 1)[1], password=None)
    audit_id = recommend(without, "size=2M")
    assert invoke("audit", "show", audit_id, "--audit-db", without).exit_code == 0


def test_a_reader_needs_only_select(pg: Server, url: str) -> None:
    """The privileges the README documents: readers need SELECT only."""
    audit_id = recommend(url, "size=2M")
    database = url.rsplit("/", 1)[1]
    pg.admin("DROP ROLE IF EXISTS reviewer")
    pg.admin(f"CREATE ROLE reviewer LOGIN PASSWORD '{PASSWORD}'")
    pg.admin(f"GRANT CONNECT ON DATABASE {database} TO reviewer")
    pg.admin("GRANT USAGE ON SCHEMA public TO reviewer", database)
    pg.admin("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reviewer", database)
    reader = pg.url(database, role="reviewer")
    for args in (["audit", "verify"], ["audit", "list"], ["audit", "show", audit_id]):
        out = invoke(*args, "--audit-db", reader)
        assert out.exit_code == 0, out.output + out.stderr
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", reader)
    assert "permission denied" in one_line(out, 1)


def test_a_database_of_other_tables_is_refused_and_left_alone(pg: Server) -> None:
    database = pg.database()
    pg.admin("CREATE TABLE records (x integer)", database)
    out = invoke("recommend", "--rules", RULES, "--fact", "size=2M", "--audit-db", pg.url(database))
    assert "not an audit store" in one_line(out, 1)
    with psycopg.connect(pg.url(database)) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert [row[0] for row in tables] == ["records"]


@pytest.mark.parametrize(
    "url",
    [f"postgresql://advisor:{PASSWORD}@127.0.0.1:99999/audit", "postgresql://127.0.0.1:5432"],
)
def test_a_malformed_url_is_bad_input_without_its_password(url: str) -> None:
    out = invoke("audit", "list", "--audit-db", url)
    assert "malformed audit store URL" in one_line(out, 2)
    assert PASSWORD not in out.output + out.stderr


def test_a_writer_waiting_too_long_for_the_lock_fails_cleanly(url: str) -> None:
    from llm_advisor.engine.audit.backend import AuditError
    from llm_advisor.engine.audit.postgres import LOCK_KEY
    from llm_advisor.engine.inference.run import evaluate
    from llm_advisor.engine.language.facts import make_case
    from llm_advisor.engine.language.loader import load_knowledge_base

    first = recommend(url, "size=2M")
    kb = load_knowledge_base(RULES)
    result = evaluate(kb, make_case(kb, {}))
    with psycopg.connect(url) as holder:  # another machine's writer, inside its transaction
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        with AuditStore.open(url, create=True, timeout=0.3) as store:
            with pytest.raises(AuditError, match="cannot write the audit store") as caught:
                store.record(kb, result)
            assert PASSWORD not in str(caught.value)
        holder.rollback()
    with AuditStore.open(url, create=True) as store:
        assert [r.id for r in store.records()] == [first]
        store.record(kb, result)  # the lock is free again
        assert store.verify().ok and store.count() == 2
