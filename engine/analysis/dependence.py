"""Whether a partly known case is decided: the unknown facts its outcome still depends on."""

from __future__ import annotations

from llm_advisor.engine.analysis.diagram import Leaf, Question, compile_diagram
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import relevant
from llm_advisor.engine.inference.run import Result
from llm_advisor.engine.language.model import KnowledgeBase


def depends_on(kb: KnowledgeBase, result: Result) -> tuple[str, ...]:
    """The unknown facts the outcome still depends on, in schema order; none when it is decided
    (no values of the unknown facts can change it).

    The decision diagram below the case's known facts is compiled with one more cell per fact,
    "unknown", so the case itself is one of the completions: the diagram is a single leaf
    exactly when every completion gives the case's outcome, and the facts its questions ask are
    those the outcome depends on.
    """
    given = dict(result.case.values)
    try:
        diagram = compile_diagram(kb, given, unknown=True)
    except RuntimeError:  # too large to compile: the facts the undecided rules still test
        an = Analyzer(kb, unknown=True, outcome_only=True)
        return tuple(an.facts[i].name for i in relevant(an, an.state_of(given)))
    root = diagram.nodes[diagram.root]
    if isinstance(root, Leaf):
        outcome = (root.decision.recommendation, root.decision.combine_with)
        # The analysis and inference agree on every case; should they not, claim nothing.
        unknown = tuple(name for name, value in given.items() if value is None)
        return () if outcome == (result.recommendation, result.combine_with) else unknown
    nodes = (diagram.nodes[n] for n in diagram.reachable())
    asked = {node.fact for node in nodes if isinstance(node, Question)}
    return tuple(kb.facts[i].name for i in sorted(asked))
