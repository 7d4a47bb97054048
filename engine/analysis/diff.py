"""`rules diff`: the regions of the fact space whose outcome differs between two rule bases,
compared over the union of their fact schemas where those differ only by facts or values one of
them lacks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from llm_advisor.engine.analysis import regions
from llm_advisor.engine.analysis.cells import union_thresholds
from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Question, diagram_with_bands
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import relevant
from llm_advisor.engine.analysis.status import Decision, Masks, Partial
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import Fact, KnowledgeBase


@dataclass(frozen=True)
class Region:
    """A region of the fact space: fact conditions, the number of cell combinations it covers,
    the outcome on each side and an example case."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    size: int
    old: Decision
    new: Decision
    example: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Diff:
    """The regions that change outcome, out of `total` cases (`changed` of them), and how the two
    fact schemas differ where `diff` compares across them (`schema_changes`)."""

    total: int
    changed: int
    regions: tuple[Region, ...]
    schema: tuple[tuple[str, str], ...] = ()


def compare(
    diagram: DecisionDiagram, a: Analyzer, b: Analyzer, *, exhaustive: bool
) -> Iterator[tuple[Masks, Decision, Decision]]:
    """Follow A's diagram with B's analysis; yield (state, A's, B's decision) where they differ.

    Where B is still undecided at one of A's leaves, the region is split on B's questions. Both
    analyzers must use the same cells. Unless `exhaustive`, regions already seen with the same
    residual of B are skipped (enough to tell whether any difference exists).
    """
    seen: set[tuple[int, object]] = set()
    stack: list[tuple[int, Masks, Partial | None]] = [(diagram.root, a.full, None)]
    while stack:
        node_id, state, base = stack.pop()
        pb = b.evaluate(state, base)
        if not exhaustive:
            if (node_id, pb.key) in seen:
                continue
            seen.add((node_id, pb.key))
        node = diagram.nodes[node_id]
        if isinstance(node, Question):
            for cells, child in node.branches:
                mask = sum(1 << c for c in cells)
                stack.append((child, (*state[: node.fact], mask, *state[node.fact + 1 :]), pb))
        elif not isinstance(node, Leaf):
            raise ValueError("verification needs the exact diagram, not a summary")
        elif pb.decision is not None:
            if pb.decision != node.decision:
                yield state, node.decision, pb.decision
        else:
            fact = relevant(b, state, pb)[0]  # any open fact will do: regions are merged later
            stack.extend((node_id, b.fix(state, fact, c), pb) for c in b.open_cells(state, fact))


def schema_difference(old: KnowledgeBase, new: KnowledgeBase) -> tuple[str, str] | None:
    """The first difference between two rule bases' facts that `diff` cannot compare across, as
    the fact and what differs; None when it can. A fact both have must keep its type, unit and
    the order of the enum values both have: rules compare a quantity in its unit, and "raising"
    an enum fact (invariants, what-if) follows its values' order. A fact or value only one of
    them has is compared across (`schema_changes`). A reviewer fixes what is named rather than
    hunting for it."""
    theirs = {g.name: g for g in new.facts}
    for f in old.facts:
        g = theirs.get(f.name)
        if g is None:
            continue
        if f.type != g.type:
            return f.name, f"fact {f.name}: type differs (old: {f.type}; new: {g.type})"
        if f.unit != g.unit:
            return f.name, f"fact {f.name}: unit differs (old: {f.unit}; new: {g.unit})"
        if [v for v in f.values if v in g.values] != [v for v in g.values if v in f.values]:
            return f.name, f"fact {f.name}: values in another order"
    return None


