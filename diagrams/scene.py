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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Open, Question
from llm_advisor.engine.analysis.highlight import CasePath
from llm_advisor.engine.language.model import KnowledgeBase

from .labels import (
    LEAF_WRAP,
    OPEN_WRAP,
    approach_short_name,
    approaches_in_order,
    compact_text,
    decision_text,
    depends_text,
    edge_labels,
    partner_text,
    wrap,
)

Kind = Literal["question", "leaf", "open", "continuation", "entry"]
State = Literal["normal", "path", "faded"]

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
OPEN = ("#f6f6f6", "#8a8a8a")
"""Colours of a leaf that lists the outcomes still possible."""
HIGHLIGHT = "#c2185b"
FADED_TEXT = "#9a9a9a"
FADED_LINE = "#cfcfcf"

UNIT_NOUNS = {"tokens": "tokens", "count": "examples"}
"""What a quantity's branch labels ("1–200k") count; dollars ($) and durations (d, mo) show
their unit on the labels already."""


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
    approaches: tuple[str | None, ...] = ()
    """The recommendations a leaf that lists several outcomes names (None: no approach fits)."""


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
    aligned: bool = False
    """Leaves are drawn side by side at the end (a summary), not next to their question."""


@dataclass(frozen=True)
class Leaves:
    """How a summary's leaves are written: where the detail of a leaf that lists several
    outcomes is (`pointer`), and the approach a per-approach view is about (`focus`)."""

    pointer: str = ""
    focus: str | None = None
    aligned: bool = False
    """Draw every leaf in one column (or row), so that the questions take little room."""


PLAIN = Leaves()
"""Leaves as the exact diagram has them: each next to its question, pointing nowhere."""


@dataclass(frozen=True)
class Page:
    """The questions one page shows (roots first), and for some the pages that lead to them."""

    roots: tuple[int, ...]
    members: frozenset[int]
    entries: Mapping[int, tuple[int, ...]] = field(default_factory=dict)


# --- colours ----------------------------------------------------------------------------------


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
    fill, border = (
        colours(kb, node.approach)
        if node.kind == "leaf"
        else OPEN
        if node.kind == "open"
        else QUESTION
    )
    if node.state == "faded":
        return blend(fill, 0.6), FADED_LINE, FADED_TEXT
    if node.state == "path":
        return fill, HIGHLIGHT, "#000000"
    return fill, border, "#000000"


# --- nodes ------------------------------------------------------------------------------------


def question_node(
    kb: KnowledgeBase, diagram: DecisionDiagram, node_id: int, state: State = "normal"
) -> SceneNode:
    """A question: the fact's short text with the unit of a quantity whose branch labels do
    not show it ("Domain text (tokens)"), and its name when that differs."""
    node = diagram.nodes[node_id]
    assert isinstance(node, Question)
    fact = kb.fact(diagram.facts[node.fact])
    short = fact.short or fact.name
    detail = (fact.name,) if short != fact.name else ()
    noun = UNIT_NOUNS.get(fact.unit or "") if fact.kind.continuous else None
    text = f"{short} ({noun})" if noun and noun not in short.lower() else short
    return SceneNode(f"n{node_id}", "question", wrap(text), detail, source=node_id, state=state)


def leaf_node(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    leaf: int,
    parent: int | None,
    state: State,
    style: Leaves = PLAIN,
) -> SceneNode:
    """A leaf drawn below one parent (or alone, when the whole diagram is one leaf)."""
    node = diagram.nodes[leaf]
    assert not isinstance(node, Question)
    node_id = f"n{leaf}" if parent is None else f"n{leaf}_{parent}"
    if isinstance(node, Open) or (
        style.focus is not None and node.decision.recommendation != style.focus
    ):
        return open_node(kb, diagram, leaf, node_id, state, style)
    main, detail = decision_text(kb, node.decision)
    return SceneNode(
        node_id,
        "leaf",
        wrap(main, LEAF_WRAP),
        detail,
        approach=node.decision.recommendation,
        source=leaf,
        state=state,
    )


def open_node(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    leaf: int,
    node_id: str,
    state: State,
    style: Leaves,
) -> SceneNode:
    """A leaf where several outcomes are still possible: which, what they depend on, and where
    the detail is. In a per-approach view: whether the approach is recommended there, always,
    never or depending on the facts named, and what is recommended otherwise."""
    node = diagram.nodes[leaf]
    assert not isinstance(node, Question)
    outcomes = node.outcomes if isinstance(node, Open) else (node.decision,)
    depends = node.depends if isinstance(node, Open) else ()
    detail: tuple[str, ...] = ()
    approach: str | None = None
    kind: Kind = "open"
    if style.focus is None:
        lines = wrap(compact_text(kb, outcomes), OPEN_WRAP)
    else:
        name = approach_short_name(kb, style.focus)
        mine = [d for d in outcomes if d.recommendation == style.focus]
        other = [d for d in outcomes if d.recommendation != style.focus]
        if not other:
            lines, approach, kind = (name,), style.focus, "leaf"
            said = compact_text(kb, mine)
            detail = wrap(said, OPEN_WRAP) if said != name else ()
        elif not mine:
            lines, kind = wrap(partner_text(kb, style.focus, other), OPEN_WRAP), "leaf"
            detail = wrap("→ " + compact_text(kb, other), OPEN_WRAP)
        else:
            lines = (f"{name} in some cases",)
            text = f"{compact_text(kb, mine)}; otherwise {compact_text(kb, other)}"
            detail = wrap(text, OPEN_WRAP + 32)
    if depends:
        text = depends_text(kb, diagram, depends) + (f" {style.pointer}" if style.pointer else "")
        detail = (*detail, *wrap(text, OPEN_WRAP + 32))
    named = approaches_in_order(kb, (d.recommendation for d in outcomes))
    return SceneNode(
        node_id,
        kind,
        lines,
        detail,
        approach=approach,
        source=leaf,
        state=state,
        approaches=tuple(named) if kind == "open" else (),
    )


