"""Verification of a rule base with the analysis: `rules check`, `rules diff` and cross-checks."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from .analysis import FALSE, OPEN, TRUE, Analyzer, Decision, Partial, State
from .diagram import DecisionDiagram, Leaf, Question, compile_diagram, load_diagram
from .facts import Case, display_value
from .inference import evaluate
from .model import Advise, Exclude, Fact, KnowledgeBase, Rule, Value

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    level: Level
    kind: str
    message: str
    rule: str | None = None
    location: str | None = None
    example: tuple[tuple[str, str], ...] = ()


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
    total: int
    changed: int
    regions: tuple[Region, ...]


def _union_thresholds(*kbs: KnowledgeBase) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for kb in kbs:
        for fact in kb.facts:
            out.setdefault(fact.name, []).extend(kb.thresholds(fact.name))
    return out


def _example(an: Analyzer, state: State) -> dict[str, Value]:
    """A concrete case inside a state: the first open cell of every fact."""
    return {
        fact.name: an.cells[i][an.open_cells(state, i)[0]].value for i, fact in enumerate(an.facts)
    }


def _shown(an: Analyzer, known: Mapping[str, Value]) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, display_value(f, known[f.name])) for f in an.facts)


def _conditions(an: Analyzer, state: State) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (fact.name, tuple(an.cells[i][c].label for c in an.open_cells(state, i)))
        for i, fact in enumerate(an.facts)
        if state[i] != an.full[i]
    )


def _size(an: Analyzer, state: State) -> int:
    size = 1
    for mask in state:
        size *= bin(mask).count("1")
    return size


def _compare(
    diagram: DecisionDiagram, a: Analyzer, b: Analyzer, *, exhaustive: bool
) -> Iterator[tuple[State, Decision, Decision]]:
    """Follow A's diagram with B's analysis; yield (state, A's, B's decision) where they differ.

    Where B is still undecided at one of A's leaves, the region is split on B's questions. Both
    analyzers must use the same cells. Unless `exhaustive`, regions already seen with the same
    residual of B are skipped (enough to tell whether any difference exists).
    """
    seen: set[tuple[int, object]] = set()
    stack: list[tuple[int, State, Partial | None]] = [(diagram.root, a.full, None)]
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
            fact = b.relevant(state, pb)[0]  # any open fact will do: regions are merged later
            stack.extend((node_id, b.fix(state, fact, c), pb) for c in b.open_cells(state, fact))


def diff(old: KnowledgeBase, new: KnowledgeBase) -> Diff:
    """Regions of the fact space whose recommendation or combination differs between two bases."""
    if old.fact_names != new.fact_names or any(
        (f.type, f.values, f.unit) != (g.type, g.values, g.unit)
        for f, g in zip(old.facts, new.facts, strict=True)
    ):
        from .errors import InputError

        raise InputError("the two rule bases have different fact schemas (facts.yaml)")
    bands = _union_thresholds(old, new)
    a, b = Analyzer(old, bands), Analyzer(new, bands)
    same_bands = all(tuple(sorted(set(bands[f.name]))) == old.thresholds(f.name) for f in old.facts)
    diagram = load_diagram(old) if same_bands else compile_diagram(old, thresholds=bands)
    changed = list(_compare(diagram, a, b, exhaustive=True))
    regions = [
        Region(_conditions(a, state), _size(a, state), d1, d2, _shown(a, _example(a, state)))
        for state, d1, d2 in merge_regions(changed)
    ]
    return Diff(_size(a, a.full), sum(r.size for r in regions), tuple(regions))


def merge_regions(
    regions: list[tuple[State, Decision, Decision]],
) -> list[tuple[State, Decision, Decision]]:
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


def _satisfiable(an: Analyzer, rule: int) -> bool:
    """Whether some full case makes the rule fire (search pruned by three-valued evaluation)."""
    seen: set[object] = set()
    stack: list[tuple[State, Partial | None]] = [(an.full, None)]
    while stack:
        state, base = stack.pop()
        partial = an.evaluate(state, base)
        status = partial.rules[rule]
        if status == TRUE:
            return True
        if status == FALSE or partial.key in seen:
            continue
        seen.add(partial.key)
        relevant = an.relevant(state, partial)
        if relevant:
            stack.extend(
                (an.fix(state, relevant[0], c), partial) for c in an.open_cells(state, relevant[0])
            )
    return False


def diagram_paths(
    diagram: DecisionDiagram, an: Analyzer, start: State | None = None
) -> Iterator[tuple[State, Decision]]:
    """Every root-to-leaf path of the diagram as a state, with its leaf decision."""
    stack: list[tuple[int, State]] = [(diagram.root, an.full if start is None else start)]
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


def sample_cases(kb: KnowledgeBase, n: int, seed: int = 0) -> Iterator[dict[str, Value]]:
    """Random fully specified cases, quantities drawn inside their bands."""
    rng = random.Random(seed)
    an = Analyzer(kb)
    for _ in range(n):
        case: dict[str, Value] = {}
        for i, fact in enumerate(kb.facts):
            cell = rng.choice(an.cells[i])
            if cell.low is not None:
                top = cell.high if cell.high is not None else max(cell.low * 10, 1e3)
                drawn = float(int(rng.uniform(cell.low, top)))
                case[fact.name] = drawn if cell.low <= drawn < top else cell.low
            else:
                case[fact.name] = cell.value
        yield case


def full_case(kb: KnowledgeBase, known: Mapping[str, Value]) -> Case:
    return Case(
        tuple((f.name, known.get(f.name)) for f in kb.facts),
        tuple((f.name, "given") for f in kb.facts),
    )


def cross_check(kb: KnowledgeBase, n: int, seed: int = 0) -> list[Finding]:
    """Compare inference with the diagram on `n` sampled full cases; one finding per mismatch."""
    an = Analyzer(kb)
    diagram = load_diagram(kb)
    findings = []
    for known in sample_cases(kb, n, seed):
        result = evaluate(kb, full_case(kb, known))
        _, decision = diagram.walk(an, known)
        if (decision.recommendation, decision.combine_with) != (
            result.recommendation,
            result.combine_with,
        ):
            findings.append(
                Finding(
                    "error",
                    "disagreement",
                    f"inference gives {result.recommendation} {list(result.combine_with)}, "
                    f"the diagram {decision.recommendation} {list(decision.combine_with)}",
                    example=_shown(an, known),
                )
            )
    return findings


def check(kb: KnowledgeBase, *, cross: int = 0, redundancy: bool = True) -> list[Finding]:
    """Every finding about a rule base, errors first."""
    an = Analyzer(kb)
    diagram = load_diagram(kb)
    findings: list[Finding] = []
    recommended: set[str | None] = set()
    for state, decision in diagram_paths(diagram, an):
        recommended.add(decision.recommendation)
        if decision.recommendation is None:
            example = _example(an, state)
            where = "; ".join(f"{f} in {{{', '.join(c)}}}" for f, c in _conditions(an, state))
            statuses = an.evaluate(state).rules
            blamed = [
                rule
                for r, rule in enumerate(kb.rules)
                if statuses[r] == TRUE and any(isinstance(e, Exclude) for e in rule.effects)
            ]
            findings.append(
                Finding(
                    "error",
                    "all-excluded",
                    f"every approach is excluded when {where or 'always'}, by rules "
                    + ", ".join(f"{rule.id} ({rule.location})" for rule in blamed),
                    rule=blamed[0].id if blamed else None,
                    location=blamed[0].location if blamed else None,
                    example=_shown(an, example),
                )
            )
    for approach in kb.approach_ids:
        if approach not in recommended:
            findings.append(
                Finding(
                    "warning",
                    "never-recommended",
                    f"approach {approach} is never recommended",
                    location=f"approaches.yaml:{kb.approach(approach).line}",
                )
            )
    used = {name for rule in kb.rules for name in rule.derived_used}
    for r, rule in enumerate(kb.rules):
        if not rule.because:
            findings.append(
                Finding(
                    "error",
                    "missing-because",
                    f"rule {rule.id} has no 'because'",
                    rule=rule.id,
                    location=rule.location,
                )
            )
        if not rule.source:
            findings.append(
                Finding(
                    "error",
                    "missing-source",
                    f"rule {rule.id} cites no 'source'",
                    rule=rule.id,
                    location=rule.location,
                )
            )
        for name in sorted(set(rule.derives) - used):
            findings.append(
                Finding(
                    "warning",
                    "derived-never-used",
                    f"rule {rule.id} derives {name!r}, which no rule tests",
                    rule=rule.id,
                    location=rule.location,
                )
            )
        if not _satisfiable(an, r):
            findings.append(
                Finding(
                    "error",
                    "never-fires",
                    f"rule {rule.id} can never fire",
                    rule=rule.id,
                    location=rule.location,
                )
            )
        elif redundancy and not has_advice(rule) and not _changes_outcome(kb, r, diagram, an):
            findings.append(
                Finding(
                    "warning",
                    "no-effect",
                    f"rule {rule.id} never changes any outcome",
                    rule=rule.id,
                    location=rule.location,
                )
            )
    findings.extend(cross_check(kb, cross) if cross else [])
    return sorted(findings, key=lambda f: f.level != "error")


def has_advice(rule: Rule) -> bool:
    return any(isinstance(e, Advise) for e in rule.effects)


def _changes_outcome(kb: KnowledgeBase, r: int, diagram: DecisionDiagram, an: Analyzer) -> bool:
    """Whether removing rule `r` changes the outcome anywhere in the fact space."""
    without = replace(kb, rules=kb.rules[:r] + kb.rules[r + 1 :])
    bands = {f.name: kb.thresholds(f.name) for f in kb.facts}
    return any(True for _ in _compare(diagram, an, Analyzer(without, bands), exhaustive=False))


__all__ = ["OPEN", "Fact", "check", "cross_check", "diff"]
