"""Summaries of a decision diagram that a person reads: questions in the rule base's natural
order, stopped after a budget of questions and what one page holds.

The exact diagram asks whatever separates the outcomes best, so its first question can be a
detail; a summary asks the facts in the order of the fact schema (what is wrong, how fast
knowledge changes, data, constraints) and spends its few questions where they settle branches
(a leaf with one outcome, or for one approach's view a plain yes or no); answers that leave the
same outcomes share one branch, so a question shows only what it changes. Every leaf is exact: the outcomes it lists are those of the exact diagram's
leaves that a case confined to the leaf's answers can reach, so nothing listed is impossible and
nothing possible is missing (each exact leaf is decided by the three-valued analysis).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Node, Open, Question
from llm_advisor.engine.analysis.status import Decision, Masks

Classify = Callable[[Decision], Hashable]
"""What a summary tells apart: outcomes of one class end the summary's walk together."""

OVERVIEW_BUDGET = 25
"""Questions an overview asks at most."""
OVERVIEW_LEAVES = 12
"""Leaves an overview draws at most (one per edge that ends in one), one under the other: with
`OVERVIEW_DEPTH` columns of questions, what a landscape A4 or Letter page holds with its
smallest text at 6 pt or more."""
OVERVIEW_DEPTH = 3
"""Questions on any path of a summary at most: the page is limited by its width, which is its
columns of questions plus its leaves' text."""


def same(decision: Decision) -> Hashable:
    """Tell every outcome apart (the overview)."""
    return decision


def recommends(approach: str) -> Classify:
    """Tell only whether `approach` is the recommendation (the per-approach view)."""

    def classify(decision: Decision) -> Hashable:
        return decision.recommendation == approach

    return classify


SETTLES = 1.0
"""How much more a question gains when all its answers settle their branches than when none do."""

MAINLY = 0.3
"""A fact is asked only if it separates at least this share of what the best fact at that point
would: facts that change little are skipped (the natural order decides among the rest)."""


@dataclass
class _Draft:
    masks: Masks
    outcomes: tuple[Decision, ...]
    depends: tuple[int, ...]
    settled: bool
    floor: int = -1
    """Rank of the fact asked above: questions below come later in the natural order."""
    fact: int = -1
    branches: list[tuple[tuple[int, ...], _Draft]] = field(default_factory=list)


