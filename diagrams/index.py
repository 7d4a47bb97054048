"""The review book's index: on which appendix pages each outcome is reached and each question is
asked, set at a fixed size on as many pages as it takes (never scaled down)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Question, leaf_outcomes
from llm_advisor.engine.analysis.status import Decision
from llm_advisor.engine.language.model import KnowledgeBase

from . import graphviz as gv
from .labels import consecutive_runs, outcome_names
from .paginate import Sheet
from .pdf import fit_page
from .scene import Page

APPENDIX = "A"
INDEX = "I"
"""What the labels of a review book's appendix and index pages start with ("A1", "I1")."""
INDEX_WRAP = 120
"""Characters per line of an index's page list, at first (fewer if that is too wide)."""
INDEX_TITLE = 30.0
INDEX_HEADING = 34.0
INDEX_LINE = 11.0
INDEX_ROW = 4.0
INDEX_SUBTITLE_LINE = 15.0
"""Points an index page's title, a table's headings, a line, a row's padding and a line of the
subtitle take up, for a first guess at what fits on a page (each page is then measured)."""


@dataclass(frozen=True)
class IndexSection:
    """One table of the book's index: its heading, column headings (the last one the pages'),
    the columns set in Courier, and each row's cells with the appendix pages it lists."""

    heading: str
    columns: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]
    code: tuple[int, ...] = ()


def index_sections(
    kb: KnowledgeBase, detail: DecisionDiagram, pages: Sequence[Page]
) -> list[IndexSection]:
    """Where each outcome is reached (from the leaves drawn on each appendix page), and where
    each question is asked."""
    asked: dict[int, set[int]] = {}
    reached: dict[Decision, set[int]] = {}
    root = detail.nodes[detail.root]
    if not isinstance(root, Question):
        for decision in leaf_outcomes(root):
            reached.setdefault(decision, set()).add(1)
    for number, page in enumerate(pages, 1):
        for node_id in page.members:
            node = detail.nodes[node_id]
            assert isinstance(node, Question)
            asked.setdefault(node.fact, set()).add(number)
            for _, child in node.branches:
                leaf = detail.nodes[child]
                if not isinstance(leaf, Question):
                    for decision in leaf_outcomes(leaf):
                        reached.setdefault(decision, set()).add(number)
    named = {outcome_names(kb, [d])[0]: d for d in reached}
    outcomes = tuple(
        ((name,), tuple(sorted(reached[named[name]]))) for name in outcome_names(kb, list(reached))
    )
    questions = tuple(
        (
            (kb.fact(detail.facts[f]).short or detail.facts[f], detail.facts[f]),
            tuple(sorted(asked[f])),
        )
        for f in sorted(asked)
    )
    return [
        IndexSection("Outcomes: where each is reached", ("Outcome", "Appendix pages"), outcomes),
        IndexSection(
            "Questions: where each is asked",
            ("Question", "Fact", "Appendix pages"),
            questions,
            (1,),
        ),
    ]


def page_ranges(numbers: Sequence[int], prefix: str) -> list[str]:
    """Page numbers as labels, runs of three or more as one range ("A2\u2013A5", "A7")."""
    shown: list[str] = []
    for run in consecutive_runs(numbers):
        if len(run) >= 3:
            shown.append(f"{prefix}{run[0]}\u2013{prefix}{run[-1]}")
        else:
            shown.extend(f"{prefix}{n}" for n in run)
    return shown


def wrap_list(items: Sequence[str], width: int) -> tuple[str, ...]:
    """Items joined by commas in lines of at most about `width` characters."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(item) + 2 <= width:
            lines[-1] += f", {item}"
        else:
            if lines:
                lines[-1] += ","
            lines.append(item)
    return tuple(lines) or ("",)


def index_chunks(
    sections: Sequence[IndexSection], width: int, room: float
) -> list[list[gv.IndexTable]]:
    """The index's tables page by page: page lists wrapped at `width` characters, and rows
    moved to a new page when a first guess of their height passes `room` points (a table that
    goes on there repeats its heading)."""
    chunks: list[list[gv.IndexTable]] = [[]]
    used = INDEX_TITLE
    for section in sections:
        heading = section.heading
        shown: list[tuple[tuple[str, ...], ...]] = []
        used += INDEX_HEADING
        for cells, numbers in section.rows:
            row = (*((c,) for c in cells), wrap_list(page_ranges(numbers, APPENDIX), width))
            height = max(len(c) for c in row) * INDEX_LINE + INDEX_ROW
            if used + height > room and (shown or chunks[-1]):
                if shown:
                    chunks[-1].append(
                        gv.IndexTable(heading, section.columns, tuple(shown), section.code)
                    )
                    heading = f"{section.heading} (continued)"
                chunks.append([])
                shown, used = [], INDEX_TITLE + INDEX_HEADING
            shown.append(row)
            used += height
        if shown:
            chunks[-1].append(gv.IndexTable(heading, section.columns, tuple(shown), section.code))
    return chunks


def index_pages(
    title: str, sections: Sequence[IndexSection], sheet: Sheet, *, subtitle: Sequence[str] = ()
) -> list[bytes]:
    """The index as pages of text at its fixed size, never scaled down: long page lists wrap
    onto more lines, and rows that do not fit go onto another page. Every page carries the
    title and the `subtitle` paragraphs under it."""
    usable_w, usable_h = sheet.usable
    lines = len(gv.subtitle_rows(subtitle))
    width, room = INDEX_WRAP, usable_h - lines * INDEX_SUBTITLE_LINE
    while True:
        chunks = index_chunks(sections, width, room)
        heads = [
            f"{title} · page {INDEX}{n} of {INDEX}{len(chunks)}" for n in range(1, len(chunks) + 1)
        ]
        sizes = gv.measure(
            [gv.index_dot(h, c, subtitle=subtitle) for h, c in zip(heads, chunks, strict=True)]
        )
        wide = max(w for w, _ in sizes) > usable_w
        tall = max(h for _, h in sizes) > usable_h
        # Once every row has a page of its own, shrinking the room changes nothing: a row taller
        # than a page is then scaled down on its own page.
        if not (wide or tall) or width < 20 or room < INDEX_TITLE + INDEX_HEADING:
            break
        if wide:
            width = int(width * 0.9)
        if tall:
            room *= 0.92
    return [
        fit_page(functools.partial(gv.index_dot, head, chunk, subtitle=subtitle), sheet)
        for head, chunk in zip(heads, chunks, strict=True)
    ]
