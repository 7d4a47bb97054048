"""`llm-advisor audit`: list, show, export and copy the recorded recommendations; the checks of
whether they can be trusted are in `audit_trust`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llm_advisor.cli.audit_trust import checkpoint, key, replay, verify
from llm_advisor.cli.options import (
    audit_db_option,
    json_option,
    load_kb,
    output_option,
    write_text,
)
from llm_advisor.cli.records import open_store
from llm_advisor.cli.wording import json_number, plural
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.audit.chain import StoredRecord
    from llm_advisor.engine.audit.store import AuditStore

F = TypeVar("F", bound=Callable[..., Any])


def filter_options(func: F) -> F:
    """--since, --approach and --fingerprint, shared by `list` and `export`."""
    func = click.option(
        "--fingerprint",
        metavar="HEX",
        default=None,
        help="Only records of this rule base (a prefix).",
    )(func)
    func = click.option(
        "--approach",
        metavar="ID",
        default=None,
        help="Only records whose recommendation (not a partner) is this approach.",
    )(func)
    func = click.option(
        "--since",
        metavar="WHEN",
        default=None,
        help="Only records from this date, time or duration ago (2024-05-01, 7d).",
    )(func)
    return func


def parse_since(text: str, now: datetime | None = None) -> str:
    """A --since value (a date, an ISO time, or a duration back from now such as 7d) as a timestamp."""
    from llm_advisor.engine.audit.store import timestamp
    from llm_advisor.engine.language import quantity

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
    return timestamp(moment)


def _selected(
    store: AuditStore, since: str | None, approach: str | None, fingerprint: str | None
) -> list[StoredRecord]:
    if fingerprint is not None and not all(ch in "0123456789abcdefABCDEF" for ch in fingerprint):
        raise InputError(
            f"bad --fingerprint {fingerprint!r}: expected hex digits", item=fingerprint
        )
    if approach is not None:
        approach = approach.strip().lower()  # ids are lower case: RAG means rag
        if not re.fullmatch(r"[a-z][a-z0-9_]*", approach):
            raise InputError(
                f"bad --approach {approach!r}: expected an approach id such as rag", item=approach
            )
        shipped = load_kb(None).approach_ids
        if approach not in shipped:  # only then are the records read
            known = _approach_ids(store, shipped)
            if approach not in known:
                raise InputError(
                    f"--approach {approach}: not an approach of the rule base "
                    f"(one of: {', '.join(known)})",
                    item=approach,
                )
    start = parse_since(since) if since is not None else None
    return store.records(since=start, approach=approach, fingerprint=fingerprint)


def _approach_ids(store: AuditStore, shipped: tuple[str, ...]) -> list[str]:
    """The approaches of the shipped rule base, then any other that a record names (recorded
    with another rule base), so that a misspelt id is caught and an old record still found."""
    ids = dict.fromkeys(shipped)
    for record in store.records():
        for name in (record.recommendation, *record.data.get("combine_with", [])):
            if isinstance(name, str):
                ids[name] = None
    return list(ids)


def summary_json(record: StoredRecord) -> dict[str, Any]:
    data = record.data
    return {
        "id": record.id,
        "created": record.created,
        "kind": record.kind,
        "recommendation": record.recommendation,
        "combine_with": data.get("combine_with", []),
        "fingerprint": record.fingerprint,
        "tool_version": data.get("tool_version"),
        "given": {
            f["name"]: json_number(f["value"])
            for f in data.get("facts", [])
            if f["status"] == "given"
        },
    }


@click.group()
def audit() -> None:
    """Inspect the hash-chained audit trail of recommendations."""


@audit.command("list")
@filter_options
@json_option
@audit_db_option
def list_records(
    since: str | None,
    approach: str | None,
    fingerprint: str | None,
    as_json: bool,
    audit_db: str | None,
) -> None:
    """List recorded recommendations, oldest first.

    \f
    Every row is made before any is printed: a record that cannot be read (AuditError naming
    it) stops the command with nothing printed, never with part of the table.
    """
    with open_store(audit_db) as store:
        records = _selected(store, since, approach, fingerprint)
    if as_json:
        click.echo(json.dumps([summary_json(r) for r in records], indent=2, ensure_ascii=False))
        return
    lines = [_list_line(record) for record in records]
    if records:
        lines.insert(
            0, f"{'ID':<12}  {'CREATED (UTC)':<19}  {'KIND':<9}  {'RULE BASE':<12}  RECOMMENDATION"
        )
    lines.append(plural(len(records), "record"))
    click.echo("\n".join(lines))


def _list_line(record: StoredRecord) -> str:
    combined = "".join(f" + {a}" for a in record.data.get("combine_with", []))
    created = record.created[:19].replace("T", " ")
    outcome = (record.recommendation or "(none)") + combined
    return f"{record.id:<12}  {created:<19}  {record.kind:<9}  {record.fingerprint[:12]:<12}  {outcome}"


@audit.command("show")
@click.argument("audit_id")
@json_option
@audit_db_option
def show(audit_id: str, as_json: bool, audit_db: str | None) -> None:
    """Show one record with its full explanation."""
    from llm_advisor.cli.explain import explanation_json, print_explanation
    from llm_advisor.cli.records import replayed
    from llm_advisor.engine.analysis.explanation import explain

    kb, result, record = replayed(audit_id, audit_db, None)
    ex = explain(kb, result)
    data = record.data
    if as_json:
        out = {**record.export(), "explanation": explanation_json(kb, ex, record.id)}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(click.style(f"Audit record {record.id}", bold=True))
    click.echo(
        f"  recorded:   {record.created} by llm-advisor {data.get('tool_version')} ({record.kind})"
    )
    files = ", ".join(f["name"] for f in data["rulebase"]["files"])
    click.echo(f"  rule base:  {record.fingerprint[:12]} ({files})")
    click.echo(f"  hash:       {record.hash}")
    previous = data.get("prev_id")
    follows = f"{previous} (hash {record.prev_hash[:16]})" if previous else "the start of the chain"
    click.echo(f"  follows:    {follows}")
    click.echo()
    print_explanation(kb, ex)


@audit.command("export")
@output_option
@filter_options
@audit_db_option
def export(
    output: str | None,
    since: str | None,
    approach: str | None,
    fingerprint: str | None,
    audit_db: str | None,
) -> None:
    """Export records as JSON Lines (record, previous hash, hash)."""
    with open_store(audit_db) as store:
        records = _selected(store, since, approach, fingerprint)
    lines = "".join(
        json.dumps(r.export(), sort_keys=True, ensure_ascii=False) + "\n" for r in records
    )
    write_text(output, lines, "jsonl")
    if output is not None and output != "-":
        click.echo(f"{plural(len(records), 'record')} written to {output}", err=True)


@audit.command("copy")
@click.option(
    "--to",
    "target",
    metavar="PATH|URL",
    required=True,
    help="The empty store to copy into: a SQLite file or a postgresql:// URL.",
)
@audit_db_option
def copy(target: str, audit_db: str | None) -> None:
    """Copy every record into another store (SQLite to PostgreSQL or back) and verify the copy."""
    from llm_advisor.cli.records import check_recordable, resolve_location, shown

    destination = resolve_location(target)
    check_recordable(destination)
    with open_store(audit_db, must_exist=True) as source:
        if shown(destination) == source.location:
            raise InputError(f"--to names the store being copied ({source.location})")
        from llm_advisor.engine.audit.store import AuditStore

        with AuditStore.open(destination, create=True) as copied:
            report = source.copy_to(copied)
    if not report.ok:
        click.echo(f"BROKEN: the copy in {shown(destination)} does not verify: {report.problem}")
        raise click.exceptions.Exit(1)
    click.echo(
        f"Copied {plural(report.count, 'record')} to {shown(destination)}; the copy verifies (head {report.head[:16]})"
    )


for command in (verify, checkpoint, key, replay):
    audit.add_command(command)
