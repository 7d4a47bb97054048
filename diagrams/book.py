"""The design-review book: the overview and one page per approach, the exact diagram as
appendix pages, and the appendix's index, joined into one PDF."""

from __future__ import annotations

import shutil
from pathlib import Path

from llm_advisor.engine.analysis.diagram import load_diagram
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.model import KnowledgeBase

from . import graphviz as gv
from .export import Document, Request, leaves_for, rulebase_text, titles, view_of
from .index import APPENDIX, INDEX, index_pages, index_sections
from .pages import page_scenes
from .paginate import PAPERS
from .pdf import JOIN_HINT, join_pdfs, one_page, pdf_document
from .scene import build_scene


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
    appendix, count = pdf_document(kb, scenes, sheet)
    index = index_pages(
        f"Index of the appendix (pages {APPENDIX}1–{APPENDIX}{count}) · {rulebase}",
        index_sections(kb, detail, pages),
        sheet,
    )
    document = join_pdfs([*parts, appendix, *index], joiner)
    return Document(document, len(parts) + count + len(index), None)
