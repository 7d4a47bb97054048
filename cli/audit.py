"""`llm-advisor audit`: list, show, verify, replay, export, copy and checkpoint the recorded
recommendations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llm_advisor.cli.options import audit_db_option, json_option, load_kb, rules_option
from llm_advisor.cli.records import open_store
from llm_advisor.cli.wording import json_number, plural
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.audit.chain import StoredRecord
    from llm_advisor.engine.audit.replay import Replay
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
        "--approach", metavar="ID", default=None, help="Only records recommending this approach."
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


output_option = click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    default=None,
    help="Write to FILE instead of stdout.",
)


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


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    metavar="FILE",
    default=None,
    help="Also prove the store an append-only extension of this checkpoint (audit checkpoint).",
)
@click.option(
    "--public-key",
    "public_keys",
    metavar="FILE",
    multiple=True,
    help="Check every signature against this trusted public key (repeatable), not the store's"
    " own copies.",
)
@json_option
@audit_db_option
def verify(
    checkpoint_file: str | None, public_keys: tuple[str, ...], as_json: bool, audit_db: str | None
) -> None:
    """Recompute the hash chain and check the signatures; exit 1 naming the first broken record.

    \b
    The chain alone catches edits that were not re-hashed. Signatures say who wrote each record
    (--public-key: against keys you trust). --checkpoint catches any rewrite of the records a
    checkpoint kept elsewhere covers, even by someone holding the key.
    """
    from llm_advisor.engine.audit.signing import fingerprint, read_public_key
    from llm_advisor.engine.audit.trust import Checkpoint, check_extension, check_signatures

    trusted = {fingerprint(k): k for k in (read_public_key(Path(f)) for f in public_keys)}
    checkpoint = None
    if checkpoint_file is not None:
        try:
            text = Path(checkpoint_file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else "not text"
            raise InputError(
                f"cannot read checkpoint {checkpoint_file}: {why}", item=checkpoint_file
            ) from None
        checkpoint = Checkpoint.parse(text, checkpoint_file)
        if trusted and checkpoint.signer not in trusted:
            raise InputError(
                f"{checkpoint_file} is signed by key {checkpoint.signer[:16]}, not by a trusted key",
                item=checkpoint_file,
            )
    with open_store(audit_db, must_exist=True) as store, store.snapshot():
        rows, _, report = store.checked()
        extension = (
            check_extension(store, checkpoint, checkpoint_file)
            if checkpoint is not None and checkpoint_file is not None
            else None
        )
        signatures = check_signatures(rows, trusted or store.signers(), trusted=bool(trusted))
    problem, record_id = report.problem, report.record_id
    kind: str | None = report.kind
    if problem is None and extension is not None and not extension.ok:
        problem, record_id, kind = extension.problem, extension.record_id, "rewritten"
    if problem is None and not signatures.ok:
        problem, record_id, kind = signatures.problem, signatures.record_id, "signature"
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": problem is None,
                    "records": report.count,
                    "head": report.head or None,
                    "problem": problem,
                    "record": record_id,
                    "kind": kind,
                    "signed": signatures.signed,
                    "unsigned": signatures.unsigned,
                    "signers": list(signatures.keys),
                    "trusted_keys": sorted(trusted),
                    "checkpoint": None
                    if checkpoint is None
                    else {
                        "records": checkpoint.records,
                        "head": checkpoint.head,
                        "time": checkpoint.time,
                        "signer": checkpoint.signer,
                    },
                },
                indent=2,
            )
        )
    elif problem is None:
        click.echo(f"OK: {plural(report.count, 'record')}, chain intact (head {report.head[:16]})")
        keys = "trusted" if trusted else "the store's"
        line = f"  signatures: {signatures.signed} signed by {plural(len(signatures.keys), 'key')} ({keys})"
        if signatures.unsigned:
            line += f"; {signatures.unsigned} unsigned (older than signing)"
        click.echo(line)
        if checkpoint is not None:
            click.echo(
                f"  extends the checkpoint of {plural(checkpoint.records, 'record')} made {checkpoint.time}"
            )
    else:
        click.echo(f"BROKEN: {problem}")
    if problem is not None:
        raise click.exceptions.Exit(1)


@audit.command("checkpoint")
@output_option
@audit_db_option
def checkpoint(output: str | None, audit_db: str | None) -> None:
    """Write a signed statement of the store's state, to keep elsewhere.

    It names the store, its number of records and head hash, the time and your public key.
    Keep it outside the store (a ticket, a wiki page, a git repository, an email); later
    `audit verify --checkpoint FILE` proves the store only grew since.
    """
    from llm_advisor.cli.keys import signer
    from llm_advisor.engine.audit.trust import make_checkpoint

    key = signer()
    with open_store(audit_db, must_exist=True) as store:
        made = make_checkpoint(store, key)
    _write_text(output, made.to_json(), "json")
    click.echo(
        f"Checkpoint of {plural(made.records, 'record')}, head {made.head[:16]}, signed by key"
        f" {made.signer[:16]}" + (f", written to {output}" if output not in (None, "-") else ""),
        err=True,
    )


@audit.command("key")
@output_option
def key(output: str | None) -> None:
    """Print your public signing key (PEM), for reviewers to trust with --public-key.

    The private key stays in its file ($LLM_ADVISOR_SIGNING_KEY, else your configuration
    directory, created on first use readable by you only).
    """
    from llm_advisor.cli.keys import signer
    from llm_advisor.engine.audit.signing import public_key_pem

    mine = signer()
    _write_text(output, public_key_pem(mine.public), "pem")
    click.echo(f"Key fingerprint {mine.fingerprint}", err=True)


def _write_text(output: str | None, text: str, kind: str) -> None:
    """`text` to stdout, or to the file `output` written whole or not at all."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    from llm_advisor.engine.outfile import write_output

    try:
        write_output(Path(output), text.encode("utf-8"), kind)
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}", item=output) from None


