"""The pages of a paged document and the scene drawn on each: the split into pages (measured by
`dot`, made by `paginate`), the page labels, the anchors of the entries on a page and the links
between pages that name them, and the pages a highlighted path runs through. `pdf` renders the
scenes at full size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Question
from llm_advisor.engine.analysis.highlight import CasePath
from llm_advisor.engine.language.model import KnowledgeBase

from . import graphviz as gv
from .paginate import PLACEHOLDER, Paginator, Sheet, parents
from .scene import (
    Page,
    Scene,
    build_scene,
    continuation_node,
    entry_node,
    legend,
    page_order,
    whole,
)

SAFETY = 6.0
"""Points a measured page must stay inside the usable area, for the final page numbers."""
PATH_SHOWN = 10
"""Pages a highlighted appendix names in its "Path on pages …" line at most."""


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
