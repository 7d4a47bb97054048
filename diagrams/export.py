"""A diagram document from a request: choosing the format and the view, titling, highlighting,
rendering, writing.

A PDF of the exact diagram is paged (`pages`): each page is laid out by `dot` at full size on
landscape A4 or Letter, rendered to a one-page PDF, and the pages are joined by poppler's
`pdfunite` when there are several (`pdf`). SVG and PNG show the whole diagram as one picture;
DOT and Mermaid are text and need no Graphviz at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llm_advisor.engine.analysis.diagram import DecisionDiagram, compile_diagram, load_diagram
from llm_advisor.engine.analysis.highlight import CasePath, highlight, with_given
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.facts import Case, display_value
from llm_advisor.engine.language.model import KnowledgeBase, Value
from llm_advisor.engine.outfile import check_output, write_output

from . import graphviz as gv
from .labels import decision_text, outcome_names
from .pages import page_scenes
from .paginate import PAPERS, Sheet
from .pdf import one_page, pdf_document
from .scene import Leaves, build_scene

FORMATS = ("pdf", "svg", "png", "dot", "mermaid", "html")
SUFFIXES = {
    ".pdf": "pdf",
    ".svg": "svg",
    ".png": "png",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".html": "html",
    ".htm": "html",
}
APPROACH_BUDGET = 20
"""Questions a per-approach view asks at most."""
APPROACH_LEAVES = 10
"""Leaves of a per-approach view: its leaves say more than the overview's, in as many lines."""
POINTER = "(exact: --detail)"
"""Where a leaf that lists several outcomes sends the reader."""
PNG_OPTIONS = ("-Gdpi=144",)
"""PNG pixels per inch: crisp enough for wikis and slides."""


@dataclass(frozen=True)
class Request:
    """What to draw: format, paper, optional date, fixed context and highlighted case."""

    fmt: str
    paper: str = "a4"
    date: str | None = None
    given: Mapping[str, Value] = field(default_factory=dict)
    case: Case | None = None
    case_note: str = ""
    view: str = "detail"
    """`overview`, `detail`, or `approach` (when `approach` is this view's approach id)."""
    approach: str | None = None
    cache_dir: Path | None = None
    """Where the exact diagram of the whole rule base is kept between runs (none: compiled)."""


@dataclass(frozen=True)
class Document:
    """A rendered document, how many pages it has, and the highlighted path (if any)."""

    data: bytes
    pages: int
    path: CasePath | None


def format_for(path: Path | None, fmt: str | None, *, format_option: bool = True) -> str:
    """The output format: `--format` if given (which a file name of another format contradicts),
    else from the file name, else DOT (the error suggests `--format` only where the command has
    it)."""
    if fmt is not None:
        chosen = fmt.strip().lower()
        if chosen == "mmd":
            chosen = "mermaid"
        if chosen == "gv":
            chosen = "dot"
        if chosen not in FORMATS:
            raise InputError(
                f"unknown format {fmt!r} (choose one of: {', '.join(FORMATS)})", item=fmt
            )
        if path is not None and (named := SUFFIXES.get(path.suffix.lower(), chosen)) != chosen:
            raise InputError(
                f"--format {chosen} does not match the {named} file name {path.name!r}: "
                "drop --format or rename the file",
                item=str(path),
            )
        return chosen
    if path is None:
        return "dot"
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"cannot tell the format of {path.name!r} from its extension: end it in "
            f"{', '.join(SUFFIXES)}" + (" or use --format" if format_option else ""),
            item=str(path),
        )
    return found


def check_writable(path: Path, fmt: str) -> None:
    """Fail early, as bad input, when the output file could not or must not be written (it
    exists and holds something other than a `fmt` document)."""
    check_output(path, fmt)


def write_file(path: Path, data: bytes, fmt: str) -> None:
    """Write a `fmt` document whole or not at all (see `engine.outfile`)."""
    write_output(path, data, fmt)


# --- building ---------------------------------------------------------------------------------


