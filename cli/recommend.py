"""`llm-advisor recommend`: one recommendation from facts given on the command line or a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from llm_advisor.cli.options import (
    audit_db_option,
    fact_option,
    facts_file_option,
    json_option,
    load_kb,
    read_case,
    rules_option,
)
from llm_advisor.engine.errors import InputError


@click.command()
@fact_option
@facts_file_option
@json_option
@click.option(
    "--explain", is_flag=True, help="Show every rule that fired, with matched facts and sources."
)
@rules_option
@audit_db_option
@click.option(
    "--no-audit", is_flag=True, help="Do not record this recommendation in the audit store."
)
def recommend(
    fact_args: tuple[str, ...],
    facts_file: str | None,
    as_json: bool,
    explain: bool,
    rules_dir: Path | None,
    audit_db: str | None,
    no_audit: bool,
) -> None:
    """Recommend an approach for the given facts.

    \b
    Examples:
      llm-advisor recommend --fact problem_type=knowledge --fact budget=50k
      llm-advisor recommend --facts case.yaml --json
    """
    from llm_advisor.cli.records import record_result, recording_location, report_unrecorded
    from llm_advisor.cli.report import print_result, result_json
    from llm_advisor.engine.inference.run import evaluate

    if not fact_args and facts_file is None:
        raise InputError("give facts with --fact NAME=VALUE or --facts FILE (see --help)")
    store = recording_location(audit_db, no_audit)
    kb = load_kb(rules_dir)
    result = evaluate(kb, read_case(kb, fact_args, facts_file))
    audit_id, problem = record_result(store, kb, result) if store is not None else (None, None)
    if as_json:
        click.echo(json.dumps(result_json(kb, result, audit_id), indent=2, ensure_ascii=False))
    else:
        print_result(kb, result, explain=explain)
        if audit_id is not None:
            click.echo(f"  audit id: {audit_id} (llm-advisor explain {audit_id})")
    if problem is not None:
        report_unrecorded(problem)
    if problem is not None or result.recommendation is None:
        raise click.exceptions.Exit(1)
