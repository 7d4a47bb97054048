"""Producing a diagram document: choosing the format, titling, highlighting, paging, writing.

PDF documents are paged: each page is laid out by `dot` at full size on landscape A4 or Letter,
rendered to a one-page PDF, and the pages are joined by poppler's `pdfunite` when there are
several. SVG and PNG show the whole diagram as one picture; DOT and Mermaid are text and need
no Graphviz at all.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from llm_advisor.engine.analysis.diagram import (
    DecisionDiagram,
    Question,
    compile_diagram,
    load_diagram,
)
from llm_advisor.engine.analysis.highlight import CasePath, highlight, with_given
from llm_advisor.engine.errors import AdvisorError, InputError
from llm_advisor.engine.language.facts import Case, display_value
from llm_advisor.engine.language.model import KnowledgeBase, Value
from llm_advisor.engine.outfile import check_output, write_output

from . import graphviz as gv
from .index import APPENDIX, INDEX, index_pages, index_sections
from .paginate import PAPERS, PLACEHOLDER, Paginator, Sheet, parents
from .pdf import fit_page, join_pdfs
from .scene import (
    Leaves,
    Page,
    Scene,
    build_scene,
    continuation_node,
    decision_text,
    entry_node,
    legend,
    outcome_names,
    page_order,
    whole,
)

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
SAFETY = 6.0
"""Points a measured page must stay inside the usable area, for the final page numbers."""
APPROACH_BUDGET = 20
"""Questions a per-approach view asks at most."""
APPROACH_LEAVES = 10
"""Leaves of a per-approach view: its leaves say more than the overview's, in as many lines."""
PATH_SHOWN = 10
"""Pages a highlighted appendix names in its "Path on pages …" line at most."""
POINTER = "(exact: --detail)"
"""Where a leaf that lists several outcomes sends the reader."""
PNG_OPTIONS = ("-Gdpi=144",)
"""PNG pixels per inch: crisp enough for wikis and slides."""
JOIN_HINT = (
    "install poppler-utils (Debian/Ubuntu: sudo apt-get install poppler-utils; macOS: brew "
    "install poppler)"
)


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
    """The output format: `--format` if given, else from the file name, else DOT (the error
    suggests `--format` only where the command has it)."""
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


def case_lines(kb: KnowledgeBase, request: Request, path: CasePath | None) -> list[str]:
    """The subtitle paragraphs about what is drawn for: the fixed context, and the highlighted
    case (given facts apart from assumed defaults, the facts its outcome depends on, and the
    outcome)."""
    lines: list[str] = []
    if request.given:
        shown = ", ".join(
            f"{name}={display_value(kb.fact(name), value)}" for name, value in request.given.items()
        )
        lines.append(f"Given: {shown}")
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


def render(kb: KnowledgeBase, request: Request) -> Document:
    """Draw the diagram of a rule base in the requested format."""
    if request.fmt not in FORMATS:
        raise InputError(f"unknown format {request.fmt!r}", item=request.fmt)
    if request.paper not in PAPERS:
        raise InputError(
            f"unknown paper {request.paper!r} (choose one of: {', '.join(PAPERS)})",
            item=request.paper,
        )
    if request.fmt in ("pdf", "svg", "png") and not gv.have_dot():
        raise gv.missing(request.fmt)
    detail = diagram_for(kb, request.given, request.cache_dir)
    diagram = view_of(kb, detail, request)
    case = None if request.case is None else with_given(kb, request.case, request.given)
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
        data, pages = pdf_document(kb, diagram, path, PAPERS[request.paper], title, subtitle)
        return Document(data, pages, path)
    scene = build_scene(
        kb, diagram, path=path, title=title, subtitle=subtitle, leaves=leaves_for(request)
    )
    if request.fmt == "pdf":
        return Document(one_page(kb, scene, PAPERS[request.paper]), 1, path)
    if request.fmt == "mermaid":
        from .mermaid import to_mermaid

        return Document(to_mermaid(kb, scene).encode("utf-8"), 1, path)
    source = gv.to_dot(kb, scene)
    if request.fmt == "dot":
        return Document(source.encode("utf-8"), 1, path)
    return Document(
        gv.run_dot(source, request.fmt, PNG_OPTIONS if request.fmt == "png" else ()), 1, path
    )


# --- paged PDF --------------------------------------------------------------------------------