class _Summarizer:
    def __init__(self, detail: DecisionDiagram, classify: Classify, order: Sequence[int]) -> None:
        self.detail = detail
        self.classify = classify
        self.order = list(order)
        self.rank = {f: i for i, f in enumerate(self.order)}
        self.drafts: dict[Hashable, _Draft] = {}
        self._splits: dict[tuple[int, int], list[tuple[int, _Draft]]] = {}
        self._separators: dict[int, tuple[int, ...]] = {}

    def ranked(self, fact: int) -> int:
        return self.rank.get(fact, len(self.rank) + fact)

    def draft(self, masks: Masks, floor: int = -1) -> _Draft:
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
        # The future of a region depends only on the exact nodes it reaches, the answers still
        # open for the facts they test and the facts it may still ask: regions alike in all
        # three share one draft.
        key = (trace.nodes, tuple(masks[f] for f in sorted(tested)), floor)
        found = self.drafts.get(key)
        if found is None:
            depends = tuple(sorted(tested, key=self.ranked))
            found = self.drafts[key] = _Draft(masks, outcomes, depends, settled, floor)
        return found

    def spread(self, draft: _Draft) -> float:
        """How much is still open in a draft: nothing once it is settled; else the
        recommendations it can end in weigh most, then the classes (outcomes, or yes/no for one
        approach) among them."""
        if draft.settled:
            return 0.0
        recommendations = {d.recommendation for d in draft.outcomes}
        classes = {self.classify(d) for d in draft.outcomes}
        return 4 * len(recommendations) + len(classes) - 5

    def split(self, draft: _Draft, fact: int) -> list[tuple[int, _Draft]]:
        """The child draft of each answer still open for `fact` (a decided child is the one
        leaf draft of its outcome)."""
        key = (id(draft), fact)
        found = self._splits.get(key)
        if found is None:
            found = []
            mask = draft.masks[fact]
            floor = self.ranked(fact)
            for cell in range(mask.bit_length()):
                if mask >> cell & 1:
                    masks = (*draft.masks[:fact], 1 << cell, *draft.masks[fact + 1 :])
                    child = self.draft(masks, floor)
                    if child.settled and len(child.outcomes) == 1:
                        child = self._leaf_key(child)
                    found.append((cell, child))
            self._splits[key] = found
        return found

    def gain(self, draft: _Draft, fact: int) -> float:
        """How much asking `fact` narrows a draft down, on average over its answers, weighted by
        the share of answers it settles: a question that settles a branch beats one that only
        reshuffles, and one whose answers all leave the same outcomes gains nothing."""
        children = self.split(draft, fact)
        if len({frozenset(c.outcomes) for _, c in children}) < 2:
            return 0.0
        after = sum(self.spread(c) for _, c in children) / len(children)
        settles = sum(c.settled for _, c in children) / len(children)
        return (self.spread(draft) - after) * (1 + SETTLES * settles)

    def choice(self, draft: _Draft) -> int | None:
        """The fact a draft asks: the first, in the natural order, that narrows it down nearly
        as much as the best one still allowed there (None when nothing narrows it)."""
        if draft.settled:
            return None
        allowed = [f for f in draft.depends if self.ranked(f) > draft.floor]
        gains = {f: self.gain(draft, f) for f in allowed}
        best = max(gains.values(), default=0.0)
        if best <= 0:
            return None
        return next(f for f in sorted(allowed, key=self.ranked) if gains[f] >= MAINLY * best)

    def priority(self, draft: _Draft) -> tuple[float, float]:
        """A draft's place in the queue, the most worth asking first: the share of its answers
        that its question settles, then its gain, both negated (a summary spends its few
        questions where they settle)."""
        fact = self.choice(draft)
        if fact is None:
            return 0.0, 0.0
        children = self.split(draft, fact)
        return -sum(c.settled for _, c in children) / len(children), -self.gain(draft, fact)

    def separators(self, draft: _Draft) -> tuple[int, ...]:
        """The facts a draft depends on, those that separate its outcomes most first."""
        found = self._separators.get(id(draft))
        if found is None:
            gains = {f: self.gain(draft, f) for f in draft.depends}
            found = tuple(sorted(draft.depends, key=lambda f: (-gains[f], self.ranked(f))))
            self._separators[id(draft)] = found
        return found

    def expand(self, draft: _Draft) -> list[_Draft]:
        """Ask the draft's question (`choice`): its children, one per different outcome set."""
        fact = self.choice(draft)
        if fact is None:
            return []
        # Answers that leave the same outcomes share one branch, so that a question shows only
        # differences (a decided outcome is one shared draft whatever the answers).
        groups: dict[frozenset[Decision], list[tuple[int, _Draft]]] = {}
        for cell, child in self.split(draft, fact):
            groups.setdefault(frozenset(child.outcomes), []).append((cell, child))
        merged = []
        floor = self.ranked(fact)
        for group in groups.values():
            cells = tuple(cell for cell, _ in group)
            child = group[0][1]
            if any(c is not child for _, c in group):
                union = sum(1 << c for c in cells)
                child = self.draft((*draft.masks[:fact], union, *draft.masks[fact + 1 :]), floor)
            merged.append((cells, child))
        draft.fact = fact
        draft.branches = merged
        return [child for _, child in merged]

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
    depth: int | None = OVERVIEW_DEPTH,
) -> DecisionDiagram:
    """A summary of an exact diagram: at most `budget` questions, at most `depth` on a path, and
    no more once the drawn leaves would exceed `leaves`; a leaf is an outcome, or every outcome
    still possible.

    Questions go first where they settle the largest share of their answers, then where they
    narrow the outcomes down most (`_Summarizer.priority`); each asks, in `order` (default: schema order)
    and below the fact asked above it, the first fact that narrows the outcomes down nearly as
    much as the best one would. An open leaf names the facts it depends on, those that separate
    its outcomes most first."""
    order = list(range(len(detail.facts))) if order is None else order
    summarizer = _Summarizer(detail, classify, order)
    full = tuple((1 << len(labels)) - 1 for labels in detail.cell_labels)
    root = summarizer.draft(full)
    queue: list[tuple[tuple[float, float], int, int, _Draft]] = [
        (summarizer.priority(root), 0, 0, root)
    ]
    seen: set[int] = set()
    asked = tick = 0
    while queue and asked < budget:
        _, _, level, draft = heapq.heappop(queue)
        if id(draft) in seen or draft.settled or (depth is not None and level >= depth):
            continue
        seen.add(id(draft))
        children = summarizer.expand(draft)
        if not children:
            continue
        if leaves is not None and _drawn(root) > leaves:
            draft.fact, draft.branches = -1, []  # this question does not fit the page: try others
            continue
        asked += 1
        for child in children:
            tick += 1
            heapq.heappush(queue, (summarizer.priority(child), tick, level + 1, child))
    return _freeze(summarizer, root)


def drawn_leaves(diagram: DecisionDiagram) -> int:
    """How many leaves a drawing shows: one per edge into a leaf (or one, for a lone leaf)."""
    count = 0
    for node_id in diagram.reachable():
        node = diagram.nodes[node_id]
        if isinstance(node, Question):
            count += sum(not isinstance(diagram.nodes[c], Question) for _, c in node.branches)
    return max(count, 1)


def _drawn(root: _Draft) -> int:
    """How many leaves the drafts would draw: at least what `drawn_leaves` counts once they are
    frozen (freezing can only merge), without working out what each open leaf depends on."""
    count = 0
    seen: set[int] = set()
    stack = [root]
    while stack:
        draft = stack.pop()
        if id(draft) in seen:
            continue
        seen.add(id(draft))
        for child in {id(c): c for _, c in draft.branches}.values():
            if child.branches:
                stack.append(child)
            else:
                count += 1
    return max(count, 1)


def _freeze(summarizer: _Summarizer, root: _Draft) -> DecisionDiagram:
    """The drafts as a diagram: node ids in depth-first order, equal nodes shared."""
    detail = summarizer.detail
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
            node = Open(
                draft.outcomes,
                () if draft.settled else summarizer.separators(draft),
            )
        found = unique.get(node)
        if found is None:
            found = unique[node] = len(nodes)
            nodes.append(node)
        ids[id(draft)] = found
        return found

    top = visit(root)
    return DecisionDiagram(detail.fingerprint, detail.facts, detail.cell_labels, top, tuple(nodes))
