"""`llm-advisor recommend`: one recommendation from facts given on the command line or a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.options import (
    fact_option,
    facts_file_option,
    json_option,
    load_kb,
    read_facts,
    rules_option,
)
from engine.errors import InputError


@click.command()
@fact_option
@facts_file_option
@json_option
@click.option(
    "--explain", is_flag=True, help="Show every rule that fired, with matched facts and sources."
)
@rules_option
def recommend(
    fact_args: tuple[str, ...],
    facts_file: str | None,
    as_json: bool,
    explain: bool,
    rules_dir: Path | None,
) -> None:
    """Recommend an approach for the given facts.

    \b
    Examples:
      llm-advisor recommend --fact problem_type=knowledge --fact change_frequency=weekly
      llm-advisor recommend --facts case.yaml --json
    """
    from engine.facts import make_case
    from engine.inference import evaluate

    from cli.report import print_result, result_json

    if not fact_args and facts_file is None:
        raise InputError("give facts with --fact NAME=VALUE or --facts FILE (see --help)")
    kb = load_kb(rules_dir)
    raw = read_facts(fact_args, facts_file)
    result = evaluate(kb, make_case(kb, raw))
    if as_json:
        click.echo(json.dumps(result_json(kb, result), indent=2, ensure_ascii=False))
    else:
        print_result(kb, result, explain=explain)
    if result.recommendation is None:
        raise click.exceptions.Exit(1)
