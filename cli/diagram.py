"""`llm-advisor diagram`: the decision tree as PDF, SVG, PNG, DOT or Mermaid."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llm_advisor.cli.options import (
    audit_db_option,
    fact_option,
    facts_file_option,
    load_kb,
    read_facts,
    rules_option,
)
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.model import KnowledgeBase, Value

if TYPE_CHECKING:
    from llm_advisor.engine.inference import Result


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="File to write (default: DOT, Mermaid or SVG text on standard output).",
)
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="pdf|svg|png|dot|mermaid",
    help="Output format (default: from the file name, else dot).",
)
@click.option(
    "--highlight",
    "audit_id",
    default=None,
    metavar="AUDIT_ID",
    help="Highlight a recorded recommendation's path (on its own rule base unless --rules).",
)
@fact_option
@facts_file_option
@click.option(
    "--given",
    "given_args",
    multiple=True,
    metavar="NAME=VALUE",
    help="Draw only the part of the tree for this fixed context (repeatable).",
)
@rules_option
@click.option(
    "--paper",
    default="a4",
    metavar="a4|letter",
    help="PDF page size, landscape (default: a4).",
)
@click.option(
    "--date",
    "date_text",
    default=None,
    metavar="YYYY-MM-DD|none",
    help="Date in the title (default: today for PDF, SVG and PNG; none for DOT and Mermaid).",
)
@audit_db_option
def diagram(
    output: Path | None,
    fmt: str | None,
    audit_id: str | None,
    fact_args: tuple[str, ...],
    facts_file: str | None,
    given_args: tuple[str, ...],
    rules_dir: Path | None,
    paper: str,
    date_text: str | None,
    audit_db: str | None,
) -> None:
    """Draw the decision tree of the rule base.

    Questions show their short text and fact name, edges the answers, leaves the recommended
    approach in its colour. --highlight or --fact draws one case's path bold and fades the
    rest. A PDF is split into landscape pages that print at full size (joining pages needs
    poppler's pdfunite); PDF, SVG and PNG need Graphviz's 'dot'.

    \b
    Examples:
      llm-advisor diagram -o decision-tree.pdf
      llm-advisor diagram --format mermaid > decision-tree.mmd
      llm-advisor diagram -o case.svg --fact problem_type=knowledge --fact budget=50k
      llm-advisor diagram -o on-prem.pdf --given deployment=on_prem
    """
    from llm_advisor.diagrams.export import Request, check_writable, format_for, render, write_file
    from llm_advisor.diagrams.paginate import PAPERS

    chosen = format_for(output, fmt)
    if paper.strip().lower() not in PAPERS:
        raise InputError(
            f"unknown paper {paper!r} (choose one of: {', '.join(PAPERS)})", item=paper
        )
    if output is None and chosen in ("pdf", "png"):
        raise InputError(
            f"{chosen.upper()} output is binary: give a file with -o FILE", item=chosen
        )
    if audit_id is not None and (fact_args or facts_file):
        raise InputError("give either --highlight AUDIT_ID or --fact/--facts, not both")
    if output is not None:
        check_writable(output, chosen)
    stamp = _date(date_text, chosen)

    case_note = ""
    if audit_id is not None:
        from llm_advisor.cli.records import recorded_case

        kb, case, case_note = recorded_case(audit_id, audit_db, rules_dir)
    else:
        kb = load_kb(rules_dir)
        case = None
        if fact_args or facts_file:
            from llm_advisor.engine.facts import make_case

            case = make_case(kb, read_facts(fact_args, facts_file))
    given = _given(kb, given_args)
    request = Request(chosen, paper.strip().lower(), stamp, given, case, case_note)
    document = render(kb, request)

    if chosen == "mermaid":
        from llm_advisor.diagrams.mermaid import too_large

        problem = too_large(document.data.decode("utf-8"))
        if problem:
            click.echo(
                f"warning: GitHub and GitLab may not draw this diagram: {problem}; "
                "draw a part of it with --given NAME=VALUE",
                err=True,
            )
    if output is None:
        click.echo(document.data.decode("utf-8"), nl=False)
    else:
        write_file(output, document.data, chosen)
        pages = f", {document.pages} pages" if document.pages > 1 else ""
        click.echo(f"Wrote {output} ({chosen.upper()}{pages}).", err=True)
    path = document.path
    if path is not None:
        if path.decision is not None:
            names = {a.id: a.name for a in kb.approaches}
            outcome = names.get(path.decision.recommendation or "", "no approach fits")
            asked = len(path.nodes) - 1
            end = f"{asked} question{'s' if asked != 1 else ''} to {outcome}"
        else:
            end = f"stops at {path.stopped_at}, which is unknown"
        click.echo(f"Highlighted path: {end}.", err=True)


def _date(text: str | None, fmt: str) -> str | None:
    """The title's date: as given, `none`, or today (or SOURCE_DATE_EPOCH) for documents."""
    if text is not None:
        if text.strip().lower() == "none":
            return None
        try:
            return date.fromisoformat(text.strip()).isoformat()
        except ValueError:
            raise InputError(
                f"bad --date {text!r}: expected YYYY-MM-DD or none", item=text
            ) from None
    if fmt in ("dot", "mermaid"):
        return None
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).date().isoformat()
    return date.today().isoformat()


def _given(kb: KnowledgeBase, given_args: tuple[str, ...]) -> dict[str, Value]:
    """Normalised `--given` values; an unknown fact or value is bad input."""
    from llm_advisor.engine.facts import make_case, parse_assignments

    raw = parse_assignments(given_args, "--given")
    case = make_case(kb, raw, use_defaults=False)
    given: dict[str, Value] = {}
    for name in raw:
        value = case.get(name)
        if value is None:
            raise InputError(f"--given {name} needs a value, not {raw[name]!r}", item=name)
        given[name] = value
    return given


def write_highlighted(kb: KnowledgeBase, result: Result, path: Path) -> None:
    """Write the decision tree with a result's path highlighted (`consult --diagram FILE`).

    The format follows the file name; bad paths are `InputError`s, a missing Graphviz an
    `AdvisorError`, and nothing is left behind when writing fails.
    """
    from llm_advisor.diagrams.export import format_for, write_diagram

    fmt = format_for(path, None, format_option=False)
    document = write_diagram(kb, path, fmt=fmt, case=result.case, date=_date(None, fmt))
    pages = f", {document.pages} pages" if document.pages > 1 else ""
    click.echo(f"Wrote {path} ({fmt.upper()}{pages}) with this case's path highlighted.", err=True)
