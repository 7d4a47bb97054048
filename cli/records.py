"""Where the audit store is, and reading or writing records for the commands that use it.

The one place that knows the store's default path, `$LLM_ADVISOR_AUDIT_DB`, and how a record
is loaded for `explain`, `audit show` and `diagram --highlight`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llm_advisor.cli.options import load_kb
from llm_advisor.engine.errors import AdvisorError, InputError

if TYPE_CHECKING:
    from llm_advisor.engine.audit.chain import StoredRecord
    from llm_advisor.engine.audit.store import AuditStore
    from llm_advisor.engine.inference.run import Result
    from llm_advisor.engine.language.facts import Case
    from llm_advisor.engine.language.model import KnowledgeBase

ENV_VAR = "LLM_ADVISOR_AUDIT_DB"
DB_NAME = "audit.sqlite3"

Location = Path | str
"""A SQLite file's path, or a postgresql:// URL."""


def default_path() -> Path:
    """The store in the user's data directory."""
    from llm_advisor.cli.dirs import user_dir

    return user_dir("data") / DB_NAME


def resolve_location(explicit: str | os.PathLike[str] | None = None) -> Location:
    """The store: `explicit`, else $LLM_ADVISOR_AUDIT_DB, else the default; bad → InputError."""
    raw = os.fspath(explicit) if explicit is not None else os.environ.get(ENV_VAR) or None
    if raw is None:
        return default_path()
    from llm_advisor.engine.audit.backend import is_url

    if is_url(raw):
        return raw
    if not raw.strip() or "\0" in raw:
        raise InputError(f"malformed audit store path {raw!r}", item=raw)
    if "://" in raw:
        scheme = raw.partition("://")[0]
        raise InputError(
            f"unsupported audit store {scheme}://...: give a file path or a postgresql:// URL",
            item=scheme,
        )
    path = Path(raw).expanduser()
    if path.is_dir():
        raise InputError(f"audit store path {raw} is a directory; give a file name", item=raw)
    return path


def shown(location: Location) -> str:
    """A location fit to print (a URL without its password)."""
    if isinstance(location, Path):
        return str(location)
    from llm_advisor.engine.audit.postgres import redact

    return redact(location)


def check_recordable(location: Location) -> None:
    """Refuse, before any work, a store file in a directory that does not exist (the default
    store's directory is made when it is first written)."""
    from llm_advisor.engine.outfile import missing_directory

    if not isinstance(location, Path) or location == default_path():
        return
    if (why := missing_directory(location)) is not None:
        raise InputError(f"cannot record in {location}: {why}", item=str(location))


def recording_location(audit_db: str | None, no_audit: bool) -> Location | None:
    """Where a command records its result (None with `--no-audit`), checked before any work so
    that a bad path fails at once rather than after the report."""
    if no_audit and audit_db is not None:
        raise InputError("give --audit-db or --no-audit, not both")
    if no_audit:
        return None
    location = resolve_location(audit_db)
    check_recordable(location)
    return location


def open_store(audit_db: str | None, *, must_exist: bool = False) -> AuditStore:
    """The audit store to read (a missing store reads as empty, unless it `must_exist`)."""
    from llm_advisor.engine.audit.store import AuditStore

    location = resolve_location(audit_db)
    store = AuditStore.open(location)
    if must_exist and not store.exists:
        store.close()
        where = shown(location)
        raise InputError(f"no audit store at {where}: nothing was recorded there", item=where)
    return store


def _make_default_directory(location: Location) -> None:
    if isinstance(location, Path) and location == default_path():
        try:
            location.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(
                f"cannot create the audit store directory {location.parent}: {err.strerror or err}",
                item=str(location.parent),
            ) from None


def record_result(
    location: Location, kb: KnowledgeBase, result: Result, kind: str = "recommend"
) -> tuple[str | None, str | None]:
    """Record a result; returns its audit id, or None and why it could not be recorded."""
    from llm_advisor.cli.keys import signer
    from llm_advisor.engine.audit.store import AuditStore

    try:
        _make_default_directory(location)
        key = signer()
        with AuditStore.open(location, create=True) as store:
            return store.record(kb, result, kind=kind, signer=key), None
    except AdvisorError as err:
        return None, str(err)


def report_unrecorded(problem: str) -> None:
    click.echo(
        f"Error: the recommendation was not recorded in the audit store: {problem}", err=True
    )


def replayed(
    ref: str, audit_db: str | None, rules_dir: Path | None
) -> tuple[KnowledgeBase, Result, StoredRecord]:
    """A stored record: as recorded (with its stored rules), or re-run on the rules in `rules_dir`.

    Without `rules_dir` the record is also re-run on its stored rules; a difference is reported on
    stderr (`audit verify` and `audit replay` say more).
    """
    from llm_advisor.engine.audit.replay import replay
    from llm_advisor.engine.inference.codec import result_from_json

    with open_store(audit_db) as store:
        record = store.get(ref)
        rerun = replay(store, record, load_kb(rules_dir) if rules_dir is not None else None)
    if rules_dir is not None:
        if rerun.dropped_facts:
            dropped = ", ".join(rerun.dropped_facts)
            click.echo(f"note: recorded facts this rule base does not take: {dropped}", err=True)
        return rerun.kb, rerun.result, record
    if not rerun.identical:
        click.echo(
            f"warning: record {record.id} is not reproduced by its stored rules today (differs in: "
            f"{', '.join(rerun.differences)}); showing it as recorded",
            err=True,
        )
    return rerun.kb, result_from_json(record.data, record.fingerprint), record


def recorded_case(
    ref: str, audit_db: str | None, rules_dir: Path | None
) -> tuple[KnowledgeBase, Case, str]:
    """A recorded case and the rule base to draw it on: the record's own, unless `rules_dir`;
    the third item says which record it is (for a diagram's title)."""
    from llm_advisor.engine.audit.record import case_for
    from llm_advisor.engine.inference.codec import case_from_json

    with open_store(audit_db) as store:
        record = store.get(ref)
        data = record.data
        if rules_dir is None:
            kb = store.knowledge_base(record.fingerprint)
            return kb, case_from_json(data["facts"]), f"audit record {record.id[:12]}"
    kb = load_kb(rules_dir)
    if kb.fingerprint == record.fingerprint:
        return kb, case_from_json(data["facts"]), f"audit record {record.id[:12]}"
    case, dropped = case_for(kb, data)
    note = f"audit record {record.id[:12]}, made with rule base {record.fingerprint[:12]}"
    if dropped:
        note += f"; facts this rule base lacks: {', '.join(dropped)}"
    return kb, case, note
