"""States of the analysis as sets of cases: their size, an example and their conditions, the
states of a diagram's paths, and merging neighbouring states with the same outcome."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Question
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import Decision, Masks
from llm_advisor.engine.language.facts import display_value
from llm_advisor.engine.language.model import Value


def size(state: Masks) -> int:
    """How many cases (combinations of cells) a state holds."""
    return math.prod(mask.bit_count() for mask in state)


def example(an: Analyzer, state: Masks) -> dict[str, Value]:
    """A concrete case inside a state: the first open cell of every fact."""
    return {
        fact.name: an.cells[i][an.open_cells(state, i)[0]].value for i, fact in enumerate(an.facts)
    }


def shown(an: Analyzer, known: Mapping[str, Value]) -> tuple[tuple[str, str], ...]:
    """A case as people read it: every fact with its value shown."""
    return tuple((f.name, display_value(f, known[f.name])) for f in an.facts)


def conditions(
    an: Analyzer, state: Masks, within: Masks | None = None
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The facts a state narrows, each with the cells it leaves open (narrows from `within`, by
    default every case)."""
    baseline = an.full if within is None else within
    return tuple(
        (fact.name, tuple(an.cells[i][c].label for c in an.open_cells(state, i)))
        for i, fact in enumerate(an.facts)
        if state[i] != baseline[i]
    )


def diagram_paths(
    diagram: DecisionDiagram, an: Analyzer, start: Masks | None = None
) -> Iterator[tuple[Masks, Decision]]:
    """Every root-to-leaf path of the diagram as a state, with its leaf decision."""
    stack: list[tuple[int, Masks]] = [(diagram.root, an.full if start is None else start)]
    while stack:
        node_id, state = stack.pop()
        node = diagram.nodes[node_id]
        if isinstance(node, Leaf):
            yield state, node.decision
            continue
        assert isinstance(node, Question)
        for cells, child in node.branches:
            mask = sum(1 << c for c in cells)
            stack.append((child, (*state[: node.fact], mask, *state[node.fact + 1 :])))


def merge_regions(
    regions: list[tuple[Masks, Decision, Decision]],
) -> list[tuple[Masks, Decision, Decision]]:
    """Merge regions with the same change that differ in one fact only, until none do.

    For each fact in turn, regions equal in every other fact (and in the change) are grouped
    and their masks for that fact joined; this repeats until a full pass merges nothing.
    """
    facts = len(regions[0][0]) if regions else 0
    changed = True
    while changed:
        changed = False
        for k in range(facts):
            groups: dict[tuple[object, ...], int] = {}
            for state, old, new in regions:
                rest = (state[:k], state[k + 1 :], old, new)
                groups[rest] = groups.get(rest, 0) | state[k]
            if len(groups) < len(regions):
                changed = True
                regions = [
                    ((*head, mask, *tail), old, new)  # type: ignore[misc]
                    for (head, tail, old, new), mask in groups.items()
                ]
    return regions