def continuation_node(
    kb: KnowledgeBase,
    diagram: DecisionDiagram,
    target: int,
    page: int | str | None,
    state: State,
    anchor: str = "",
) -> SceneNode:
    """Where an edge leaves the page: the page it continues on, then the anchor of the entry it
    continues at there ("▸ 2B": a page can have several entries for the same question) and the
    question found there, in the smaller detail line (the anchor widens no drawing)."""
    node = diagram.nodes[target]
    assert isinstance(node, Question)
    fact = kb.fact(diagram.facts[node.fact])
    where = f"continued on page {page}" if page is not None else "continued elsewhere"
    name = fact.short or fact.name
    short = wrap(f"\u25b8 {anchor} {name}" if anchor else name)
    return SceneNode(f"c{target}", "continuation", (where,), short, source=target, state=state)


def entry_node(
    target: int, pages: Sequence[int | str], state: State, anchor: str = ""
) -> SceneNode:
    """Where a page is entered from: the anchor the continuations to it name ("2B ◂", on a line
    of its own so that it widens no drawing), and the pages with an edge to the question."""
    word = "page" if len(pages) == 1 else "pages"
    lines = wrap(f"from {word} {', '.join(str(p) for p in pages)}", 18)
    if anchor:
        lines = (f"{anchor} \u25c2", *lines)
    return SceneNode(f"e{target}", "entry", lines, source=target, state=state)


def legend(kb: KnowledgeBase, diagram: DecisionDiagram) -> tuple[tuple[str, str], ...]:
    """Every approach, plus "no approach fits" when the diagram has such leaves."""
    rows = [(a.id, a.name) for a in kb.approaches]
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if (isinstance(node, Leaf) and node.decision.recommendation is None) or (
            isinstance(node, Open) and any(d.recommendation is None for d in node.outcomes)
        ):
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
    leaves: Leaves = PLAIN,
    label: Callable[[int], str] = str,
    anchor: Callable[[int], str] | None = None,
) -> Scene:
    """The scene of one page (default: the whole diagram), optionally with a case's path.

    `key` is the legend, when the caller has it already (it takes a walk over the diagram);
    `leaves` says how a summary's leaves are written; `label` names a page for its links, and
    `anchor` the entry a question is on its page (links and entries then name it).
    """
    page = page or whole(diagram)
    key = legend(kb, diagram) if key is None else key
    page_of = page_of or {}
    steps = path.trace.steps if path else frozenset()

    def state(on: bool) -> State:
        return "normal" if path is None else "path" if on else "faded"

    nodes: list[SceneNode] = []
    edges: list[SceneEdge] = []
    if not isinstance(diagram.nodes[diagram.root], Question):
        nodes.append(leaf_node(kb, diagram, diagram.root, None, state(True), leaves))
        return Scene(title, tuple(subtitle), key, tuple(nodes), ())

    order = page_order(diagram, page)
    for node_id in order:
        pages = page.entries.get(node_id, ())
        if pages:
            came = any(a not in page.members and b == node_id for a, b in steps)
            mark = anchor(node_id) if anchor else ""
            nodes.append(entry_node(node_id, [label(p) for p in pages], state(came), mark))
            edges.append(SceneEdge(f"e{node_id}", f"n{node_id}", "", state(came)))

    for node_id in order:
        node = diagram.nodes[node_id]
        assert isinstance(node, Question)
        on_path = path is not None and node_id in path.nodes
        nodes.append(question_node(kb, diagram, node_id, state(on_path)))
        for cells, child in node.branches:
            followed = (node_id, child) in steps
            if not isinstance(diagram.nodes[child], Question):
                head = f"n{child}_{node_id}"
                nodes.append(leaf_node(kb, diagram, child, node_id, state(followed), leaves))
            elif child in page.members:
                head = f"n{child}"
            else:
                head = f"c{child}_{node_id}"
                there = label(page_of[child]) if child in page_of else None
                mark = anchor(child) if anchor else ""
                target = continuation_node(kb, diagram, child, there, state(followed), mark)
                nodes.append(replace(target, id=head))
            for text in edge_labels(diagram, node.fact, cells):
                edges.append(SceneEdge(f"n{node_id}", head, text, state(followed)))
    return Scene(title, tuple(subtitle), key, tuple(nodes), tuple(edges), leaves.aligned)
