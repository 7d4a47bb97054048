"""Golden cases for the shipped knowledge base, run through the real engine (durable_rules).

Each case in `golden_cases.yaml` gives facts as a user types them, the expected recommendation
and combination partners, and a one-line justification from KNOWLEDGE.md or the source
comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import load_knowledge_base, recommend
from engine.model import KnowledgeBase

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


def test_cases_are_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert len(CASES) >= 30
    for case in CASES:
        assert set(case) == {"name", "facts", "recommendation", "combine_with", "why"}, case["name"]
        assert case["recommendation"] in APPROACHES, case["name"]
        assert all(p in APPROACHES for p in case["combine_with"]), case["name"]
        assert isinstance(case["why"], str) and case["why"].strip(), case["name"]
        assert all(isinstance(v, str) for v in case["facts"].values()), case["name"]


def test_cases_span_every_approach_and_combinations() -> None:
    assert {c["recommendation"] for c in CASES} == set(APPROACHES)
    assert any(c["combine_with"] for c in CASES)
    assert {p for c in CASES for p in c["combine_with"]} >= {"rag", "fine_tuning", "from_scratch"}


def test_cases_use_only_known_facts(kb: KnowledgeBase) -> None:
    for case in CASES:
        assert set(case["facts"]) <= set(kb.fact_names), case["name"]
