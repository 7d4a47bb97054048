"""The decision diagram: the rule base's whole decision, compiled top-down by the analysis.

Question nodes ask a fact; edges carry the cells (values or bands) they cover, merged where they
lead to the same sub-diagram; leaves hold a decided outcome. Sub-diagrams are shared by
structure and a question whose answers all lead to the same place is dropped, so the diagram is
small and canonical for a rule base. It is cached on disk by the rule base's fingerprint.
"""

from __future__ import annotations

import functools
import gc
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import next_question
from llm_advisor.engine.analysis.status import Decision, Masks, Partial
from llm_advisor.engine.language.model import KnowledgeBase, Value

if TYPE_CHECKING:
    import networkx as nx

CACHE_VERSION = 2


@dataclass(frozen=True)
class Leaf:
    """A node where the outcome is decided."""

    decision: Decision


@dataclass(frozen=True)
class Question:
    """A node that asks the fact with index `fact`; each branch covers some of its cells."""

    fact: int
    branches: tuple[tuple[tuple[int, ...], int], ...]  # (cells, child node id)


@dataclass(frozen=True)
class Open:
    """A leaf of a summary where the outcome is not fixed: exactly the outcomes still possible
    there, and the facts (indices) the choice between them still depends on."""

    outcomes: tuple[Decision, ...]
    depends: tuple[int, ...]


Node = Leaf | Question | Open


def leaf_outcomes(node: Node) -> tuple[Decision, ...]:
    """The outcomes a node stands for: a leaf's one, an open leaf's several, a question's none."""
    if isinstance(node, Leaf):
        return (node.decision,)
    if isinstance(node, Open):
        return node.outcomes
    return ()


@dataclass(frozen=True)
class Trace:
    """Where a partly known case goes: every node and edge it can take from the root (at a fact
    it leaves unknown, every branch), and the leaves it can end in, in preorder."""

    nodes: frozenset[int]
    steps: frozenset[tuple[int, int]]
    ends: tuple[int, ...]
    unknown: tuple[str, ...]
    """Facts the case leaves open at a question it passes, in the order they are met."""

    def outcomes(self, diagram: DecisionDiagram) -> tuple[Decision, ...]:
        """The outcomes the case can still end in, each once, in preorder."""
        found: dict[Decision, None] = {}
        for end in self.ends:
            found.update(dict.fromkeys(leaf_outcomes(diagram.nodes[end])))
        return tuple(found)

    def decision(self, diagram: DecisionDiagram) -> Decision | None:
        """The outcome when only one is possible."""
        outcomes = self.outcomes(diagram)
        return outcomes[0] if len(outcomes) == 1 else None


class DiagramBuilder:
    """Builds the reduced, shared diagram; node 0 is the root."""

    def __init__(self, analyzer: Analyzer, limit: int = 200_000) -> None:
        self.an = analyzer
        self.nodes: list[Node] = []
        self._unique: dict[Node, int] = {}
        self._memo: dict[tuple[object, ...], int] = {}
        self._limit = limit

    def _intern(self, node: Node) -> int:
        found = self._unique.get(node)
        if found is None:
            found = self._unique[node] = len(self.nodes)
            self.nodes.append(node)
        return found

    def build(self, state: Masks, base: Partial | None = None) -> int:
        partial = self.an.evaluate(state, base)
        if partial.decision is not None:
            return self._intern(Leaf(partial.decision))
        found = self._memo.get(partial.key)
        if found is not None:
            return found
        if len(self._memo) > self._limit:
            raise RuntimeError("decision diagram too large")
        fact = next_question(self.an, state, partial)
        assert fact is not None
        children: dict[int, list[int]] = {}
        for cell in self.an.open_cells(state, fact):
            child = self.build(self.an.fix(state, fact, cell), partial)
            children.setdefault(child, []).append(cell)
        if len(children) == 1:
            node_id = next(iter(children))
        else:
            branches = tuple(sorted((tuple(cells), child) for child, cells in children.items()))
            node_id = self._intern(Question(fact, branches))
        self._memo[partial.key] = node_id
        return node_id


