"""Property tests: the shipped rule base is monotone in change frequency, cost and examples.

With every other fact equal:
(a) knowledge changing more often never moves the recommendation away from RAG;
(b) a smaller budget or a shorter timeline never moves it toward a costlier approach, in the
    order prompt_engineering < rag < fine_tuning < from_scratch;
(c) fewer labeled examples never moves it toward fine-tuning;
(d) a larger budget or a longer timeline never moves it away from fine-tuning or from training
    from scratch to a cheaper approach (budget and timeline weigh on both trained approaches);
(e) without a measured prompt baseline, a week or less or under $1k never leads to fine-tuning,
    as the recommendation or as a partner (the baseline comes first, tuning in a later iteration);
(f) fine-tuning an existing model and training one's own are alternatives, never both chosen;
(g) without a reason for a model of one's own, training from scratch ranks below prompting,
    whatever is unknown (no rule scores it up, so it does not sit second at zero);
(h) where a model of one's own is called for, measuring the prompt baseline or how often the
    facts change never moves the recommendation between fine-tuning and training from scratch
    (a shortfall is evidence for training either, and either can learn to read retrieved
    passages; neither says which).

Fact sets are drawn in full: enums and bools from their values, quantities from representative
strings that span every band the rules split the quantity into (the thresholds themselves are
added, so a moved threshold stays covered).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_advisor.engine import load_knowledge_base, recommend
from llm_advisor.engine.language import quantity

KB = load_knowledge_base()
ORDER = ("prompt_engineering", "rag", "fine_tuning", "from_scratch")
FREQUENCIES = KB.fact("change_frequency").values

REPRESENTATIVE = {
    "data_volume": ["0", "50k", "150k", "5M", "500M", "50B", "500B"],
    "labeled_examples": ["0", "5", "20", "60", "200", "800", "20k"],
    "budget": ["$0", "$500", "$5k", "$50k", "$150k", "$250k", "$3M"],
    "timeline": ["1d", "5d", "1w", "3w", "6w", "3mo", "6mo", "1y"],
}


def _quantity_strings(name: str) -> list[str]:
    unit = KB.fact(name).unit
    assert unit is not None
    at_thresholds = [quantity.display(t, unit) for t in KB.thresholds(name)]
    values = {s: quantity.parse(s, unit) for s in REPRESENTATIVE[name] + at_thresholds}
    return sorted(values, key=lambda s: values[s])


QUANTITIES = {name: _quantity_strings(name) for name in REPRESENTATIVE}


def _choices(name: str) -> list[str]:
    fact = KB.fact(name)
    if fact.kind.continuous:
        return QUANTITIES[name]
    return [fact.kind.display(fact, value) for value in fact.domain]


full_facts = st.fixed_dictionaries(
    {name: st.sampled_from(_choices(name)) for name in KB.fact_names}
)


def rec(facts: dict[str, Any]) -> str:
    result = recommend(KB, facts)
    assert result.recommendation is not None, f"every approach excluded for {facts}"
    return result.recommendation


def _ordered_pair(name: str) -> st.SearchStrategy[tuple[str, str]]:
    """Two values of a quantity, the first not larger than the second."""
    values = QUANTITIES[name]
    return st.tuples(st.sampled_from(values), st.sampled_from(values)).map(
        lambda p: tuple(sorted(p, key=values.index))  # type: ignore[return-value]
    )


@settings(max_examples=300, deadline=None)
@given(
    facts=full_facts,
    pair=st.tuples(st.sampled_from(FREQUENCIES), st.sampled_from(FREQUENCIES)).map(
        lambda p: tuple(sorted(p, key=FREQUENCIES.index))
    ),
)
def test_a_more_frequent_change_keeps_rag(facts: dict[str, Any], pair: tuple[str, str]) -> None:
    slower, faster = pair
    before = rec({**facts, "change_frequency": slower})
    if before == "rag":
        assert rec({**facts, "change_frequency": faster}) == "rag", (slower, faster, facts)


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, pair=_ordered_pair("budget"))
def test_b_smaller_budget_never_costlier(facts: dict[str, Any], pair: tuple[str, str]) -> None:
    smaller, larger = pair
    low = rec({**facts, "budget": smaller})
    high = rec({**facts, "budget": larger})
    assert ORDER.index(low) <= ORDER.index(high), (smaller, low, larger, high, facts)


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, pair=_ordered_pair("timeline"))
def test_b_shorter_timeline_never_costlier(facts: dict[str, Any], pair: tuple[str, str]) -> None:
    shorter, longer = pair
    low = rec({**facts, "timeline": shorter})
    high = rec({**facts, "timeline": longer})
    assert ORDER.index(low) <= ORDER.index(high), (shorter, low, longer, high, facts)


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, pair=_ordered_pair("labeled_examples"))
def test_c_fewer_examples_never_toward_finetuning(
    facts: dict[str, Any], pair: tuple[str, str]
) -> None:
    fewer, more = pair
    if rec({**facts, "labeled_examples": more}) != "fine_tuning":
        assert rec({**facts, "labeled_examples": fewer}) != "fine_tuning", (fewer, more, facts)


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, pair=_ordered_pair("budget"), costly=st.sampled_from(ORDER[2:]))
def test_d_larger_budget_keeps_a_trained_approach(
    facts: dict[str, Any], pair: tuple[str, str], costly: str
) -> None:
    smaller, larger = pair
    if rec({**facts, "budget": smaller}) == costly:
        after = rec({**facts, "budget": larger})
        assert ORDER.index(after) >= ORDER.index(costly), (smaller, larger, after, facts)


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, pair=_ordered_pair("timeline"), costly=st.sampled_from(ORDER[2:]))
def test_d_longer_timeline_keeps_a_trained_approach(
    facts: dict[str, Any], pair: tuple[str, str], costly: str
) -> None:
    shorter, longer = pair
    if rec({**facts, "timeline": shorter}) == costly:
        after = rec({**facts, "timeline": longer})
        assert ORDER.index(after) >= ORDER.index(costly), (shorter, longer, after, facts)


def chosen(facts: dict[str, Any]) -> set[str]:
    result = recommend(KB, facts)
    assert result.recommendation is not None, f"every approach excluded for {facts}"
    return {result.recommendation, *result.combine_with}


@settings(max_examples=300, deadline=None)
@given(
    facts=full_facts,
    timeline=st.sampled_from(["1d", "3d", "5d", "1w"]),
    budget=st.sampled_from(["$0", "$300", "$900"]),
    squeezed=st.sampled_from(["timeline", "budget", "both"]),
)
def test_e_days_or_shoestring_without_baseline_never_fine_tune(
    facts: dict[str, Any], timeline: str, budget: str, squeezed: str
) -> None:
    case = {**facts, "prompt_baseline": "untried"}
    if squeezed in ("timeline", "both"):
        case["timeline"] = timeline
    if squeezed in ("budget", "both"):
        case["budget"] = budget
    assert "fine_tuning" not in chosen(case), case


@settings(max_examples=300, deadline=None)
@given(facts=full_facts)
def test_f_fine_tuning_and_own_model_never_both_chosen(facts: dict[str, Any]) -> None:
    assert not {"fine_tuning", "from_scratch"} <= chosen(facts), facts


@settings(max_examples=300, deadline=None)
@given(facts=full_facts, unknown=st.sets(st.sampled_from(KB.fact_names)))
def test_g_an_own_model_without_a_reason_ranks_below_prompting(
    facts: dict[str, Any], unknown: set[str]
) -> None:
    result = recommend(KB, {n: v for n, v in facts.items() if n not in unknown})
    if "pretraining_justified" in result.derived:
        return
    score = {r.approach: r.score for r in result.ranking}
    assert score["from_scratch"] < score["prompt_engineering"], facts


OWN_MODEL_CALLED_FOR = {
    "problem_type": st.sampled_from(["behavior", "both"]),
    "domain_distance": st.just("unfamiliar"),
    "data_volume": st.sampled_from(["100B", "500B", "2T"]),
    "budget": st.sampled_from(["$2M", "$3M", "$10M"]),
    "timeline": st.sampled_from(["3mo", "6mo", "1y"]),
    "ml_expertise": st.just("expert"),
}


@settings(max_examples=300, deadline=None)
@given(
    facts=full_facts,
    called_for=st.fixed_dictionaries(OWN_MODEL_CALLED_FOR),
    changed=st.sampled_from(
        [("prompt_baseline", value) for value in KB.fact("prompt_baseline").values]
        + [("change_frequency", value) for value in FREQUENCIES]
    ),
)
def test_h_baseline_and_change_never_choose_between_tuning_and_own_model(
    facts: dict[str, Any], called_for: dict[str, str], changed: tuple[str, str]
) -> None:
    case = {**facts, **called_for}
    name, value = changed
    before, after = rec(case), rec({**case, name: value})
    if {before, after} <= {"fine_tuning", "from_scratch"}:
        assert before == after, (name, value, case)


def test_quantity_strings_span_every_band() -> None:
    for name, strings in QUANTITIES.items():
        unit = KB.fact(name).unit
        assert unit is not None
        values = [quantity.parse(s, unit) for s in strings]
        cuts = (0.0, *KB.thresholds(name))
        for low, high in zip(cuts, (*cuts[1:], float("inf")), strict=True):
            assert any(low <= v < high for v in values), (name, low, high)