@audit.command("replay")
@click.argument("audit_id")
@rules_option
@click.option("--current", is_flag=True, help="Replay against today's shipped rules.")
@json_option
@audit_db_option
def replay(
    audit_id: str, rules_dir: Path | None, current: bool, as_json: bool, audit_db: str | None
) -> None:
    """Re-run a record against its stored rules, or other rules.

    Without --rules or --current the stored rules are used and any difference exits 1. With
    --rules DIR or --current the report says whether the recommendation is the same and which
    rules fire differently.
    """
    from llm_advisor.engine.audit.replay import replay as replay_record

    if rules_dir is not None and current:
        raise InputError("give --rules DIR or --current, not both")
    with open_store(audit_db) as store:
        record = store.get(audit_id)
        other = load_kb(rules_dir) if (rules_dir is not None or current) else None
        rerun = replay_record(store, record, other)
    against = (
        "its stored rules"
        if other is None
        else (f"the rules in {rules_dir}" if rules_dir is not None else "today's shipped rules")
    )
    if as_json:
        click.echo(json.dumps(replay_json(rerun, against), indent=2, ensure_ascii=False))
    else:
        print_replay(rerun, against)
    if other is None and not rerun.identical:
        raise click.exceptions.Exit(1)


def replay_json(rerun: Replay, against: str) -> dict[str, Any]:
    return {
        "id": rerun.record_id,
        "against": against,
        "fingerprint": rerun.fingerprint,
        "recorded_fingerprint": rerun.recorded_fingerprint,
        "identical": rerun.identical,
        "same_recommendation": rerun.same_recommendation,
        "recorded": {
            "recommendation": rerun.recorded_recommendation,
            "combine_with": list(rerun.recorded_combine_with),
        },
        "now": {"recommendation": rerun.recommendation, "combine_with": list(rerun.combine_with)},
        "differences": list(rerun.differences),
        "rule_changes": [
            {"rule": c.rule_id, "change": c.change, "title": c.title} for c in rerun.rule_changes
        ],
        "dropped_facts": list(rerun.dropped_facts),
    }


def print_replay(rerun: Replay, against: str) -> None:
    from llm_advisor.cli.explain import outcome_text

    kb = rerun.kb
    base = f"rule base {rerun.fingerprint[:12]}"
    if rerun.fingerprint != rerun.recorded_fingerprint:
        base += f"; recorded with {rerun.recorded_fingerprint[:12]}"
    click.echo(f"Replay of {rerun.record_id} against {against} ({base})")
    click.echo(
        f"  recorded: {outcome_text(kb, rerun.recorded_recommendation, rerun.recorded_combine_with)}"
    )
    click.echo(f"  now:      {outcome_text(kb, rerun.recommendation, rerun.combine_with)}")
    if rerun.identical:
        click.echo("  same: the record is reproduced exactly")
    elif rerun.same_recommendation:
        click.echo(f"  same recommendation; different in: {', '.join(rerun.differences)}")
    else:
        click.echo("  different: the recommendation changed")
    labels = {"now": "fires now", "then": "no longer fires", "differently": "fires differently"}
    if rerun.rule_changes:
        click.echo("  rules whose firing changed:")
        for change in rerun.rule_changes:
            click.echo(f"    {change.rule_id}: {labels[change.change]} ({change.title})")
    if rerun.dropped_facts:
        click.echo(
            f"  recorded facts this rule base does not take: {', '.join(rerun.dropped_facts)}"
        )


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
    _write_text(output, lines, "jsonl")
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
    from llm_advisor.cli.records import resolve_location, shown

    destination = resolve_location(target)
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
