"""`llm-advisor diagram`: the decision tree as PDF, SVG, PNG, DOT, Mermaid or interactive HTML."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llm_advisor.cli.options import (
    audit_db_option,
    cache_dir,
    fact_option,
    facts_file_option,
    load_kb,
    parse_assignments,
    read_case,
    rules_option,
)
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import KnowledgeBase, Value

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result


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
    metavar="pdf|svg|png|dot|mermaid|html",
    help="Output format (default: from the file name, else dot).",
)
@click.option(
    "--detail",
    is_flag=True,
    help="Draw the exact, complete decision diagram (paged PDF) instead of the overview.",
)
@click.option(
    "--book",
    is_flag=True,
    help="Write the design-review PDF: overview, one page per approach, the exact diagram as "
    "appendix pages with an index (--given, --fact and --highlight apply to every part).",
)
@click.option(
    "--approach",
    "approach",
    default=None,
    metavar="ID",
    help="Draw when this approach is recommended: prompt_engineering, rag, fine_tuning or "
    "from_scratch (the shipped rules' ids).",
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
    default=None,
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
    detail: bool,
    book: bool,
    approach: str | None,
    audit_id: str | None,
    fact_args: tuple[str, ...],
    facts_file: str | None,
    given_args: tuple[str, ...],
    rules_dir: Path | None,
    paper: str | None,
    date_text: str | None,
    audit_db: str | None,
) -> None:
    """Draw the decision tree of the rule base.

    By default a one-page overview: the questions in the rule base's order, each leaf an
    outcome or every outcome still possible there. --approach ID draws when one approach is
    recommended; --detail the exact, complete diagram (a PDF of landscape pages that print at
    full size; joining them needs poppler's pdfunite). --format html writes one self-contained
    page that walks the questions. --highlight or --fact draws one case's path bold (every
    branch at a fact it leaves unknown) and fades the rest. PDF, SVG and PNG need Graphviz's
    'dot'.

    \b
    Examples:
      llm-advisor diagram -o decision-tree.pdf
      llm-advisor diagram --approach fine_tuning -o fine-tuning.pdf
      llm-advisor diagram --detail -o appendix.pdf
      llm-advisor diagram -o tree.html
      llm-advisor diagram --format mermaid > decision-tree.mmd
      llm-advisor diagram -o case.svg --fact problem_type=knowledge
      llm-advisor diagram -o on-prem.pdf --given deployment=on_prem
    """
    from llm_advisor.diagrams.export import (
        Request,
        check_writable,
        format_for,
        render,
        sheet_for,
        write_file,
    )

    chosen = format_for(output, fmt)
    if book and (output is None or chosen != "pdf"):
        raise InputError("--book writes a PDF: give a file ending in .pdf with -o FILE")
    typed_paper = "a4" if paper is None else paper
    sheet_for(typed_paper)  # an unknown paper is bad input before any work
    if paper is not None and chosen != "pdf":
        raise InputError(f"--paper sizes PDF pages; {chosen} output has none", item="--paper")
    if chosen == "html" and (detail or approach is not None):
        option = "--detail" if detail else "--approach"
        raise InputError(
            f"{option} draws a diagram; the HTML page walks through the whole tree instead",
            item=option,
        )
    if output is None and chosen in ("pdf", "png"):
        raise InputError(
            f"{chosen.upper()} output is binary: give a file with -o FILE", item=chosen
        )
    if sum((detail, book, approach is not None)) > 1:
        raise InputError("give only one of --detail, --book and --approach ID")
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
            case = read_case(kb, fact_args, facts_file)
    given = _given(kb, given_args)
    view = "detail" if detail else "approach" if approach is not None else "overview"
    chosen_approach = _approach(kb, approach)
    request = Request(
        chosen,
        typed_paper.strip().lower(),
        stamp,
        given,
        case,
        case_note,
        view,
        chosen_approach,
        cache_dir=cache_dir(),
    )
    if book:
        from llm_advisor.diagrams.book import book as review_book

        document = review_book(kb, request)
    else:
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
        from llm_advisor.diagrams.labels import outcome_names

        if path.decision is not None:
            end = outcome_names(kb, [path.decision])[0]
        else:
            end = f"depends on {', '.join(path.unknown)}: one of " + "; ".join(
                outcome_names(kb, path.outcomes)
            )
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


def _approach(kb: KnowledgeBase, approach: str | None) -> str | None:
    """An approach id as typed (any case); an unknown one is bad input naming the choices."""
    if approach is None:
        return None
    wanted = approach.strip().lower()
    for known in kb.approach_ids:
        if known.lower() == wanted:
            return known
    raise InputError(
        f"unknown approach {approach!r} (choose one of: {', '.join(kb.approach_ids)})",
        item=approach,
    )


def _given(kb: KnowledgeBase, given_args: tuple[str, ...]) -> dict[str, Value]:
    """Normalised `--given` values; an unknown fact or value is bad input."""
    from llm_advisor.engine.language.facts import make_case

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
    """Write the one-page overview with a result's path highlighted (`consult --diagram FILE`),
    the document `diagram --fact ...` draws for the same facts.

    The format follows the file name; bad paths are `InputError`s, a missing Graphviz an
    `AdvisorError`, and nothing is left behind when writing fails.
    """
    from llm_advisor.diagrams.export import format_for, write_diagram

    fmt = format_for(path, None, format_option=False)
    document = write_diagram(
        kb,
        path,
        fmt=fmt,
        case=result.case,
        date=_date(None, fmt),
        cache_dir=cache_dir(),
        view="overview",
    )
    pages = f", {document.pages} pages" if document.pages > 1 else ""
    click.echo(f"Wrote {path} ({fmt.upper()}{pages}) with this case's path highlighted.", err=True)
