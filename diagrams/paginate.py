"""Splitting a decision diagram into pages that fit a sheet of paper at full size.

Pages are filled top-down: starting from a page's root, questions join the page in
breadth-first order while an estimate of the page's layout still fits; a question that does not
fit starts a later page, and small later pages are packed together. The estimate adds up the
sizes `dot` measured for every node and edge label the way `dot` places them (in ranks, with
sibling subtrees side by side). Every page is then laid out for real (`dot -Tplain`); parts are
taken off a page that still overflows, demanding a stricter estimate, and laid out again.
Nothing is ever scaled down, so text keeps its size in print.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Question

from .scene import Page, Scene

Size = tuple[float, float]
SceneFor = Callable[[Page], Scene]
MeasurePages = Callable[[list[Page]], list[Size]]
Part = tuple[int, frozenset[int]]
"""Questions that go onto a page together: a root and the questions below it."""

PLACEHOLDER = 999
"""The page number used while measuring; at least as wide as the real ones."""
TITLE_GAP = 8.0
"""Points between the title block and the drawing."""
VIRTUAL = 8.0
"""Points an edge takes up across a rank it passes through."""
TREE_FACTOR = 1.05
"""`dot` draws trees up to about this much broader than their outlines stacked tightly."""
ROUND = 0.97
"""A page that overflows is split again demanding the estimate shrink by its overflow, and 3%."""
MIN_SHARE = 0.3
"""A page whose estimate would have to shrink below this share is accepted as it is."""
CLOSE_AFTER = 12
"""Parts a page may refuse while packing before it counts as full."""


@dataclass(frozen=True)
class Sheet:
    """Landscape paper in points, and the margin kept free on every side."""

    width: float
    height: float
    margin: float = 30.0

    @property
    def usable(self) -> Size:
        return self.width - 2 * self.margin, self.height - 2 * self.margin


PAPERS = {"a4": Sheet(842.0, 595.0), "letter": Sheet(792.0, 612.0)}


@dataclass(frozen=True)
class Spacing:
    """How `dot` spaces a layout, in points, and which way its ranks run."""

    nodesep: float
    ranksep: float
    left_to_right: bool


def parents(diagram: DecisionDiagram) -> dict[int, list[int]]:
    """For every question, the questions with an edge to it."""
    found: dict[int, list[int]] = {}
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if isinstance(node, Question):
            for _, child in node.branches:
                if isinstance(diagram.nodes[child], Question):
                    found.setdefault(child, []).append(node_id)
    return found


Contour = dict[int, tuple[float, float]]
"""Per level (rank, or rank of edge labels), the extent of a subtree across the ranks."""


def _with_label(contour: Contour, level: int, half: float) -> Contour:
    if half <= 0:
        return contour
    lo, hi = contour.get(level, (0.0, 0.0))
    return {**contour, level: (min(lo, -half), max(hi, half))}


def _stack(children: list[Contour], sep: float, own: Contour) -> Contour:
    """Place subtrees side by side as close as their contours allow, centred below `own`."""
    merged: Contour = {}
    offsets: list[float] = []
    for child in children:
        common = [merged[lv][1] - child[lv][0] for lv in child if lv in merged]
        offset = max(common) + sep if common else (offsets[-1] if offsets else 0.0)
        offsets.append(offset)
        for lv, (lo, hi) in child.items():
            old = merged.get(lv)
            span = (lo + offset, hi + offset)
            merged[lv] = span if old is None else (min(old[0], span[0]), max(old[1], span[1]))
    centre = (offsets[0] + offsets[-1]) / 2 if offsets else 0.0
    result = {lv: (lo - centre, hi - centre) for lv, (lo, hi) in merged.items()}
    for lv, (lo, hi) in own.items():
        old = result.get(lv)
        result[lv] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    return result


def estimate(
    scene: Scene, sizes: dict[str, Size], labels: dict[str, Size], spacing: Spacing
) -> Size:
    """The drawn size of a scene (without its title), from its nodes' and labels' sizes.

    Along the ranks, each rank (and each rank of edge labels between two ranks) is as thick as
    its thickest item. Across them, the drawing is as broad as its broadest rank, or as its
    subtrees placed side by side as closely as their outlines allow, whichever is more.
    """

    def along(size: Size) -> float:
        return size[0] if spacing.left_to_right else size[1]

    def across(size: Size) -> float:
        return size[1] if spacing.left_to_right else size[0]

    successors: dict[str, list[tuple[str, str]]] = {node.id: [] for node in scene.nodes}
    incoming = dict.fromkeys(successors, 0)
    for edge in scene.edges:
        successors[edge.tail].append((edge.head, edge.label))
        incoming[edge.head] += 1
    sources = [n for n, count in incoming.items() if count == 0]
    rank = dict.fromkeys(successors, 0)
    ready = deque(sources)
    while ready:
        node_id = ready.popleft()
        for head, _ in successors[node_id]:
            rank[head] = max(rank[head], rank[node_id] + 1)
            incoming[head] -= 1
            if incoming[head] == 0:
                ready.append(head)
    size_of = {node.id: sizes.get(node.id, (100.0, 36.0)) for node in scene.nodes}

    def label_size(label: str) -> Size:
        return labels.get(label, (0.0, 0.0)) if label else (0.0, 0.0)

    ranks: dict[int, list[Size]] = {}
    for node_id, size in size_of.items():
        ranks.setdefault(2 * rank[node_id], []).append(size)
    for edge in scene.edges:
        first = 2 * rank[edge.tail] + 1
        for r in range(first, 2 * rank[edge.head]):
            item = label_size(edge.label) if edge.label and r == first else (VIRTUAL, VIRTUAL)
            ranks.setdefault(r, []).append(item)
    gap = spacing.ranksep / 2  # dot halves the rank separation when edges have labels
    length = sum(max(along(s) for s in items) for items in ranks.values())
    length += gap * (len(ranks) - 1)
    breadth = max(
        sum(across(s) for s in items) + spacing.nodesep * (len(items) - 1)
        for items in ranks.values()
    )

    # Outlines of subtrees over a spanning tree, stacked bottom-up.
    claimed: set[str] = set(sources)
    order: list[str] = []
    kids: dict[str, list[tuple[str, str]]] = {}
    stack = list(reversed(sources))
    while stack:
        node_id = stack.pop()
        order.append(node_id)
        for head, label in successors[node_id]:
            if head not in claimed:
                claimed.add(head)
                kids.setdefault(node_id, []).append((head, label))
                stack.append(head)
    contours: dict[str, Contour] = {}
    for node_id in reversed(order):
        below = [
            _with_label(contours[head], 2 * rank[head] - 1, across(label_size(label)) / 2)
            for head, label in kids.get(node_id, [])
        ]
        half = across(size_of[node_id]) / 2
        contours[node_id] = _stack(below, spacing.nodesep, {2 * rank[node_id]: (-half, half)})
    outline = _stack([contours[s] for s in sources], spacing.nodesep, {})
    trees = max(hi for _, hi in outline.values()) - min(lo for lo, _ in outline.values())
    breadth = max(breadth, trees * TREE_FACTOR)
    return (length, breadth) if spacing.left_to_right else (breadth, length)


class Paginator:
    """Assigns every question of a diagram to a page."""

    def __init__(
        self,
        diagram: DecisionDiagram,
        scene_for: SceneFor,
        sizes: tuple[dict[str, Size], dict[str, Size]],
        measure: MeasurePages,
        limit: Size,
        spacing: Spacing,
    ) -> None:
        self.diagram = diagram
        self.scene_for = scene_for
        self.sizes, self.labels = sizes
        self.measure = measure
        self.limit = limit
        self.spacing = spacing
        self.parents = parents(diagram)
        self.bfs: dict[int, int] = {}
        queue = deque([diagram.root])
        while queue:
            node_id = queue.popleft()
            if node_id in self.bfs:
                continue
            self.bfs[node_id] = len(self.bfs)
            queue.extend(self.children(node_id))

    def children(self, node_id: int) -> list[int]:
        node = self.diagram.nodes[node_id]
        if not isinstance(node, Question):
            return []
        return [c for _, c in node.branches if isinstance(self.diagram.nodes[c], Question)]

    def page(self, parts: Iterable[Part]) -> Page:
        """A page of parts, with placeholder entries for questions reached from elsewhere (as
        many placeholder pages as there are parents elsewhere, so never too few)."""
        chosen = sorted(parts, key=lambda part: self.bfs[part[0]])
        members = frozenset().union(*(m for _, m in chosen))
        entries = {}
        for n in sorted(members):
            outside = {p for p in self.parents.get(n, []) if p not in members}
            if outside:
                entries[n] = (PLACEHOLDER,) * len(outside)
        return Page(tuple(r for r, _ in chosen), members, entries)

    def room(self) -> Size:
        """The size left for the drawing below the title block."""
        title_h = self.sizes["title"][1]
        return self.limit[0], self.limit[1] - title_h - TITLE_GAP

    def fits(self, parts: Iterable[Part], share: float) -> bool:
        """Whether a page's estimated drawing fits within `share` of the room for it."""
        scene = self.scene_for(self.page(parts))
        width, height = estimate(scene, self.sizes, self.labels, self.spacing)
        room_w, room_h = self.room()
        return width <= room_w * share and height <= room_h * share

    def split(self, root: int, allowed: frozenset[int], share: float) -> list[Part]:
        """Cut the questions below `root` (within `allowed`) into parts that fit, top-down."""
        parts: list[Part] = []
        placed: set[int] = set()
        pending = deque([root])
        while pending:
            start = pending.popleft()
            if start in placed:
                continue
            members = {start}
            queue = deque(self.children(start))
            while queue:
                node_id = queue.popleft()
                if node_id in members or node_id in placed or node_id not in allowed:
                    continue
                if node_id in pending:
                    continue
                trial = frozenset(members | {node_id})
                if self.fits([(start, trial)], share):
                    members.add(node_id)
                    queue.extend(self.children(node_id))
                else:
                    pending.append(node_id)
            placed.update(members)
            parts.append((start, frozenset(members)))
        return parts

    def pack(self, parts: list[Part], share: float) -> list[list[Part]]:
        """Put parts onto pages, first fit; the diagram's root keeps its page to itself.

        A page that has refused `CLOSE_AFTER` parts counts as full and is not tried again.
        """
        pages: list[list[Part]] = []
        refusals: list[int] = []
        for part in sorted(parts, key=lambda p: self.bfs[p[0]]):
            for i, page in enumerate(pages):
                if refusals[i] >= CLOSE_AFTER or page[0][0] == self.diagram.root:
                    continue
                if self.fits([*page, part], share):
                    page.append(part)
                    break
                refusals[i] += 1
            else:
                pages.append([part])
                refusals.append(0)
        return pages

    def relieve(self, parts: list[Part], share: float) -> tuple[list[Part], list[Part]]:
        """Take parts (or, for a single part, subtrees) off a page until its estimate fits."""
        kept = sorted(parts, key=lambda part: self.bfs[part[0]])
        removed: list[Part] = []
        while len(kept) > 1 and not self.fits(kept, share):
            removed.append(kept.pop())
        if not self.fits(kept, share):
            first, *rest = self.split(kept[0][0], kept[0][1], share)
            kept = [first]
            removed.extend(rest)
        return kept, removed

    def run(self) -> list[Page]:
        """Every page: the one with the diagram's root first, the rest in breadth-first order."""
        root = self.diagram.root
        if isinstance(self.diagram.nodes[root], Leaf):
            return [Page((root,), frozenset())]
        todo = [
            (parts, 1.0) for parts in self.pack(self.split(root, frozenset(self.bfs), 1.0), 1.0)
        ]
        done: list[list[Part]] = []
        while todo:
            measured = self.measure([self.page(parts) for parts, _ in todo])
            again: list[tuple[list[Part], float]] = []
            pool: list[Part] = []
            pool_share = 1.0
            for (parts, share), (width, height) in zip(todo, measured, strict=True):
                room_w, room_h = self.room()
                widest = max(room_w, self.sizes["title"][0])  # the title is never split
                over = max(width / widest, (height - (self.limit[1] - room_h)) / room_h)
                if over <= 1 or (len(parts) == 1 and len(parts[0][1]) == 1):
                    done.append(parts)
                    continue
                # Demand as much less of the estimate as the real layout overflowed, and a bit.
                stricter = share / over * ROUND
                if stricter < MIN_SHARE:
                    done.append(parts)
                    continue
                kept, removed = self.relieve(parts, stricter)
                again.append((kept, stricter))
                pool.extend(removed)
                pool_share = min(pool_share, stricter)
            again.extend((page, pool_share) for page in self.pack(pool, pool_share))
            todo = again
        pages = [self.page(parts) for parts in done]
        pages.sort(key=lambda p: (root not in p.roots, min(self.bfs[r] for r in p.roots)))
        return pages
