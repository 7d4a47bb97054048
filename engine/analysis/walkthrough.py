"""The data an interactive walk through the decision needs, as plain JSON-ready values.

A walk asks the facts in the rule base's order, as the overview does, and knows the outcome
when the exact diagram reachable from the answers so far has one outcome left. The reasons shown
with it are the rules that certainly fire given the answers: the three-valued test of each
rule's condition (in disjunctive normal form, over cells) that the analysis uses.
"""

from __future__ import annotations

from typing import Any

from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Open, Question
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.language.effects import effect_json
from llm_advisor.engine.language.model import DerivedTest, FactTest, KnowledgeBase


def walkthrough(kb: KnowledgeBase, detail: DecisionDiagram) -> dict[str, Any]:
    """Facts with their answers (cells), the exact diagram, the rules' conditions over cells in
    evaluation order, approaches and sources (author, year, title and address, to cite them)."""
    an = Analyzer(kb)
    derived = sorted({n for rule in kb.rules for n in (*rule.derives, *rule.derived_used)})
    dindex = {name: d for d, name in enumerate(derived)}
    rules = []
    for rule in sorted(kb.rules, key=lambda r: r.stratum):
        alternatives = []
        for alternative in rule.alternatives:
            literals: list[list[int]] = []
            for lit in alternative:
                if isinstance(lit, FactTest):
                    i = an.index[lit.fact]
                    mask = sum(
                        1 << c for c, cell in enumerate(an.cells[i]) if lit.holds(cell.value)
                    )
                    literals.append([0, i, mask])
                else:
                    assert isinstance(lit, DerivedTest)
                    literals.append([1, dindex[lit.name], int(lit.value)])
            alternatives.append(literals)
        rules.append(
            {
                "id": rule.id,
                "title": rule.title,
                "because": rule.because,
                "source": rule.source,
                "when": alternatives,
                "derives": [dindex[name] for name in rule.derives],
                "effects": [effect_json(e) for e in rule.effects],
            }
        )
    nodes: list[Any] = []
    for node in detail.nodes:
        if isinstance(node, Leaf):
            nodes.append({"leaf": [node.decision.recommendation, list(node.decision.combine_with)]})
        elif isinstance(node, Open):
            raise ValueError("a walkthrough needs the exact diagram, not a summary")
        else:
            assert isinstance(node, Question)
            nodes.append({"fact": node.fact, "branches": [[list(c), n] for c, n in node.branches]})
    return {
        "fingerprint": kb.fingerprint,
        "facts": [
            {
                "name": fact.name,
                "question": fact.question,
                "short": fact.short or fact.name,
                "help": fact.help,
                "cells": list(detail.cell_labels[i]),
            }
            for i, fact in enumerate(kb.facts)
        ],
        "root": detail.root,
        "nodes": nodes,
        "derived": len(derived),
        "rules": rules,
        "approaches": [{"id": a.id, "name": a.name, "summary": a.summary} for a in kb.approaches],
        "sources": {
            s.key: {"author": s.author, "year": s.year, "title": s.title, "url": s.url}
            for s in kb.sources
        },
    }
