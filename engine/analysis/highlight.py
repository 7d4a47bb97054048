"""One case's way through a decision diagram, for drawing it highlighted.

A case follows the facts it gives; at a fact it leaves unknown every branch is taken, so the
path is a sub-graph and ends in every leaf the case can still reach. Its outcome comes from the
exact diagram: the one outcome (checked against inference) when the facts that diagram asks are
known, else every outcome still possible. The facts it still depends on are those `recommend`
names (`dependence.dependence`), so that a document and the command line never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Trace
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import Decision, Masks
from llm_advisor.engine.errors import EngineError, InputError
from llm_advisor.engine.language.facts import Case, display_value, exact_text
from llm_advisor.engine.language.model import KnowledgeBase, Value


@dataclass(frozen=True)
class CasePath:
    """Where a case goes through the drawn diagram (`trace`), and its outcome on the exact one:
    the decision when only one is possible, every outcome still possible, the unknown facts the
    outcome depends on (for `case_path` alone: those the exact diagram still asks), the case as
    text, and the cells each fact may be in (one for a fact the case knows)."""

    trace: Trace
    decision: Decision | None
    outcomes: tuple[Decision, ...] = ()
    unknown: tuple[str, ...] = ()
    description: str = ""
    masks: Masks = ()

    @property
    def nodes(self) -> frozenset[int]:
        return self.trace.nodes


def case_path(
    kb: KnowledgeBase, diagram: DecisionDiagram, values: Mapping[str, Value | None]
) -> CasePath:
    """A case's way through one diagram (its outcome read off that diagram's leaves)."""
    masks = diagram.masks_of(Analyzer(kb), values)
    trace = diagram.trace(masks)
    return CasePath(
        trace, trace.decision(diagram), trace.outcomes(diagram), trace.unknown, masks=masks
    )


def highlight(
    kb: KnowledgeBase, detail: DecisionDiagram, shown: DecisionDiagram, case: Case
) -> CasePath:
    """A case's way through the drawn diagram `shown`, a view of the exact diagram `detail`
    (the same facts and cells), with its outcome from `detail`; a decided outcome is checked
    against inference. The facts it depends on are those `recommend` names for it."""
    from llm_advisor.engine.analysis.dependence import dependence
    from llm_advisor.engine.inference.run import evaluate

    assert shown.cell_labels == detail.cell_labels, "the drawn diagram must be a view of detail"
    exact = case_path(kb, detail, dict(case.values))
    result = evaluate(kb, case)
    path = replace(
        exact,
        trace=shown.trace(exact.masks),
        unknown=dependence(kb, result).facts,
        description=describe_case(kb, case),
    )
    if exact.unknown or exact.decision is None:
        return path
    if (result.recommendation, result.combine_with) != (
        exact.decision.recommendation,
        exact.decision.combine_with,
    ):
        raise EngineError(
            "the decision diagram and inference disagree on the highlighted case "
            f"({exact.decision.recommendation} vs {result.recommendation}); "
            "check the rule base"
        )
    return path


def with_given(kb: KnowledgeBase, case: Case, given: Mapping[str, Value]) -> Case:
    """A case with a fixed context filled in. A case that gives a fact another value than the
    context is bad input, even a value the rules treat alike: the caption would name both."""
    if not given:
        return case
    values = dict(case.values)
    status = dict(case.status)
    for name, fixed in given.items():
        own = values.get(name)
        if own is not None and status[name] == "given" and own != fixed:
            fact = kb.fact(name)
            # Rounded as usual, unless rounding would make the two look alike.
            text = display_value
            if display_value(fact, own) == display_value(fact, fixed):
                text = exact_text
            raise InputError(
                f"the highlighted case has {name}={text(fact, own)}, which contradicts "
                f"the fixed context {name}={text(fact, fixed)}",
                item=name,
            )
        if own is None or status[name] != "given":
            values[name] = fixed
            status[name] = "given"
    return Case(
        tuple((f.name, values[f.name]) for f in kb.facts),
        tuple((f.name, status[f.name]) for f in kb.facts),
    )


def describe_case(kb: KnowledgeBase, case: Case) -> str:
    """The known facts of a case as `name=value` pairs in schema order, those given apart from
    those assumed (documented defaults), so that a default is never read as an answer."""
    values = dict(case.values)
    status = dict(case.status)
    parts: dict[str, list[str]] = {"given": [], "assumed": []}
    for fact in kb.facts:
        value = values.get(fact.name)
        if value is not None:
            kind = "assumed" if status.get(fact.name) == "defaulted" else "given"
            parts[kind].append(f"{fact.name}={display_value(fact, value)}")
    return "; ".join(f"{kind}: {', '.join(shown)}" for kind, shown in parts.items() if shown)
