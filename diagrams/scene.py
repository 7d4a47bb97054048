"""A renderer-neutral picture of (part of) a decision diagram: labelled nodes and edges.

Question nodes are shared as in the diagram; a leaf is drawn once per edge that reaches it, so
that the picture reads as a tree. A page of a paged document shows some of the questions; an
edge to a question on another page ends in a continuation node naming that page, and a question
reached from other pages gets an entry node naming them.

Node ids are safe in DOT and Mermaid: `n<id>` for a question (or a root leaf), `n<leaf>_<parent>`
for a leaf drawn below a question, `c<id>_<parent>` for a continuation to question `<id>` on
another page, and `e<id>` for the entry node of a question reached from other pages.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from llm_advisor.engine.analysis import Analyzer, Decision
from llm_advisor.engine.diagram import DecisionDiagram, Leaf, Question
from llm_advisor.engine.facts import display_value
from llm_advisor.engine.model import KnowledgeBase, Value

Kind = Literal["question", "leaf", "continuation", "entry"]
State = Literal["normal", "path", "stop", "faded"]

# One palette for every renderer: (fill, border) per approach, in rule-base order; colour-blind
# safe hues (Okabe & Ito) with light fills so that black text stays readable.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#cfe6f5", "#0072b2"),
    ("#ffe3a8", "#c98a00"),
    ("#c4eadb", "#009e73"),
    ("#f7cfb8", "#d55e00"),
    ("#f1d3e5", "#cc79a7"),
    ("#d3ecfa", "#56b4e9"),
    ("#f4efb2", "#9c8f00"),
    ("#e2e2e2", "#555555"),
)
NO_FIT = ("#eeeeee", "#888888")
"""Colours of a leaf where every approach is excluded."""
QUESTION = ("#ffffff", "#444444")
HIGHLIGHT = "#c2185b"
FADED_TEXT = "#9a9a9a"
FADED_LINE = "#cfcfcf"

WRAP = 26
LEAF_WRAP = 24
"""Characters per line of node text before it wraps."""


@dataclass(frozen=True)
class SceneNode:
    """A drawn node: `lines` is its main text, `detail` smaller text below it."""

    id: str
    kind: Kind
    lines: tuple[str, ...]
    detail: tuple[str, ...] = ()
    approach: str | None = None
    source: int | None = None
    state: State = "normal"


@dataclass(frozen=True)
class SceneEdge:
    """A drawn edge with the answers it stands for."""

    tail: str
    head: str
    label: str
    state: State = "normal"


@dataclass(frozen=True)
class Scene:
    """Everything a renderer draws: title lines, legend, nodes and edges, in a stable order."""

    title: str
    subtitle: tuple[str, ...]
    legend: tuple[tuple[str, str], ...]  # (approach id or "", name)
    nodes: tuple[SceneNode, ...]
    edges: tuple[SceneEdge, ...]


@dataclass(frozen=True)
class CasePath:
    """Where one case goes through a diagram: the node ids from the root, and how it ends."""

    nodes: tuple[int, ...]
    decision: Decision | None
    stopped_at: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Page:
    """The questions one page shows (roots first), and for some the pages that lead to them."""

    roots: tuple[int, ...]
    members: frozenset[int]
    entries: Mapping[int, tuple[int, ...]] = field(default_factory=dict)


# --- colours and text -------------------------------------------------------------------------


def colours(kb: KnowledgeBase, approach: str | None) -> tuple[str, str]:
    """The (fill, border) colours of an approach; `None` stands for "no approach fits"."""
    if approach is None:
        return NO_FIT
    index = kb.approach_ids.index(approach)
    return PALETTE[index % len(PALETTE)]


def blend(colour: str, amount: float) -> str:
    """Mix a `#rrggbb` colour with white: 0 keeps it, 1 gives white."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def node_colours(kb: KnowledgeBase, node: SceneNode) -> tuple[str, str, str]:
    """The fill, border and text colours of a drawn node, given its kind and highlight state."""
    fill, border = colours(kb, node.approach) if node.kind == "leaf" else QUESTION
    if node.state == "faded":
        return blend(fill, 0.6), FADED_LINE, FADED_TEXT
    if node.state in ("path", "stop"):
        return fill, HIGHLIGHT, "#000000"
    return fill, border, "#000000"


