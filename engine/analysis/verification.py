"""Verification of a rule base with the analysis: `rules check` and cross-checks (`rules diff`
is in `diff`)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from llm_advisor.engine.analysis import regions
from llm_advisor.engine.analysis.diagram import (
    DecisionDiagram,
    load_diagram,
)
from llm_advisor.engine.analysis.diff import compare
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.proof import InvariantReport, prove_invariants
from llm_advisor.engine.analysis.questions import relevant
from llm_advisor.engine.analysis.status import FALSE, TRUE, Decision, Masks, Partial
from llm_advisor.engine.language.effects import Advise, Exclude, Technique
from llm_advisor.engine.language.facts import Case
from llm_advisor.engine.language.model import KnowledgeBase, Rule, Value

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
class CheckReport:
    """The whole verification of a rule base: the findings (errors first), the proof of its
    declared invariants, and on how many sampled cases inference was compared with the diagram."""

    findings: tuple[Finding, ...]
    invariants: InvariantReport
    cross_checked: int

    @property
    def errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors


def _satisfiable(an: Analyzer, rule: int) -> bool:
    """Whether some full case makes the rule fire (search pruned by three-valued evaluation)."""
    seen: set[object] = set()
    stack: list[tuple[Masks, Partial | None]] = [(an.full, None)]
    while stack:
        state, base = stack.pop()
        partial = an.evaluate(state, base)
        status = partial.rules[rule]
        if status == TRUE:
            return True
        if status == FALSE or partial.key in seen:
            continue
        seen.add(partial.key)
        facts = relevant(an, state, partial)
        if facts:
            stack.extend(
                (an.fix(state, facts[0], c), partial) for c in an.open_cells(state, facts[0])
            )
    return False


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


def cross_check(
    kb: KnowledgeBase, diagram: DecisionDiagram, n: int, seed: int = 0
) -> list[Finding]:
    """Compare inference with the rule base's diagram on `n` sampled full cases; one finding
    per mismatch."""
    from llm_advisor.engine.inference.run import evaluate  # durable_rules loads only now

    an = Analyzer(kb)
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
                    example=regions.shown(an, known),
                )
            )
    return findings


def check(kb: KnowledgeBase, diagram: DecisionDiagram) -> list[Finding]:
    """Every finding about a rule base's rules and approaches, errors first; `diagram` is the
    rule base's own (exact) diagram."""
    an = Analyzer(kb)
    probes = _probes(kb, an)
    findings: list[Finding] = []
    recommended: set[str | None] = set()
    for state, decision in regions.diagram_paths(diagram, an):
        recommended.add(decision.recommendation)
        if decision.recommendation is None:
            example = regions.example(an, state)
            where = "; ".join(
                f"{f} in {{{', '.join(c)}}}" for f, c in regions.conditions(an, state)
            )
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
                    example=regions.shown(an, example),
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
    shown = _derived_behind_shown_text(kb)
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
        elif (
            not has_advice(rule)
            and not set(rule.derives) & shown
            and not _changes_outcome(kb, r, diagram, an, probes)
        ):
            findings.append(
                Finding(
                    "warning",
                    "no-effect",
                    f"rule {rule.id} never changes any outcome",
                    rule=rule.id,
                    location=rule.location,
                )
            )
    return sorted(findings, key=lambda f: f.level != "error")


def has_advice(rule: Rule) -> bool:
    """Whether the rule shows something beyond the outcome: advice or a technique."""
    return any(isinstance(e, Advise | Technique) for e in rule.effects)


def _derived_behind_shown_text(kb: KnowledgeBase) -> set[str]:
    """The derived facts that advice or a technique tests, directly or through other derived
    facts: a rule deriving one has an effect even where no outcome changes."""
    shown = {name for rule in kb.rules if has_advice(rule) for name in rule.derived_used}
    while grown := {
        name
        for rule in kb.rules
        if set(rule.derives) & shown
        for name in rule.derived_used
        if name not in shown
    }:
        shown |= grown
    return shown


def _changes_outcome(
    kb: KnowledgeBase,
    r: int,
    diagram: DecisionDiagram,
    an: Analyzer,
    probes: list[tuple[Masks, Decision]],
) -> bool:
    """Whether removing rule `r` changes the outcome anywhere in the fact space: first on the
    probe cases (most rules that matter show it there at once), else over the whole diagram."""
    without = replace(kb, rules=kb.rules[:r] + kb.rules[r + 1 :])
    bands = {f.name: kb.thresholds(f.name) for f in kb.facts}
    other = Analyzer(without, bands)
    if any(other.evaluate(state).decision not in (None, d) for state, d in probes):
        return True
    return any(True for _ in compare(diagram, an, other, exhaustive=False))


def _probes(kb: KnowledgeBase, an: Analyzer) -> list[tuple[Masks, Decision]]:
    """Sampled full cases as states of single cells, with their outcomes: evaluation is exact on
    a single cell, so one whose outcome a rule's removal changes proves the rule has an effect."""
    outcomes = ((s, an.evaluate(s).decision) for s in map(an.state_of, sample_cases(kb, 200)))
    return [(state, d) for state, d in outcomes if d is not None]


def check_rule_base(
    kb: KnowledgeBase, *, cross: int = 0, seed: int = 0, cache_dir: Path | None = None
) -> CheckReport:
    """Verify a rule base: `check`, the proof of its invariants (one error per violated
    invariant, with its witness case) and, when `cross` > 0, `cross_check` on that many cases
    sampled with `seed`. The diagram is loaded once, for all of them."""
    diagram = load_diagram(kb, cache_dir)
    findings = check(kb, diagram)
    proof = prove_invariants(kb, cache_dir, diagram=diagram)
    findings.extend(
        Finding(
            "error",
            "invariant",
            f"invariant {r.invariant.id} violated ({r.invariant.title}): {r.message}",
            rule=r.invariant.id,
            location=r.invariant.location,
            example=r.example,
        )
        for r in proof.violated
    )
    if cross:
        findings.extend(cross_check(kb, diagram, cross, seed))
    return CheckReport(tuple(sorted(findings, key=lambda f: f.level != "error")), proof, cross)