def diagram_for(
    kb: KnowledgeBase, given: Mapping[str, Value], cache_dir: Path | None = None
) -> DecisionDiagram:
    """The whole diagram (cached on disk) or the sub-diagram below some fixed facts."""
    return compile_diagram(kb, given) if given else load_diagram(kb, cache_dir)


def case_and_detail(kb: KnowledgeBase, request: Request) -> tuple[Case | None, DecisionDiagram]:
    """The request's case with its fixed context filled in, checked before anything is compiled
    (a contradiction is bad input), and the exact diagram below that context."""
    case = None if request.case is None else with_given(kb, request.case, request.given)
    return case, diagram_for(kb, request.given, request.cache_dir)


def view_of(kb: KnowledgeBase, detail: DecisionDiagram, request: Request) -> DecisionDiagram:
    """The diagram a request draws: the exact one, the overview, or one approach's view."""
    from llm_advisor.engine.analysis.overview import recommends, summarize

    if request.view == "overview":
        return summarize(detail)
    if request.view == "approach":
        if request.approach not in kb.approach_ids:
            raise InputError(
                f"unknown approach {request.approach!r} (choose one of: "
                f"{', '.join(kb.approach_ids)})",
                item=str(request.approach),
            )
        return summarize(
            detail,
            classify=recommends(request.approach),
            budget=APPROACH_BUDGET,
            leaves=APPROACH_LEAVES,
        )
    return detail


def leaves_for(request: Request, pointer: str = POINTER) -> Leaves:
    """How the leaves of a request's view are written (`pointer`: where the exact diagram is)."""
    return Leaves(
        pointer,
        focus=request.approach if request.view == "approach" else None,
        aligned=request.view != "detail",
    )


def rulebase_text(kb: KnowledgeBase, date: str | None) -> str:
    """Which rule base a document shows, and when: `rule base 29cbe3ba9baf · 2026-11-30`."""
    return f"rule base {kb.fingerprint[:12]}" + (f" · {date}" if date else "")


def titles(
    kb: KnowledgeBase,
    request: Request,
    path: CasePath | None,
    exact: str = "llm-advisor diagram --detail",
) -> tuple[str, list[str]]:
    """The title line and subtitle paragraphs of every page (`exact`: where the exact diagram
    is); each renderer lays the paragraphs out its own way."""
    names = {a.id: a.name for a in kb.approaches}
    heading = {
        "overview": "Decision overview",
        "approach": f"When is {names.get(request.approach or '', '?')} recommended?",
    }.get(request.view, "Decision diagram")
    title = f"{heading} · {rulebase_text(kb, request.date)}"
    lines = case_lines(kb, request, path)
    if request.view == "overview":
        lines.append(
            "How to read: questions in the rule base's order, only those that narrow the "
            "choice most. A solid leaf is decided (the approach, + a partner to combine it "
            "with). A dashed leaf lists exactly the approaches still possible there, the "
            "partners they may be combined with and the facts the choice mainly depends on; "
            f"the exact diagram ({exact}) asks them."
        )
    elif request.view == "approach":
        lines.append(
            "How to read: questions in the rule base's order, only those that narrow the "
            "choice most. A solid leaf: the approach is recommended there in every case, "
            "or in none (then what is). A dashed leaf: recommended in some of its cases, "
            f"depending mainly on the facts named; the exact diagram ({exact}) asks them."
        )
    return title, lines


def given_lines(kb: KnowledgeBase, given: Mapping[str, Value]) -> list[str]:
    """The subtitle paragraph naming the fixed context a document is drawn for ("Given:
    deployment=on_prem"), or none without one; every page of a document carries it."""
    if not given:
        return []
    shown = ", ".join(
        f"{name}={display_value(kb.fact(name), value)}" for name, value in given.items()
    )
    return [f"Given: {shown}"]