@functools.cache
def visible(text: str) -> str:
    """Text for a label: control characters (C0 and C1), line and paragraph separators and the
    non-characters U+FFFE and U+FFFF, which could break a line or the syntax, become spaces."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in "\ufffe\uffff" else ch
        for ch in text
    )


def wrap(text: str, width: int = WRAP) -> tuple[str, ...]:
    """Split text into lines of about `width` characters (never an empty tuple)."""
    flat = " ".join(text.split())
    lines = textwrap.wrap(flat, width, break_long_words=False, break_on_hyphens=False)
    return tuple(lines) or ("",)


def decision_text(kb: KnowledgeBase, decision: Decision) -> tuple[str, tuple[str, ...]]:
    """A leaf's main text and detail lines: the approach's name and any combination."""
    if decision.recommendation is None:
        return "No approach fits", ("every approach is excluded",)
    names = {a.id: a.name for a in kb.approaches}
    return names[decision.recommendation], tuple(f"+ {names[a]}" for a in decision.combine_with)


def edge_label(diagram: DecisionDiagram, fact: int, cells: Sequence[int]) -> str:
    """The answers an edge stands for, in the user's units, merged cells joined by commas."""
    return ", ".join(diagram.cell_labels[fact][c] for c in cells)


# --- a case's path ----------------------------------------------------------------------------


def case_path(
    kb: KnowledgeBase, diagram: DecisionDiagram, values: Mapping[str, Value | None]
) -> CasePath:
    """Follow a case from the root; an unknown value on the way stops the path at its question."""
    an = Analyzer(kb)
    node_id = diagram.root
    path = [node_id]
    while True:
        node = diagram.nodes[node_id]
        if isinstance(node, Leaf):
            return CasePath(tuple(path), node.decision)
        name = diagram.facts[node.fact]
        value = values.get(name)
        if value is None:
            return CasePath(tuple(path), None, stopped_at=name)
        cell = an.cell_of(name, value)
        node_id = next(child for cells, child in node.branches if cell in cells)
        path.append(node_id)


def describe_case(kb: KnowledgeBase, values: Mapping[str, Value | None]) -> str:
    """The known facts of a case as `name=value` pairs, in schema order."""
    shown = []
    for fact in kb.facts:
        value = values.get(fact.name)
        if value is not None:
            shown.append(f"{fact.name}={display_value(fact, value)}")
    return ", ".join(shown)


# --- nodes ------------------------------------------------------------------------------------


def question_node(
    kb: KnowledgeBase, diagram: DecisionDiagram, node_id: int, state: State = "normal"
) -> SceneNode:
    """A question: the fact's short text, and its name when that differs."""
    node = diagram.nodes[node_id]
    assert isinstance(node, Question)
    fact = kb.fact(diagram.facts[node.fact])
    short = fact.short or fact.name
    detail = (fact.name,) if short != fact.name else ()
    return SceneNode(f"n{node_id}", "question", wrap(short), detail, source=node_id, state=state)


def leaf_node(
    kb: KnowledgeBase, diagram: DecisionDiagram, leaf: int, parent: int | None, state: State
) -> SceneNode:
    """A leaf drawn below one parent (or alone, when the whole diagram is one leaf)."""
    node = diagram.nodes[leaf]
    assert isinstance(node, Leaf)
    main, detail = decision_text(kb, node.decision)
    node_id = f"n{leaf}" if parent is None else f"n{leaf}_{parent}"
    return SceneNode(
        node_id,
        "leaf",
        wrap(main, LEAF_WRAP),
        detail,
        approach=node.decision.recommendation,
        source=leaf,
        state=state,
    )


def continuation_node(
    kb: KnowledgeBase, diagram: DecisionDiagram, target: int, page: int | None, state: State
) -> SceneNode:
    """Where an edge leaves the page: the page it continues on and the question found there."""
    node = diagram.nodes[target]
    assert isinstance(node, Question)
    fact = kb.fact(diagram.facts[node.fact])
    where = f"continued on page {page}" if page is not None else "continued elsewhere"
    short = wrap(fact.short or fact.name)
    return SceneNode(f"c{target}", "continuation", (where,), short, source=target, state=state)