def schema_changes(old: KnowledgeBase, new: KnowledgeBase) -> tuple[tuple[str, str], ...]:
    """How two comparable fact schemas differ, as (fact, what differs), in the facts' shared
    order: the facts and enum values only one rule base has. A region naming one compares a rule
    base's behaviour with the other's, whose rules never test it. Facts listed in another order
    are not named: no outcome depends on the order, and both are compared in one order."""
    ours, theirs = {f.name: f for f in old.facts}, {g.name: g for g in new.facts}
    found: list[tuple[str, str]] = []
    for name in _merged(old.fact_names, new.fact_names):
        f, g = ours.get(name), theirs.get(name)
        if f is None or g is None:
            found.append(
                (name, f"fact {name} only in the {'new' if f is None else 'old'} rule base")
            )
            continue
        for side, values, others in (("new", g.values, f.values), ("old", f.values, g.values)):
            if only := [v for v in values if v not in others]:
                found.append((name, f"fact {name}: {', '.join(only)} only in the {side} rule base"))
    return tuple(found)


def common_schema(old: KnowledgeBase, new: KnowledgeBase) -> tuple[KnowledgeBase, KnowledgeBase]:
    """Both rule bases over the union of their fact schemas, with the facts and enum values in
    one shared order, so that their analyses share cells (`schema_difference` must be None).

    A fact or value one of them lacks is added to it as the other declares it; its rules never
    test it, so it behaves exactly as it would had the fact or value been allowed and never
    matched (a test `in` those values fails on it, its negation holds). A base whose schema
    changes gets a fingerprint of its own, so that its diagram is never cached as the original's.
    """
    ours, theirs = {f.name: f for f in old.facts}, {g.name: g for g in new.facts}
    names = _merged(old.fact_names, new.fact_names)

    def fact(name: str, own: dict[str, Fact], other: dict[str, Fact]) -> Fact:
        if name not in own or name not in other:
            return own.get(name) or other[name]
        return replace(own[name], values=_merged(ours[name].values, theirs[name].values))

    def widened(kb: KnowledgeBase, own: dict[str, Fact], other: dict[str, Fact]) -> KnowledgeBase:
        facts = tuple(fact(name, own, other) for name in names)
        if facts == kb.facts:
            return kb
        schema = repr([(f.name, f.type, f.unit, f.values) for f in facts])
        digest = hashlib.sha256(f"{kb.fingerprint}\0{schema}".encode()).hexdigest()
        return replace(kb, facts=facts, fingerprint=digest)

    return widened(old, ours, theirs), widened(new, theirs, ours)


def _merged(first: Sequence[str], second: Sequence[str]) -> tuple[str, ...]:
    """`second` with the items only in `first` put in: each right before the next item after it
    in `first` that `second` has too, at the end when none does. When the shared items are in
    the same order in both, both are in the result's order."""
    out: list[str] = []
    start = 0
    for item in second:
        if item in first[start:]:
            at = first.index(item, start)
            out.extend(x for x in first[start:at] if x not in second)
            start = at + 1
        out.append(item)
    out.extend(x for x in first[start:] if x not in second)
    return tuple(out)


def diff(old: KnowledgeBase, new: KnowledgeBase, cache_dir: Path | None = None) -> Diff:
    """Regions of the fact space whose recommendation or combination differs between two bases,
    the largest first (a reviewer reads the changes that touch the most cases first).

    Two schemas that differ are compared over their union (`common_schema`) when
    `schema_difference` allows it, and the differences are reported with the regions; else
    `InputError` names the first difference."""
    difference = schema_difference(old, new)
    if difference is not None:
        name, what = difference
        raise InputError(
            f"the two rule bases have different fact schemas (facts.yaml): {what}", item=name
        )
    changes = schema_changes(old, new)
    old, new = common_schema(old, new)
    bands = union_thresholds(old, new)
    a, b = Analyzer(old, bands), Analyzer(new, bands)
    diagram = diagram_with_bands(old, bands, cache_dir)
    changed = list(compare(diagram, a, b, exhaustive=True))
    found = [
        Region(
            regions.conditions(a, state),
            regions.size(state),
            d1,
            d2,
            regions.shown(a, regions.example(a, state)),
        )
        for state, d1, d2 in regions.merge_regions(changed)
    ]
    found.sort(key=lambda region: -region.size)
    return Diff(regions.size(a.full), sum(r.size for r in found), tuple(found), changes)
