"""The design-review book: the overview and one page per approach, the exact diagram as
appendix pages, and the appendix's index, joined into one PDF."""

from __future__ import annotations

import shutil
from dataclasses import replace

from llm_advisor.engine.analysis.highlight import highlight
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.model import KnowledgeBase

from . import graphviz as gv
from .export import (
    Document,
    Request,
    case_and_detail,
    case_lines,
    given_lines,
    leaves_for,
    rulebase_text,
    sheet_for,
    titles,
    view_of,
)
from .index import APPENDIX, INDEX, index_pages, index_sections
from .pages import page_scenes
from .pdf import JOIN_HINT, join_pdfs, one_page, pdf_document
from .scene import build_scene


def book(kb: KnowledgeBase, request: Request) -> Document:
    """The design-review document as one PDF: the overview and one page per approach (pages 1,
    2, …), the exact diagram as appendix pages A1, A2, …, and an index (I1, …) of the appendix
    pages each question is on and each outcome is reached on. Every page reference uses these
    labels, which are printed on the pages.

    The request's paper, date, fixed context and highlighted case apply to every part, as they
    do to a single view; its format and view are not used."""
    if not gv.have_dot():
        raise gv.missing("pdf")
    joiner = shutil.which("pdfunite")
    if joiner is None:
        raise AdvisorError(f"a document of several pages needs 'pdfunite': {JOIN_HINT}")
    sheet = sheet_for(request.paper)
    case, detail = case_and_detail(kb, request)
    exact = replace(request, fmt="pdf", case=case, view="detail", approach=None)
    exact_path = None if case is None else highlight(kb, detail, detail, case)
    rulebase = rulebase_text(kb, request.date)
    heading = f"Appendix: the exact decision diagram · {rulebase}"
    subtitle = case_lines(kb, exact, exact_path)
    pages, scenes = page_scenes(kb, detail, exact_path, sheet, heading, subtitle, APPENDIX)
    pointer = f"(exact: appendix, index p. {INDEX}1)"
    parts = []
    requests = [replace(exact, view="overview")] + [
        replace(exact, view="approach", approach=approach) for approach in kb.approach_ids
    ]
    for number, front in enumerate(requests, 1):
        shown = view_of(kb, detail, front)
        path = None if case is None else highlight(kb, detail, shown, case)
        title, subtitle = titles(kb, front, path, "the appendix")
        leaves = leaves_for(front, pointer)
        title = f"{title} · page {number} of {len(requests)}"
        scene = build_scene(kb, shown, path=path, title=title, subtitle=subtitle, leaves=leaves)
        parts.append(one_page(kb, scene, sheet))
    appendix, count = pdf_document(kb, scenes, sheet)
    index = index_pages(
        f"Index of the appendix (pages {APPENDIX}1–{APPENDIX}{count}) · {rulebase}",
        index_sections(kb, detail, pages),
        sheet,
        subtitle=given_lines(kb, request.given),
    )
    document = join_pdfs([*parts, appendix, *index], joiner)
    return Document(document, len(parts) + count + len(index), exact_path)
