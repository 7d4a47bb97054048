"""The proof of a rule base's declared invariants (`invariants.yaml`) over every case, on the
exact decision diagram; a violated invariant comes with one witness case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from llm_advisor.engine.analysis import regions
from llm_advisor.engine.analysis.cells import union_thresholds
from llm_advisor.engine.analysis.diagram import (
    DecisionDiagram,
    Leaf,
    Question,
    diagram_with_bands,
    own_bands,
)
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import (
    FALSE,
    OPEN,
    TRUE,
    AnalysisError,
    Decision,
    Masks,
    Partial,
)
from llm_advisor.engine.language.effects import Advise, Exclude, Score
from llm_advisor.engine.language.model import PLAN_KINDS, All, Invariant, KnowledgeBase, Rule


@dataclass(frozen=True)
class InvariantResult:
    """The outcome of proving one invariant over the whole case space: a witness if violated."""

    invariant: Invariant
    holds: bool
    message: str = ""
    example: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InvariantReport:
    cases: int
    results: tuple[InvariantResult, ...]

    @property
    def violated(self) -> tuple[InvariantResult, ...]:
        return tuple(r for r in self.results if not r.holds)


def _with_conditions(kb: KnowledgeBase) -> tuple[KnowledgeBase, dict[str, int]]:
    """The rule base with one effect-free rule per `never` or `always` condition, so that the
    analysis evaluates those conditions like any other; returns the rule index of each."""
    level = {name: s for s, names in enumerate(kb.strata) for name in names}
    extra: list[Rule] = []
    index: dict[str, int] = {}
    for inv in kb.invariants:
        if inv.kind not in PLAN_KINDS:
            continue
        rule = Rule(
            id=f"invariant:{inv.id}",
            title=inv.title,
            when=All(()),
            effects=(),
            because="",
            source="",
            file=inv.file,
            line=inv.line,
            alternatives=inv.when,
        )
        index[inv.id] = len(kb.rules) + len(extra)
        stratum = 1 + max((level.get(d, -1) for d in rule.derived_used), default=-1)
        extra.append(replace(rule, stratum=stratum))
    return replace(kb, rules=kb.rules + tuple(extra)), index


class _Prover:
    """Proves the leaf properties (partners, advice, never, always) region by region: each leaf
    of the decision diagram has one outcome; the region is split on the facts the rules that
    matter still test until every rule that matters is decided."""

    def __init__(self, an: Analyzer) -> None:
        self.an = an
        rules = an.kb.rules
        self._producers: dict[str, set[int]] = {}
        for r, rule in enumerate(rules):
            for name in rule.derives:
                self._producers.setdefault(name, set()).add(r)
        self._closures: dict[frozenset[int], frozenset[int]] = {}

    def closure(self, wanted: frozenset[int]) -> frozenset[int]:
        """The rules in `wanted` and those deriving facts they (in turn) test."""
        found = self._closures.get(wanted)
        if found is None:
            out, todo = set(wanted), list(wanted)
            while todo:
                for name in self.an.kb.rules[todo.pop()].derived_used:
                    for p in self._producers.get(name, ()):
                        if p not in out:
                            out.add(p)
                            todo.append(p)
            found = self._closures[wanted] = frozenset(out)
        return found

    def refute(
        self, state: Masks, prop: Callable[[Partial], tuple[int, frozenset[int]]]
    ) -> Masks | None:
        """A state inside `state` where `prop` is certainly false, or None if it always holds.

        `prop` returns TRUE, FALSE or OPEN for a partial state, and the rules its answer
        depends on (their facts are what the region is split on while it is OPEN)."""
        an = self.an
        stack: list[tuple[Masks, Partial | None]] = [(state, None)]
        while stack:
            here, base = stack.pop()
            partial = an.evaluate(here, base)
            verdict, wanted = prop(partial)
            if verdict == TRUE:
                continue
            if verdict == FALSE:
                return here
            rules = self.closure(wanted)
            fact = next(
                (
                    lit[0]
                    for r, alts, _, _ in partial.residual
                    if r in rules
                    for lits in alts
                    for lit in lits
                    if lit[0] >= 0 and here[lit[0]] & (here[lit[0]] - 1)
                ),
                None,
            )
            if fact is None:
                raise AnalysisError("a property is undecided, but no fact is left to split on")
            stack.extend((an.fix(here, fact, c), partial) for c in an.open_cells(here, fact))
        return None


def _advice_conflicts(kb: KnowledgeBase, chosen: set[str]) -> frozenset[int]:
    """Rules whose advice contradicts an outcome made of the approaches in `chosen`."""
    out = set()
    for r, rule in enumerate(kb.rules):
        for e in rule.effects:
            if (
                isinstance(e, Advise)
                and e.shown(chosen)
                and (chosen & set(e.rules_out) or (e.favours and not chosen & set(e.favours)))
            ):
                out.add(r)
    return frozenset(out)


def _leaf_property(
    inv: Invariant, an: Analyzer, decision: Decision, condition_rule: int | None
) -> Callable[[Partial], tuple[int, frozenset[int]]] | None:
    """The property to prove in a region with this outcome (None: it holds there trivially)."""
    kb = an.kb
    chosen = set(decision.plan)
    if inv.kind == "partners_at_least":
        partners = [an.position[p] for p in decision.combine_with]
        if not partners:
            return None
        wanted = frozenset(
            r
            for r, rule in enumerate(kb.rules)
            if any(
                isinstance(e, Score | Exclude) and e.approach in decision.combine_with
                for e in rule.effects
            )
        )

        def partners_ok(p: Partial) -> tuple[int, frozenset[int]]:
            low, high = p.bounds
            verdicts = [
                FALSE
                if p.excluded[a] == TRUE or high[a] < inv.bound
                else TRUE
                if p.excluded[a] == FALSE and low[a] >= inv.bound
                else OPEN
                for a in partners
            ]
            return (FALSE if FALSE in verdicts else OPEN if OPEN in verdicts else TRUE), wanted

        return partners_ok
    if inv.kind == "advice_agrees":
        conflicting = _advice_conflicts(kb, chosen)
        if not conflicting:
            return None

        def advice_ok(p: Partial) -> tuple[int, frozenset[int]]:
            statuses = [p.rules[r] for r in conflicting]
            verdict = FALSE if TRUE in statuses else OPEN if OPEN in statuses else TRUE
            return verdict, conflicting

        return advice_ok
    assert inv.kind in PLAN_KINDS and condition_rule is not None
    if (inv.approach in chosen) == (inv.kind == "always"):
        return None  # the plan is as the invariant wants it whether or not the condition holds
    wanted = frozenset({condition_rule})

    def condition_false(p: Partial) -> tuple[int, frozenset[int]]:
        status = p.rules[condition_rule]
        return (FALSE if status == TRUE else OPEN if status == OPEN else TRUE), wanted

    return condition_false


def _can_flip_back(options: list[frozenset[str | None]]) -> bool:
    """Whether some choice from each set forms a sequence that flips back: A at i and k with
    something else possible in between."""
    for i, first in enumerate(options):
        for k in range(i + 2, len(options)):
            for a in first & options[k]:
                if any(options[j] != {a} for j in range(i + 1, k)):
                    return True
    return False


def _flips_back(sequence: list[str | None]) -> bool:
    """Whether a sequence returns to a value after leaving it (A -> B -> A)."""
    runs = [v for i, v in enumerate(sequence) if i == 0 or v != sequence[i - 1]]
    return len(runs) != len(set(runs))


def _monotone_witness(
    diagram: DecisionDiagram, an: Analyzer, fact: str
) -> tuple[Masks, list[str | None]] | None:
    """A region where raising `fact` alone makes the recommendation flip back, or None.

    The decision diagram is walked once per cell of the fact, in step: every other fact is
    split where one of the walks asks it, so each region reached has, for every cell of the
    fact, one leaf, and their recommendations form the sequence that is checked. Exact, since
    the diagram is."""
    fi = an.index[fact]
    cells = an.open_cells(an.full, fi)
    nodes = diagram.nodes

    def follow(node_id: int, cell: int) -> int:
        """Past the questions on `fact` itself, along the branch of `cell`."""
        node = nodes[node_id]
        while isinstance(node, Question) and node.fact == fi:
            node_id = next(child for cs, child in node.branches if cell in cs)
            node = nodes[node_id]
        return node_id

    asked: dict[int, int] = {}  # node id -> bit mask of the facts asked at or below it

    def facts_below(node_id: int) -> int:
        found = asked.get(node_id)
        if found is None:
            node = nodes[node_id]
            found = 0
            if isinstance(node, Question):
                found = 1 << node.fact
                for _, child in node.branches:
                    found |= facts_below(child)  # depth is at most the number of facts
            asked[node_id] = found
        return found

    reach: dict[int, frozenset[str | None]] = {}

    def outcomes_below(node_id: int) -> frozenset[str | None]:
        """The recommendations of the leaves at or below a node."""
        found = reach.get(node_id)
        if found is None:
            node = nodes[node_id]
            if isinstance(node, Leaf):
                found = frozenset({node.decision.recommendation})
            else:
                assert isinstance(node, Question)  # only exact diagrams come here
                found = frozenset().union(*(outcomes_below(c) for _, c in node.branches))
            reach[node_id] = found
        return found

    seen: set[tuple[object, ...]] = set()
    stack = [(tuple(follow(diagram.root, c) for c in cells), an.full)]
    while stack:
        ids, state = stack.pop()
        # What is left to see depends only on the nodes and the facts they still ask.
        below = 0
        for n in ids:
            below |= facts_below(n)
        key = (ids, tuple(m if below >> i & 1 else 0 for i, m in enumerate(state)))
        if key in seen or not _can_flip_back([outcomes_below(n) for n in ids]):
            continue
        seen.add(key)
        asking = [nodes[n] for n in ids]
        facts = [node.fact for node in asking if isinstance(node, Question)]
        if not facts:
            sequence = [cast(Leaf, node).decision.recommendation for node in asking]
            if _flips_back(sequence):
                return state, sequence
            continue
        # Split the fact most walks ask now, once for all of them: cells that send every walk
        # to the same children stay together.
        other = max(set(facts), key=lambda f: (facts.count(f), -f))
        groups: dict[tuple[int, ...], int] = {}
        for c in an.open_cells(state, other):
            moved = tuple(
                follow(next(child for cs, child in node.branches if c in cs), cells[k])
                if isinstance(node, Question) and node.fact == other
                else ids[k]
                for k, node in enumerate(asking)
            )
            groups[moved] = groups.get(moved, 0) | 1 << c
        stack.extend(
            (moved, (*state[:other], mask, *state[other + 1 :])) for moved, mask in groups.items()
        )
    return None


def prove_invariants(
    kb: KnowledgeBase, cache_dir: Path | None = None, *, diagram: DecisionDiagram | None = None
) -> InvariantReport:
    """Prove every declared invariant over the whole case space (every combination of the
    facts' cells), exactly: no sampling. A violated invariant comes with one witness case.

    `diagram`, the rule base's own diagram when the caller has it loaded, is used unless the
    invariants' conditions split a quantity at thresholds of their own."""
    ext, condition_rules = _with_conditions(kb)
    bands = union_thresholds(kb, ext)
    outcome = Analyzer(kb, bands, outcome_only=True)
    full = Analyzer(ext, bands)
    results: list[InvariantResult] = []
    leaf_kinds = ("partners_at_least", "advice_agrees", *PLAN_KINDS)
    if diagram is None or not own_bands(kb, bands):
        diagram = diagram_with_bands(kb, bands, cache_dir)
    paths: list[tuple[Masks, Decision]] = []
    if any(inv.kind in leaf_kinds for inv in kb.invariants):
        paths = list(regions.diagram_paths(diagram, outcome))
    prover = _Prover(full)
    for inv in kb.invariants:
        if inv.kind == "no_flip_back":
            found = _monotone_witness(diagram, outcome, inv.fact)
            if found is None:
                results.append(InvariantResult(inv, True))
                continue
            state, sequence = found
            fi = outcome.index[inv.fact]
            labels = [outcome.cells[fi][c].label for c in outcome.open_cells(outcome.full, fi)]
            steps = ", ".join(
                f"{label}: {kb.approach_name(r) if r else 'none'}"
                for label, r in zip(labels, sequence, strict=True)
            )
            example = regions.example(outcome, state)
            shown = tuple((n, v) for n, v in regions.shown(outcome, example) if n != inv.fact)
            results.append(
                InvariantResult(inv, False, f"raising {inv.fact} alone flips back ({steps})", shown)
            )
            continue
        witness: tuple[Masks, Decision] | None = None
        props: dict[Decision, Callable[[Partial], tuple[int, frozenset[int]]] | None] = {}
        for state, decision in paths:
            if decision not in props:  # the paths end in a handful of outcomes
                props[decision] = _leaf_property(inv, full, decision, condition_rules.get(inv.id))
            prop = props[decision]
            if prop is None:
                continue
            bad = prover.refute(state, prop)
            if bad is not None:
                witness = (bad, decision)
                break
        if witness is None:
            results.append(InvariantResult(inv, True))
            continue
        bad, decision = witness
        example = regions.example(full, bad)
        results.append(
            InvariantResult(
                inv, False, _leaf_message(inv, full, bad, decision), regions.shown(full, example)
            )
        )
    return InvariantReport(regions.size(outcome.full), tuple(results))


def _leaf_message(inv: Invariant, an: Analyzer, state: Masks, decision: Decision) -> str:
    outcome = (decision.recommendation or "none") + "".join(
        f" + {p}" for p in decision.combine_with
    )
    partial = an.evaluate(state)
    if inv.kind == "partners_at_least":
        scores = ", ".join(
            f"{p} scores {partial.bounds[0][an.position[p]]}"
            + (" and is excluded" if partial.excluded[an.position[p]] == TRUE else "")
            for p in decision.combine_with
        )
        return f"outcome {outcome}, but {scores} (at least {inv.bound} required)"
    if inv.kind == "advice_agrees":
        chosen = set(decision.plan)
        rules = [
            an.kb.rules[r].id
            for r in sorted(_advice_conflicts(an.kb, chosen))
            if partial.rules[r] == TRUE
        ]
        return f"outcome {outcome}, but the advice of {', '.join(rules)} contradicts it"
    if inv.kind == "always":
        return f"outcome {outcome}, without {inv.approach}, where its condition holds"
    return f"outcome {outcome} where its condition holds"
