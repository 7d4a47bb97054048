"""The analysis agrees with durable_rules inference and never decides wrongly."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_advisor.cli.options import cache_dir
from llm_advisor.engine import load_knowledge_base
from llm_advisor.engine.analysis.diagram import compile_diagram, load_diagram
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import next_question, relevant
from llm_advisor.engine.analysis.status import Decision
from llm_advisor.engine.analysis.verification import full_case
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.model import KnowledgeBase, Value

KBS = Path(__file__).parent / "kbs"
SMALL = ["mini", "layered", "chain"]


def inferred(kb: KnowledgeBase, known: dict[str, Value]) -> Decision:
    result = evaluate(kb, full_case(kb, known))
    return Decision(result.recommendation, result.combine_with)


def values_in_cells(an: Analyzer, i: int) -> list[Value]:
    """Every cell's representative plus, for bands, a value just inside the upper edge."""
    out: list[Value] = []
    for cell in an.cells[i]:
        out.append(cell.value)
        if cell.low is not None and cell.high is not None and cell.high - 1 > cell.low:
            out.append(cell.high - 1)
    return out


@pytest.mark.parametrize("name", SMALL)
def test_diagram_agrees_with_inference_exhaustively(name: str) -> None:
    kb = load_knowledge_base(KBS / name)
    an = Analyzer(kb)
    diagram = compile_diagram(kb)
    choices = [values_in_cells(an, i) for i in range(len(kb.facts))]
    count = 0
    for combo in itertools.product(*choices):
        known = dict(zip(kb.fact_names, combo, strict=True))
        _, decision = diagram.walk(an, known)
        assert decision == inferred(kb, known), known
        count += 1
    assert count >= 12


ZERO_RULES = """rules:
  - id: some-width
    title: Some width
    when: {all: [{fact: width, at_least: 0}, {fact: width, below: 10}]}
    then: {score: {fancy: 2}}
    because: B.
    source: test
  - id: negative-width
    title: Never
    when: {fact: width, below: 0}
    then: {score: {cheap: 5}}
    because: B.
    source: test
"""


def test_a_threshold_at_zero_makes_no_empty_band(tmp_path: Path) -> None:
    """Quantities are never negative: `below: 0` never holds, `at_least: 0` always does."""
    for name in ("facts.yaml", "approaches.yaml", "sources.yaml"):
        (tmp_path / name).write_bytes((KBS / "mini" / name).read_bytes())
    (tmp_path / "rules.yaml").write_text(ZERO_RULES.replace("width", "size"))
    kb = load_knowledge_base(tmp_path)
    an = Analyzer(kb)
    assert [cell.label for cell in an.cells[an.index["size"]]] == ["< 10", "≥ 10"]
    diagram = compile_diagram(kb)
    for size in (0.0, 5.0, 10.0, 1e6):
        known: dict[str, Value] = {"size": size, "color": "red", "urgent": False}
        assert diagram.walk(an, known)[1] == inferred(kb, known), size


@pytest.mark.parametrize("name", SMALL)
def test_decided_partial_states_are_sound(name: str) -> None:
    """Whenever the analysis calls a partial state decided, every completion agrees."""
    kb = load_knowledge_base(KBS / name)
    an = Analyzer(kb)
    choices = [[None, *values_in_cells(an, i)] for i in range(len(kb.facts))]
    decided = 0
    for combo in itertools.product(*choices):
        partial = dict(zip(kb.fact_names, combo, strict=True))
        analysis = an.evaluate(an.state_of(partial))
        if analysis.decision is None:
            continue
        decided += 1
        open_facts = [i for i, v in enumerate(combo) if v is None]
        for fill in itertools.product(*(values_in_cells(an, i) for i in open_facts)):
            known = {**partial}
            known.update({kb.facts[i].name: v for i, v in zip(open_facts, fill, strict=True)})
            assert inferred(kb, known) == analysis.decision, (partial, known)
    assert decided > 0


def test_next_question_is_deterministic_and_relevant() -> None:
    kb = load_knowledge_base(KBS / "layered")
    an = Analyzer(kb)
    first = next_question(an, an.full)
    assert first is not None
    assert first == next_question(Analyzer(kb), an.full)
    assert first in relevant(an, an.full)
    decided = an.state_of({"volume": 0.0, "money": 0.0, "speed": "slow", "strict": False})
    assert next_question(an, decided) is None


def test_diagram_is_reduced_and_shared() -> None:
    kb = load_knowledge_base(KBS / "layered")
    diagram = compile_diagram(kb)
    graph = diagram.to_networkx()
    for node, data in graph.nodes(data=True):
        if data["kind"] == "question":
            children = list(graph.successors(node))
            assert len(children) >= 2, "a question whose answers all agree must be dropped"
            labels = [graph.edges[node, c]["label"] for c in children]
            assert len(set(labels)) == len(labels)
    leaves = [d for _, d in graph.nodes(data=True) if d["kind"] == "leaf"]
    outcomes = [(d["recommendation"], tuple(d["combine_with"])) for d in leaves]
    assert len(outcomes) == len(set(outcomes)), "equal leaves must be shared"
    assert compile_diagram(kb).to_json() == diagram.to_json(), "compilation is deterministic"


