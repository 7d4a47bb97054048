"""Golden cases for the shipped knowledge base, run through the real engine (durable_rules).

Each case in `golden_cases.yaml` gives facts as a user types them, the expected recommendation
and combination partners, optionally the rule naming the technique within the recommendation
and the advice rules whose advice is shown, and a one-line justification citing a published
source or the source comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_advisor.engine import load_knowledge_base, recommend
from llm_advisor.engine.inference.technique import choose
from llm_advisor.engine.language.effects import Advise, Exclude, Score
from llm_advisor.engine.language.model import FactTest, KnowledgeBase

CASES_FILE = Path(__file__).parent / "golden_cases.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))["cases"]
APPROACHES = ("prompt_engineering", "rag", "fine_tuning", "from_scratch")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def _describe(result: Any) -> str:
    ranking = ", ".join(
        f"{r.approach}={r.score}{' (excluded)' if r.excluded else ''}" for r in result.ranking
    )
    fired = ", ".join(f.rule_id for f in result.firings)
    return f"ranking: {ranking}\nfired: {fired}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(kb: KnowledgeBase, case: dict[str, Any]) -> None:
    result = recommend(kb, case["facts"])
    assert result.recommendation == case["recommendation"], _describe(result)
    assert sorted(result.combine_with) == sorted(case["combine_with"]), _describe(result)
    if "technique" in case:
        chosen = choose(kb, [f.rule_id for f in result.firings], case["recommendation"], {})
        assert chosen is not None and chosen.rule == case["technique"], _describe(result)
    for rule_id in case.get("advice", ()):
        texts = [e.text for e in kb.rule(rule_id).effects if isinstance(e, Advise)]
        assert texts and all(t in result.advice for t in texts), f"{rule_id} not shown"


def test_cases_are_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert len(CASES) >= 30
    for case in CASES:
        keys = {"name", "facts", "recommendation", "combine_with", "why"}
        assert keys <= set(case) <= {*keys, "technique", "advice"}, case["name"]
        assert case["recommendation"] in APPROACHES, case["name"]
        assert all(p in APPROACHES for p in case["combine_with"]), case["name"]
        assert isinstance(case["why"], str) and case["why"].strip(), case["name"]
        assert "\n" not in case["why"].strip(), case["name"]
        assert all(isinstance(v, str) for v in case["facts"].values()), case["name"]


def test_cases_span_every_approach_and_combinations() -> None:
    assert {c["recommendation"] for c in CASES} == set(APPROACHES)
    assert any(c["combine_with"] for c in CASES)
    # a model of one's own, where one is called for, always leads (strict-provenance-own-model)
    assert {p for c in CASES for p in c["combine_with"]} >= {"rag", "fine_tuning"}


def test_cases_use_only_known_facts(kb: KnowledgeBase) -> None:
    for case in CASES:
        assert set(case["facts"]) <= set(kb.fact_names), case["name"]


# --- shape of the shipped knowledge base ---------------------------------------------------------


def test_every_source_is_cited_and_every_fact_tested(kb: KnowledgeBase) -> None:
    cited = {rule.source for rule in kb.rules}
    assert {s.key for s in kb.sources} <= cited
    assert {f"comparison-{d}" for d in ("accuracy", "complexity", "effort", "flexibility")} <= cited
    tested = set().union(*(rule.facts_used for rule in kb.rules))
    assert set(kb.fact_names) <= tested


def test_few_thresholds_per_quantity(kb: KnowledgeBase) -> None:
    for fact in kb.facts:
        if fact.kind.continuous:
            assert 1 <= len(kb.thresholds(fact.name)) <= 4, fact.name


def test_derivations_chain_into_scores(kb: KnowledgeBase) -> None:
    assert len(kb.strata) >= 3, "derived facts built on derived facts built on derived facts"
    deep = set().union(*kb.strata[1:])
    scoring = [
        rule
        for rule in kb.rules
        if any(isinstance(e, Score | Exclude) for e in rule.effects) and rule.derived_used & deep
    ]
    assert scoring, "no scoring rule uses a derived fact of the second level or deeper"


def test_exclusions_keep_a_recommendation_and_only_trigger_below(kb: KnowledgeBase) -> None:
    for rule in kb.rules:
        excluded = {e.approach for e in rule.effects if isinstance(e, Exclude)}
        assert "prompt_engineering" not in excluded, rule.id
        if excluded:
            for alternative in rule.alternatives:
                for literal in alternative:
                    if isinstance(literal, FactTest) and literal.op != "in":
                        assert literal.op == "lt", f"{rule.id} excludes above a threshold"