def letters(index: int) -> str:
    """The `index`-th (from 0) of A, B, …, Z, AA, AB, …: an entry's letter on its page."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def anchors_of(diagram: DecisionDiagram, pages: Sequence[Page], prefix: str = "") -> dict[int, str]:
    """The anchor of every question entered from other pages: its page's label and a letter, in
    the order the page draws its entries ("2A", "2B", …; "A2A" with the prefix "A")."""
    found: dict[int, str] = {}
    for number, page in enumerate(pages, 1):
        entered = [n for n in page_order(diagram, page) if page.entries.get(n)]
        for i, node_id in enumerate(entered):
            found[node_id] = f"{prefix}{number}{letters(i)}"
    return found


def page_scenes(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    path: CasePath | None,
    sheet: Sheet,
    title: str,
    subtitle: list[str],
    prefix: str = "",
) -> tuple[list[Page], list[Scene]]:
    """The pages of a paged document and the scene drawn on each, first page first (`prefix`:
    what page labels start with, as "A" for "A1" in an appendix).

    Every cross-page link names the anchor of the entry it leads to ("continued on page 2 ▸ 2B",
    "2B ◂ from page 1"), so that a reader can tell several entries of one page apart.
    """
    key = legend(kb, diagram)

    def label(number: int) -> str:
        return f"{prefix}{number}"

    def scene(
        page: Page,
        heading: str,
        page_of: Mapping[int, int],
        anchor: Callable[[int], str],
        note: list[str],
    ) -> Scene:
        return build_scene(
            kb,
            diagram,
            page=page,
            page_of=page_of,
            path=path,
            title=f"{title} · {heading}",
            subtitle=[*subtitle, *note],
            key=key,
            label=label,
            anchor=anchor,
        )

    widest = dict.fromkeys(diagram.reachable(), PLACEHOLDER)
    wide_anchor = f"{label(PLACEHOLDER)}W"
    # A highlighted path's pages take one line, as wide as this at most, whatever they are.
    wide_note = [] if path is None else [path_pages([PLACEHOLDER] * (PATH_SHOWN + 1), label)]

    def draft(page: Page) -> Scene:
        heading = f"page {label(PLACEHOLDER)} of {label(PLACEHOLDER)}"
        return scene(page, heading, widest, lambda _: wide_anchor, wide_note)

    def measure(pages: list[Page]) -> list[tuple[float, float]]:
        return gv.measure([gv.to_dot(kb, draft(page)) for page in pages])

    # One run of dot measures every node that any page may show.
    questions = [n for n in diagram.reachable() if isinstance(diagram.nodes[n], Question)]
    callers = parents(diagram)
    extra = [
        entry_node(
            n, (label(PLACEHOLDER),) * max(1, len(callers.get(n, []))), "normal", wide_anchor
        )
        for n in questions
    ]
    for n in questions:
        for child in {c for _, c in diagram.nodes[n].branches}:  # type: ignore[union-attr]
            if isinstance(diagram.nodes[child], Question):
                node = continuation_node(
                    kb, diagram, child, label(PLACEHOLDER), "normal", wide_anchor
                )
                extra.append(replace(node, id=f"c{child}_{n}"))
    sizes = gv.catalog_sizes(kb, draft(whole(diagram)), extra)
    usable_w, usable_h = sheet.usable
    limit = (usable_w - SAFETY, usable_h - SAFETY)
    paginator = Paginator(diagram, draft, sizes, measure, limit, gv.spacing())
    pages = paginator.run()
    page_of = {n: i for i, page in enumerate(pages, 1) for n in page.members}
    numbered = []
    for number, page in enumerate(pages, 1):
        entries = {
            n: tuple(sorted({page_of[p] for p in paginator.parents.get(n, [])} - {number}))
            for n in page.entries
        }
        numbered.append(Page(page.roots, page.members, entries))
    anchors = anchors_of(diagram, numbered, prefix)
    note = []
    if path is not None:  # the path branches where the case leaves a fact unknown
        note = [path_pages(pages_on(diagram, path, page_of), label, not path.trace.unknown)]
    scenes = [
        scene(
            page,
            f"page {label(number)} of {label(len(numbered))}",
            page_of,
            anchors.__getitem__,
            note,
        )
        for number, page in enumerate(numbered, 1)
    ]
    return numbered, scenes


def pages_on(diagram: DecisionDiagram, path: CasePath, page_of: Mapping[int, int]) -> list[int]:
    """The pages a highlighted path runs through, in the order it reaches them."""
    found: dict[int, None] = {}
    queue = [diagram.root]
    seen = set(queue)
    for node_id in queue:  # breadth-first along the path's steps
        node = diagram.nodes[node_id]
        if not isinstance(node, Question):
            continue
        found[page_of[node_id]] = None
        for _, child in node.branches:
            if (node_id, child) in path.trace.steps and child not in seen:
                seen.add(child)
                queue.append(child)
    return list(found)


def path_pages(pages: Sequence[int], label: Callable[[int], str], chain: bool = True) -> str:
    """The subtitle line naming the pages a highlighted path runs on ("Path on pages 1 → 5";
    with commas when it branches), at most `PATH_SHOWN` of them, so that it takes one line."""
    joiner = " \u2192 " if chain else ", "
    shown = joiner.join(label(p) for p in pages[:PATH_SHOWN])
    more = len(pages) - PATH_SHOWN
    if more > 0:
        shown += f"{joiner}\u2026 and {more} more"
    return f"Path on {'page' if len(pages) == 1 else 'pages'} {shown}"


def pdf_document(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    path: CasePath | None,
    sheet: Sheet,
    title: str,
    subtitle: list[str],
    scenes: list[Scene] | None = None,
) -> tuple[bytes, int]:
    """A PDF with one landscape page per part of the diagram, nothing scaled down (`scenes`:
    the pages' scenes, when the caller has made them already)."""
    if scenes is None:
        _, scenes = page_scenes(kb, diagram, path, sheet, title, subtitle)
    joiner = shutil.which("pdfunite")
    if len(scenes) > 1 and joiner is None:
        raise AdvisorError(
            f"this diagram needs {len(scenes)} PDF pages, and joining them needs 'pdfunite', "
            f"which is not on PATH: {JOIN_HINT}; or write SVG or PNG (one large page)"
        )
    # Fill each page to the usable height with an invisible spacer (dot puts it at the bottom),
    # so that drawings start at the top, then pad the drawing to the exact paper size.
    usable_h = sheet.usable[1]
    heights = [h for _, h in gv.measure([gv.to_dot(kb, scene) for scene in scenes])]
    spacers = [max(0.0, usable_h - h - gv.NODESEP * 72) for h in heights]
    drafts = [gv.to_dot(kb, sc, spacer=sp) for sc, sp in zip(scenes, spacers, strict=True)]
    sources = [
        gv.to_dot(
            kb,
            scene,
            spacer=spacer,
            pad=gv.Pad(max(0.0, (sheet.width - w) / 2), max(0.0, (sheet.height - h) / 2)),
        )
        for scene, spacer, (w, h) in zip(scenes, spacers, gv.measure(drafts), strict=True)
    ]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        rendered = list(pool.map(lambda source: gv.run_dot(source, "pdf"), sources))
    if len(rendered) == 1 or joiner is None:
        return rendered[0], 1
    return join_pdfs(rendered, joiner), len(rendered)


def book(
    kb: KnowledgeBase, paper: str = "a4", date: str | None = None, cache_dir: Path | None = None
) -> Document:
    """The design-review document as one PDF: the overview and one page per approach (pages 1,
    2, …), the exact diagram as appendix pages A1, A2, …, and an index (I1, …) of the appendix
    pages each question is on and each outcome is reached on. Every page reference uses these
    labels, which are printed on the pages."""
    if not gv.have_dot():
        raise gv.missing("pdf")
    joiner = shutil.which("pdfunite")
    if joiner is None:
        raise AdvisorError(f"a document of several pages needs 'pdfunite': {JOIN_HINT}")
    sheet = PAPERS[paper]
    detail = load_diagram(kb, cache_dir)
    rulebase = rulebase_text(kb, date)
    heading = f"Appendix: the exact decision diagram · {rulebase}"
    pages, scenes = page_scenes(kb, detail, None, sheet, heading, [], APPENDIX)
    pointer = f"(exact: appendix, index p. {INDEX}1)"
    parts = []
    requests = [Request("pdf", paper, date, view="overview")] + [
        Request("pdf", paper, date, view="approach", approach=approach)
        for approach in kb.approach_ids
    ]
    for number, request in enumerate(requests, 1):
        title, subtitle = titles(kb, request, None, "the appendix")
        shown = view_of(kb, detail, request)
        leaves = leaves_for(request, pointer)
        title = f"{title} · page {number} of {len(requests)}"
        scene = build_scene(kb, shown, title=title, subtitle=subtitle, leaves=leaves)
        parts.append(one_page(kb, scene, sheet))
    appendix, count = pdf_document(kb, detail, None, sheet, heading, [], scenes)
    index = index_pages(
        f"Index of the appendix (pages {APPENDIX}1–{APPENDIX}{count}) · {rulebase}",
        index_sections(kb, detail, pages),
        sheet,
    )
    document = join_pdfs([*parts, appendix, *index], joiner)
    return Document(document, len(parts) + count + len(index), None)


def one_page(kb: KnowledgeBase, scene: Scene, sheet: Sheet) -> bytes:
    """A one-page PDF of exactly the paper's size: the drawing centred, scaled down to fit."""
    return fit_page(lambda pad, size: gv.to_dot(kb, scene, pad=pad, size=size), sheet)


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
) -> Document:
    """Render the diagram (optionally with a case's path) and write it to `path` atomically."""
    chosen = format_for(path, fmt)
    check_writable(path, chosen)
    request = Request(chosen, paper, date, {}, case, case_note, cache_dir=cache_dir)
    document = render(kb, request)
    write_file(path, document.data, chosen)
    return document