def test_diagram_cache_is_keyed_by_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path))
    kb = load_knowledge_base(KBS / "layered")
    first = load_diagram(kb, cache_dir())
    files = list(tmp_path.glob(f"diagram-{kb.fingerprint[:32]}-*.json"))
    assert len(files) == 1

    from llm_advisor.engine.analysis import diagram

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached diagram should have been used")

    monkeypatch.setattr(diagram, "compile_diagram", fail)
    assert load_diagram(kb, cache_dir()) == first


def test_diagram_cache_key_follows_the_rule_language_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cells and labels of a diagram come from the rule language (engine/language), so a
    change there must name a different cache file, never read a stale one."""
    from llm_advisor.engine.analysis import diagram
    from llm_advisor.engine.language import cache

    kb = load_knowledge_base(KBS / "layered")
    load_diagram(kb, tmp_path)
    monkeypatch.setattr(cache, "code_version", lambda: "a changed rule language")
    diagram.code_version.cache_clear()
    try:
        load_diagram(kb, tmp_path)
    finally:
        diagram.code_version.cache_clear()
    files = sorted(tmp_path.glob(f"diagram-{kb.fingerprint[:32]}-*.json"))
    assert len(files) == 2, "the language's code version must be part of the diagram's key"


def test_given_facts_give_the_sub_diagram() -> None:
    kb = load_knowledge_base(KBS / "layered")
    sub = compile_diagram(kb, {"speed": "fast"})
    an = Analyzer(kb)
    for volume, money in itertools.product([0.0, 2e6, 2e9], [0.0, 5e4, 2e5]):
        known: dict[str, Value] = {
            "volume": volume,
            "money": money,
            "speed": "fast",
            "strict": True,
        }
        assert sub.walk(an, known)[1] == inferred(kb, known)
    assert "speed" not in {d.get("fact") for _, d in sub.to_networkx().nodes(data=True)}


# --- the shipped rule base ---------------------------------------------------------------------

CORE = ("problem_type", "change_frequency", "labeled_examples", "data_volume", "accuracy_need")
SETTINGS: list[dict[str, str]] = [
    {
        "budget": "$5k",
        "timeline": "1w",
        "needs_citations": "no",
        "ml_expertise": "none",
        "domain_distance": "general",
        "deployment": "cloud",
        "request_volume": "low",
        "provenance": "flexible",
    },
    {
        "budget": "$80k",
        "timeline": "3mo",
        "needs_citations": "yes",
        "ml_expertise": "some",
        "domain_distance": "specialized",
        "deployment": "on_prem",
        "request_volume": "high",
        "provenance": "flexible",
    },
    {
        "budget": "$5M",
        "timeline": "1y",
        "needs_citations": "no",
        "ml_expertise": "expert",
        "domain_distance": "unfamiliar",
        "deployment": "on_prem",
        "request_volume": "high",
        "provenance": "strict",
    },
]


@pytest.fixture(scope="module")
def shipped() -> tuple[KnowledgeBase, Analyzer]:
    kb = load_knowledge_base()
    return kb, Analyzer(kb)


@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_shipped_core_bands_agree(shipped: tuple[KnowledgeBase, Analyzer], setting: int) -> None:
    """Every combination of the five core facts' bands, others fixed: diagram = inference."""
    from llm_advisor.engine.language.facts import make_case

    kb, an = shipped
    diagram = load_diagram(kb, cache_dir())
    fixed = make_case(kb, SETTINGS[setting]).known()
    cores = [[cell.value for cell in an.cells[an.index[name]]] for name in CORE]
    for combo in itertools.product(*cores):
        known = {**fixed, **dict(zip(CORE, combo, strict=True))}
        assert diagram.walk(an, known)[1] == inferred(kb, known), known


def _full_cases() -> st.SearchStrategy[dict[str, Value]]:
    kb = load_knowledge_base()
    an = Analyzer(kb)
    parts: dict[str, st.SearchStrategy[Value]] = {}
    for i, fact in enumerate(kb.facts):
        if fact.kind.continuous:
            top = max((c.low or 0.0) for c in an.cells[i]) * 10 + 10
            parts[fact.name] = st.integers(0, int(top)).map(float)
        else:
            parts[fact.name] = st.sampled_from(fact.domain)
    return st.fixed_dictionaries(parts)


@settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(known=_full_cases())
def test_shipped_sampled_cases_agree(known: dict[str, Value]) -> None:
    kb, an = _SHIPPED
    assert _DIAGRAM.walk(an, known)[1] == inferred(kb, known)


_KB = load_knowledge_base()
_SHIPPED = (_KB, Analyzer(_KB))
_DIAGRAM = compile_diagram(_KB)