def entry_node(target: int, pages: Sequence[int], state: State) -> SceneNode:
    """Where a page is entered from: the pages with an edge to the question."""
    word = "page" if len(pages) == 1 else "pages"
    lines = wrap(f"from {word} {', '.join(str(p) for p in pages)}", 18)
    return SceneNode(f"e{target}", "entry", lines, source=target, state=state)


def legend(kb: KnowledgeBase, diagram: DecisionDiagram) -> tuple[tuple[str, str], ...]:
    """Every approach, plus "no approach fits" when the diagram has such leaves."""
    rows = [(a.id, a.name) for a in kb.approaches]
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if isinstance(node, Leaf) and node.decision.recommendation is None:
            rows.append(("", "No approach fits"))
            break
    return tuple(rows)


# --- scenes -----------------------------------------------------------------------------------


def whole(diagram: DecisionDiagram) -> Page:
    """The one page that shows every question of a diagram."""
    questions = frozenset(n for n in diagram.reachable() if isinstance(diagram.nodes[n], Question))
    return Page((diagram.root,), questions)


def page_order(diagram: DecisionDiagram, page: Page) -> list[int]:
    """The page's questions in depth-first preorder from its roots."""
    seen: dict[int, None] = {}
    for root in page.roots:
        stack = [root]
        while stack:
            node_id = stack.pop()
            if node_id in seen or node_id not in page.members:
                continue
            seen[node_id] = None
            node = diagram.nodes[node_id]
            assert isinstance(node, Question)
            stack.extend(child for _, child in reversed(node.branches))
    return list(seen)


def build_scene(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    *,
    page: Page | None = None,
    page_of: Mapping[int, int] | None = None,
    path: CasePath | None = None,
    title: str = "",
    subtitle: Sequence[str] = (),
    key: tuple[tuple[str, str], ...] | None = None,
) -> Scene:
    """The scene of one page (default: the whole diagram), optionally with a case's path.

    `key` is the legend, when the caller has it already (it takes a walk over the diagram).
    """
    page = page or whole(diagram)
    key = legend(kb, diagram) if key is None else key
    page_of = page_of or {}
    steps = set(zip(path.nodes, path.nodes[1:], strict=False)) if path else set()
    stop = path.nodes[-1] if path and path.stopped_at else None

    def state(on: bool) -> State:
        return "normal" if path is None else "path" if on else "faded"

    nodes: list[SceneNode] = []
    edges: list[SceneEdge] = []
    if isinstance(diagram.nodes[diagram.root], Leaf):
        nodes.append(leaf_node(kb, diagram, diagram.root, None, state(True)))
        return Scene(title, tuple(subtitle), key, tuple(nodes), ())

    order = page_order(diagram, page)
    for node_id in order:
        pages = page.entries.get(node_id, ())
        if pages:
            came = any(a not in page.members and b == node_id for a, b in steps)
            nodes.append(entry_node(node_id, pages, state(came)))
            edges.append(SceneEdge(f"e{node_id}", f"n{node_id}", "", state(came)))

    for node_id in order:
        node = diagram.nodes[node_id]
        assert isinstance(node, Question)
        on_path = path is not None and node_id in path.nodes
        nodes.append(
            question_node(kb, diagram, node_id, "stop" if node_id == stop else state(on_path))
        )
        for cells, child in node.branches:
            followed = (node_id, child) in steps
            if isinstance(diagram.nodes[child], Leaf):
                head = f"n{child}_{node_id}"
                nodes.append(leaf_node(kb, diagram, child, node_id, state(followed)))
            elif child in page.members:
                head = f"n{child}"
            else:
                head = f"c{child}_{node_id}"
                target = continuation_node(kb, diagram, child, page_of.get(child), state(followed))
                nodes.append(replace(target, id=head))
            label = edge_label(diagram, node.fact, cells)
            edges.append(SceneEdge(f"n{node_id}", head, label, state(followed)))
    return Scene(title, tuple(subtitle), key, tuple(nodes), tuple(edges))
