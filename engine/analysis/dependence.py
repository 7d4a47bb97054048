"""Whether a partly known case is decided: the unknown facts its outcome still depends on, and
the outcomes it can still end in once they are known."""

from __future__ import annotations

from dataclasses import dataclass

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Question, compile_diagram
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import relevant
from llm_advisor.engine.analysis.status import Decision, in_approach_order
from llm_advisor.engine.inference.run import Result
from llm_advisor.engine.language.model import KnowledgeBase, Value


@dataclass(frozen=True)
class Dependence:
    """What a case's outcome still depends on: the unknown facts that can change it, in schema
    order, and the outcomes it can end in once they are known, in the rule base's order of
    approaches. Both are empty when it is decided; the outcomes are also empty when the case is
    too open to compile its diagram."""

    facts: tuple[str, ...] = ()
    outcomes: tuple[Decision, ...] = ()


def dependence(kb: KnowledgeBase, result: Result) -> Dependence:
    """What the outcome of an evaluated case still depends on.

    The decision diagram below the case's known facts is compiled with one more cell per fact,
    "unknown", so the case itself is one of the completions: the diagram is a single leaf
    exactly when every completion gives the case's outcome, and the facts its questions ask are
    those the outcome depends on. Inference leaves a rule on an unknown fact unfired, so the
    case's own outcome may be none of those its facts give once known; hence the outcomes too.
    """
    given = dict(result.case.values)
    try:
        diagram = compile_diagram(kb, given, unknown=True)
    except RuntimeError:  # too large to compile: the facts the undecided rules still test
        an = Analyzer(kb, unknown=True, outcome_only=True)
        return Dependence(tuple(an.facts[i].name for i in relevant(an, an.state_of(given))))
    root = diagram.nodes[diagram.root]
    if isinstance(root, Leaf):
        outcome = (root.decision.recommendation, root.decision.combine_with)
        # The analysis and inference agree on every case; should they not, claim nothing.
        unknown = tuple(name for name, value in given.items() if value is None)
        agree = outcome == (result.recommendation, result.combine_with)
        return Dependence() if agree else Dependence(unknown)
    nodes = (diagram.nodes[n] for n in diagram.reachable())
    asked = {node.fact for node in nodes if isinstance(node, Question)}
    facts = tuple(kb.facts[i].name for i in sorted(asked))
    return Dependence(facts, _once_known(kb, diagram, given))


def _once_known(
    kb: KnowledgeBase, diagram: DecisionDiagram, given: dict[str, Value | None]
) -> tuple[Decision, ...]:
    """The outcomes the diagram's paths reach when each unknown fact takes a value: every cell
    but the last, "unknown", of the facts the case leaves open (the diagram, compiled below the
    known facts, never asks those)."""
    masks = tuple(
        (1 << len(labels)) - 1 if given.get(name) is not None else (1 << (len(labels) - 1)) - 1
        for name, labels in zip(diagram.facts, diagram.cell_labels, strict=True)
    )
    return tuple(in_approach_order(kb.approach_ids, diagram.trace(masks).outcomes(diagram)))