@dataclass(frozen=True)
class DecisionDiagram:
    """A compiled diagram as plain data (root first), with helpers to walk and export it."""

    fingerprint: str
    facts: tuple[str, ...]
    cell_labels: tuple[tuple[str, ...], ...]
    root: int
    nodes: tuple[Node, ...]

    def walk(self, an: Analyzer, known: Mapping[str, Value | None]) -> tuple[list[int], Decision]:
        """Follow a fully specified case from the root; returns the path and the leaf decision."""
        node_id = self.root
        path = [node_id]
        while True:
            node = self.nodes[node_id]
            if isinstance(node, Leaf):
                return path, node.decision
            if isinstance(node, Open):
                raise ValueError("a summary diagram has no single outcome here")
            value = known.get(self.facts[node.fact])
            if value is None:
                raise KeyError(self.facts[node.fact])
            cell = an.cell_of(self.facts[node.fact], value)
            node_id = next(child for cells, child in node.branches if cell in cells)
            path.append(node_id)

    def masks_of(self, an: Analyzer, known: Mapping[str, Value | None]) -> Masks:
        """The cells each fact may be in, for a case that knows some facts (the rest are open)."""
        masks = []
        for name, labels in zip(self.facts, self.cell_labels, strict=True):
            value = known.get(name)
            masks.append((1 << len(labels)) - 1 if value is None else 1 << an.cell_of(name, value))
        return tuple(masks)

    def trace(self, masks: Masks) -> Trace:
        """Every way through the diagram for facts confined to `masks` (one walk for highlighted
        paths, summaries and per-approach views)."""
        nodes: dict[int, None] = {}
        steps: set[tuple[int, int]] = set()
        ends: dict[int, None] = {}
        unknown: dict[str, None] = {}
        stack = [self.root]
        while stack:
            node_id = stack.pop()
            if node_id in nodes:
                continue
            nodes[node_id] = None
            node = self.nodes[node_id]
            if not isinstance(node, Question):
                ends[node_id] = None
                continue
            taken = [
                child
                for cells, child in node.branches
                if any(masks[node.fact] >> c & 1 for c in cells)
            ]
            if len(taken) > 1:
                unknown[self.facts[node.fact]] = None
            steps.update((node_id, child) for child in taken)
            stack.extend(reversed(taken))
        return Trace(frozenset(nodes), frozenset(steps), tuple(ends), tuple(unknown))

    def reachable(self, start: int | None = None) -> list[int]:
        """Node ids reachable from `start` (default root), in depth-first preorder."""
        seen: dict[int, None] = {}
        stack = [self.root if start is None else start]
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen[node_id] = None
            node = self.nodes[node_id]
            if isinstance(node, Question):
                stack.extend(child for _, child in reversed(node.branches))
        return list(seen)

    def to_networkx(self) -> nx.DiGraph:
        """The diagram as a `networkx.DiGraph` with `kind`, `fact`, `label` attributes."""
        import networkx as nx

        graph = nx.DiGraph(fingerprint=self.fingerprint, root=f"n{self.root}")
        for node_id in self.reachable():
            node = self.nodes[node_id]
            if isinstance(node, Leaf):
                graph.add_node(
                    f"n{node_id}",
                    kind="leaf",
                    recommendation=node.decision.recommendation,
                    combine_with=list(node.decision.combine_with),
                )
            elif isinstance(node, Open):
                graph.add_node(
                    f"n{node_id}",
                    kind="open",
                    outcomes=[d.recommendation for d in node.outcomes],
                    depends=[self.facts[f] for f in node.depends],
                )
            else:
                graph.add_node(f"n{node_id}", kind="question", fact=self.facts[node.fact])
                for cells, child in node.branches:
                    graph.add_edge(
                        f"n{node_id}",
                        f"n{child}",
                        cells=list(cells),
                        label=", ".join(self.cell_labels[node.fact][c] for c in cells),
                    )
        return graph

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CACHE_VERSION,
            "fingerprint": self.fingerprint,
            "facts": list(self.facts),
            "cell_labels": [list(c) for c in self.cell_labels],
            "root": self.root,
            "nodes": [_node_json(n) for n in self.nodes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecisionDiagram:
        nodes: list[Node] = []
        for n in data["nodes"]:
            if "leaf" in n:
                nodes.append(Leaf(Decision(n["leaf"][0], tuple(n["leaf"][1]))))
            elif "open" in n:
                outcomes = tuple(Decision(r, tuple(c)) for r, c in n["open"])
                nodes.append(Open(outcomes, tuple(int(f) for f in n["depends"])))
            else:
                branches = tuple((tuple(c), int(child)) for c, child in n["branches"])
                nodes.append(Question(int(n["fact"]), branches))
        return cls(
            data["fingerprint"],
            tuple(data["facts"]),
            tuple(tuple(c) for c in data["cell_labels"]),
            int(data["root"]),
            tuple(nodes),
        )


def _node_json(node: Node) -> dict[str, Any]:
    if isinstance(node, Leaf):
        return {"leaf": [node.decision.recommendation, list(node.decision.combine_with)]}
    if isinstance(node, Open):
        return {
            "open": [[d.recommendation, list(d.combine_with)] for d in node.outcomes],
            "depends": list(node.depends),
        }
    return {"fact": node.fact, "branches": [[list(c), child] for c, child in node.branches]}


def compile_diagram(
    kb: KnowledgeBase,
    given: Mapping[str, Value | None] | None = None,
    thresholds: Mapping[str, Iterable[float]] | None = None,
    *,
    unknown: bool = False,
) -> DecisionDiagram:
    """Compile the diagram of a rule base (optionally below some facts fixed in advance, with
    quantities split at extra thresholds, and with `unknown`, "not known" as one more cell of
    every fact)."""
    an = Analyzer(kb, thresholds, outcome_only=True, unknown=unknown)
    builder = DiagramBuilder(an)
    # The compilation allocates about a million small tuples, none in a reference cycle, while
    # the analysis cache grows; the cyclic garbage collector would rescan that cache over and
    # over (a third of the time), so it is paused. Reference counting still frees everything.
    paused = gc.isenabled()
    gc.disable()
    try:
        root = builder.build(an.state_of(dict(given or {})))
    finally:
        if paused:
            gc.enable()
    return DecisionDiagram(
        kb.fingerprint,
        kb.fact_names,
        tuple(tuple(cell.label for cell in cells) for cells in an.cells),
        root,
        tuple(builder.nodes),
    )


@functools.cache
def code_version() -> str:
    """A checksum of the code that compiles diagrams, so a changed analysis never reads a stale
    cache: the cache format, the rule language (the facts' cells and labels come from it), the
    analysis and this module."""
    from llm_advisor.engine.analysis import partial
    from llm_advisor.engine.language import cache

    modules = (partial.__file__, __file__)
    return cache.crc(
        [str(CACHE_VERSION).encode(), cache.code_version().encode()]
        + [Path(module or "").read_bytes() for module in modules]
    )


def load_diagram(kb: KnowledgeBase, cache_dir: Path | None = None) -> DecisionDiagram:
    """The diagram of the whole rule base, from a file in `cache_dir` when one is there (and
    written there when not); without a cache folder it is compiled."""
    if cache_dir is None:
        return compile_diagram(kb)
    path = cache_dir / f"diagram-{kb.fingerprint[:32]}-{code_version()}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("fingerprint") == kb.fingerprint and data.get("version") == CACHE_VERSION:
            return DecisionDiagram.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    diagram = compile_diagram(kb)
    import tempfile  # only to write the cache: most runs find it

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(diagram.to_json(), out)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return diagram


def diagram_with_bands(
    kb: KnowledgeBase, bands: Mapping[str, Iterable[float]], cache_dir: Path | None = None
) -> DecisionDiagram:
    """The diagram of the whole rule base with quantities split at `bands`: the cached one when
    those are the rule base's own thresholds, else compiled (the analyses that compare two rule
    bases, or a rule base with its invariants, need the cells of both)."""
    own = own_bands(kb, bands)
    return load_diagram(kb, cache_dir) if own else compile_diagram(kb, thresholds=bands)


def own_bands(kb: KnowledgeBase, bands: Mapping[str, Iterable[float]]) -> bool:
    """Whether `bands` split the quantities exactly where the rule base's own thresholds do."""
    return all(tuple(sorted(set(bands[f.name]))) == kb.thresholds(f.name) for f in kb.facts)
