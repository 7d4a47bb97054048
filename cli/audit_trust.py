"""`llm-advisor audit verify, checkpoint, key and replay`: whether the recorded recommendations
can be trusted (their chain, signatures and checkpoints) and whether rules still give them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llm_advisor.cli.options import (
    audit_db_option,
    json_option,
    load_kb,
    output_option,
    rules_option,
    write_text,
)
from llm_advisor.cli.records import open_store
from llm_advisor.cli.wording import plural
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    from llm_advisor.engine.audit.replay import Replay


@click.command("verify")
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


@click.command("checkpoint")
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
    write_text(output, made.to_json(), "json")
    click.echo(
        f"Checkpoint of {plural(made.records, 'record')}, head {made.head[:16]}, signed by key"
        f" {made.signer[:16]}" + (f", written to {output}" if output not in (None, "-") else ""),
        err=True,
    )


@click.command("key")
@output_option
def key(output: str | None) -> None:
    """Print your public signing key (PEM) for reviewers, who trust it with --public-key.

    The private key stays in its file ($LLM_ADVISOR_SIGNING_KEY, else your configuration
    directory, created on first use readable by you only).
    """
    from llm_advisor.cli.keys import signer
    from llm_advisor.engine.audit.signing import public_key_pem

    mine = signer()
    write_text(output, public_key_pem(mine.public), "pem")
    click.echo(f"Key fingerprint {mine.fingerprint}", err=True)


@click.command("replay")
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
