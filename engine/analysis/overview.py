"""Summaries of a decision diagram that a person reads: questions in the rule base's natural
order, stopped after a budget of questions.

The exact diagram asks whatever separates the outcomes best, so its first question can be a
detail; a summary asks the facts in the order of the fact schema (what is wrong, how fast
knowledge changes, data, constraints) and stops when the outcome is fixed or the budget of
questions is spent. Every leaf is exact: the outcomes it lists are those of the exact diagram's
leaves that a case confined to the leaf's answers can reach, so nothing listed is impossible and
nothing possible is missing (each exact leaf is decided by the three-valued analysis).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Node, Open, Question
from llm_advisor.engine.analysis.partial import Decision, Masks

Classify = Callable[[Decision], Hashable]
"""What a summary tells apart: outcomes of one class end the summary's walk together."""

OVERVIEW_BUDGET = 25
"""Questions an overview asks at most."""
OVERVIEW_LEAVES = 16
"""Leaves an overview draws at most (one per edge that ends in one): what a landscape page
holds with text still readable."""


def same(decision: Decision) -> Hashable:
    """Tell every outcome apart (the overview)."""
    return decision


def recommends(approach: str) -> Classify:
    """Tell only whether `approach` is the recommendation (the per-approach view)."""

    def classify(decision: Decision) -> Hashable:
        return decision.recommendation == approach

    return classify


@dataclass
class _Draft:
    masks: Masks
    outcomes: tuple[Decision, ...]
    depends: tuple[int, ...]
    settled: bool
    fact: int = -1
    branches: list[tuple[tuple[int, ...], _Draft]] = field(default_factory=list)


class _Summarizer:
    def __init__(self, detail: DecisionDiagram, classify: Classify, order: Sequence[int]) -> None:
        self.detail = detail
        self.classify = classify
        self.order = list(order)
        self.rank = {f: i for i, f in enumerate(self.order)}
        self.drafts: dict[Hashable, _Draft] = {}

    def draft(self, masks: Masks) -> _Draft:
        """The (shared) draft of the region `masks`: exact outcomes and what they depend on."""
        trace = self.detail.trace(masks)
        outcomes = trace.outcomes(self.detail)
        tested: set[int] = set()
        for node_id in trace.nodes:
            node = self.detail.nodes[node_id]
            if isinstance(node, Question):
                taken = sum(
                    1 for cells, _ in node.branches if any(masks[node.fact] >> c & 1 for c in cells)
                )
                if taken > 1:
                    tested.add(node.fact)
        settled = len({self.classify(d) for d in outcomes}) == 1
        # The future of a region depends only on the exact nodes it reaches and the answers
        # still open for the facts they test: regions alike in both share one draft.
        key = (trace.nodes, tuple(masks[f] for f in sorted(tested)))
        found = self.drafts.get(key)
        if found is None:
            depends = tuple(sorted(tested, key=lambda f: self.rank.get(f, len(self.rank) + f)))
            found = self.drafts[key] = _Draft(masks, outcomes, depends, settled)
        return found

    def expand(self, draft: _Draft) -> list[_Draft]:
        """Ask the first fact, in the natural order, whose answers lead to different places."""
        for fact in sorted(draft.depends, key=lambda f: self.rank.get(f, len(self.rank) + f)):
            mask = draft.masks[fact]
            groups: dict[int, list[int]] = {}
            children: list[_Draft] = []
            for cell in range(mask.bit_length()):
                if not mask >> cell & 1:
                    continue
                child = self.draft((*draft.masks[:fact], 1 << cell, *draft.masks[fact + 1 :]))
                if child.settled and len(child.outcomes) == 1:
                    child = self._leaf_key(child)
                index = next((i for i, c in enumerate(children) if c is child), None)
                if index is None:
                    children.append(child)
                    index = len(children) - 1
                groups.setdefault(index, []).append(cell)
            if len(children) < 2:
                continue
            merged = []
            for index, cells in groups.items():
                child = children[index]
                if len(cells) > 1 and not child.settled:
                    union = sum(1 << c for c in cells)
                    child = self.draft((*draft.masks[:fact], union, *draft.masks[fact + 1 :]))
                merged.append((tuple(cells), child))
            draft.fact = fact
            draft.branches = merged
            return [child for _, child in merged]
        return []

    def _leaf_key(self, draft: _Draft) -> _Draft:
        """One draft per decided outcome, whatever region reaches it."""
        return self.drafts.setdefault(("leaf", draft.outcomes), draft)


def summarize(
    detail: DecisionDiagram,
    *,
    classify: Classify = same,
    order: Sequence[int] | None = None,
    budget: int = OVERVIEW_BUDGET,
    leaves: int | None = OVERVIEW_LEAVES,
) -> DecisionDiagram:
    """A summary of an exact diagram: questions in `order` (default: schema order), breadth
    first, at most `budget` of them, and no more once the drawn leaves would exceed `leaves`;
    a leaf is an outcome, or every outcome still possible."""
    order = list(range(len(detail.facts))) if order is None else order
    summarizer = _Summarizer(detail, classify, order)
    full = tuple((1 << len(labels)) - 1 for labels in detail.cell_labels)
    root = summarizer.draft(full)
    queue = deque([root])
    seen: set[int] = set()
    asked = 0
    while queue and asked < budget:
        draft = queue.popleft()
        if id(draft) in seen or draft.settled:
            continue
        seen.add(id(draft))
        children = summarizer.expand(draft)
        if not children:
            continue
        if leaves is not None and drawn_leaves(_freeze(detail, root)) > leaves:
            draft.fact, draft.branches = -1, []  # one question too many: the page is full
            break
        asked += 1
        queue.extend(children)
    return _freeze(detail, root)


def drawn_leaves(diagram: DecisionDiagram) -> int:
    """How many leaves a drawing shows: one per edge into a leaf (or one, for a lone leaf)."""
    count = 0
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if isinstance(node, Question):
            count += sum(not isinstance(diagram.nodes[c], Question) for _, c in node.branches)
    return max(count, 1)


def _freeze(detail: DecisionDiagram, root: _Draft) -> DecisionDiagram:
    """The drafts as a diagram: node ids in depth-first order, equal leaves shared."""
    nodes: list[Node] = []
    ids: dict[int, int] = {}
    unique: dict[Node, int] = {}

    def visit(draft: _Draft) -> int:
        if id(draft) in ids:
            return ids[id(draft)]
        node: Node
        if draft.branches:
            # Answers whose drafts turn out the same node share one branch.
            merged: dict[int, list[int]] = {}
            for cells, child in draft.branches:
                merged.setdefault(visit(child), []).extend(cells)
            if len(merged) == 1:
                ids[id(draft)] = next(iter(merged))
                return ids[id(draft)]
            branches = tuple(sorted((tuple(sorted(c)), n) for n, c in merged.items()))
            node = Question(draft.fact, branches)
        elif len(draft.outcomes) == 1:
            node = Leaf(draft.outcomes[0])
        else:
            node = Open(draft.outcomes, () if draft.settled else draft.depends)
        found = unique.get(node)
        if found is None:
            found = unique[node] = len(nodes)
            nodes.append(node)
        ids[id(draft)] = found
        return found

    top = visit(root)
    return DecisionDiagram(detail.fingerprint, detail.facts, detail.cell_labels, top, tuple(nodes))