def case_lines(kb: KnowledgeBase, request: Request, path: CasePath | None) -> list[str]:
    """The subtitle paragraphs about what is drawn for: the fixed context, and the highlighted
    case (given facts apart from assumed defaults, the facts its outcome depends on, and the
    outcome)."""
    lines = given_lines(kb, request.given)
    if path is not None:
        note = f" ({request.case_note})" if request.case_note else ""
        if path.decision is not None:
            main, detail = decision_text(kb, path.decision)
            outcome = " ".join([main, *detail])
        else:
            outcome = "one of " + "; ".join(outcome_names(kb, path.outcomes))
        depends = f"; depends on: {', '.join(path.unknown)}" if path.unknown else ""
        lines.append(
            f"Highlighted case{note}: {path.description or 'no facts'}{depends} → {outcome}"
        )
    return lines


def sheet_for(paper: str) -> Sheet:
    """The page of a paper name as typed (any case); an unknown one is bad input."""
    sheet = PAPERS.get(paper.strip().lower())
    if sheet is None:
        raise InputError(
            f"unknown paper {paper!r} (choose one of: {', '.join(PAPERS)})", item=paper
        )
    return sheet


def render(kb: KnowledgeBase, request: Request) -> Document:
    """Draw the diagram of a rule base in the requested format."""
    if request.fmt not in FORMATS:
        raise InputError(f"unknown format {request.fmt!r}", item=request.fmt)
    sheet = sheet_for(request.paper)
    if request.fmt in ("pdf", "svg", "png") and not gv.have_dot():
        raise gv.missing(request.fmt)
    case, detail = case_and_detail(kb, request)
    diagram = view_of(kb, detail, request)
    path = None if case is None else highlight(kb, detail, diagram, case)
    if request.fmt == "html":
        from llm_advisor.engine.analysis.walkthrough import walkthrough

        from .html import to_html

        # The walk starts from the answers the case gives; its assumed defaults are only
        # marked on their questions, as the reader has not given them.
        start: list[tuple[int, int]] = []
        assumed: list[tuple[int, int]] = []
        if case is not None and path is not None:
            status = dict(case.status)
            for i, (name, value) in enumerate(case.values):
                if value is not None:  # a known fact: its one cell
                    answer = (i, path.masks[i].bit_length() - 1)
                    (start if status[name] == "given" else assumed).append(answer)
        heading = f"Decision walkthrough · {rulebase_text(kb, request.date)}"
        notes = case_lines(kb, request, path)
        page = to_html(walkthrough(kb, detail), heading, start, notes, assumed)
        return Document(page.encode("utf-8"), 1, path)
    title, subtitle = titles(kb, request, path)
    if request.fmt == "pdf" and request.view == "detail":
        _, scenes = page_scenes(kb, diagram, path, sheet, title, subtitle)
        data, pages = pdf_document(kb, scenes, sheet)
        return Document(data, pages, path)
    scene = build_scene(
        kb, diagram, path=path, title=title, subtitle=subtitle, leaves=leaves_for(request)
    )
    if request.fmt == "pdf":
        return Document(one_page(kb, scene, sheet), 1, path)
    if request.fmt == "mermaid":
        from .mermaid import to_mermaid

        return Document(to_mermaid(kb, scene).encode("utf-8"), 1, path)
    source = gv.to_dot(kb, scene)
    if request.fmt == "dot":
        return Document(source.encode("utf-8"), 1, path)
    return Document(
        gv.run_dot(source, request.fmt, PNG_OPTIONS if request.fmt == "png" else ()), 1, path
    )


def write_diagram(
    kb: KnowledgeBase,
    path: Path,
    *,
    fmt: str | None = None,
    case: Case | None = None,
    case_note: str = "",
    paper: str = "a4",
    date: str | None = None,
    cache_dir: Path | None = None,
    view: str,
) -> Document:
    """Render the diagram (optionally with a case's path) and write it to `path` atomically."""
    chosen = format_for(path, fmt)
    check_writable(path, chosen)
    request = Request(chosen, paper, date, {}, case, case_note, view, cache_dir=cache_dir)
    document = render(kb, request)
    write_file(path, document.data, chosen)
    return document
