"""HOW, WHY NOT and counterfactuals: the engine functions and `llm-advisor explain`."""

from __future__ import annotations

import json
import random
import re
from itertools import combinations, product
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_advisor.cli.main import cli
from llm_advisor.engine.analysis.dependence import dependence
from llm_advisor.engine.analysis.explanation import explain
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.verification import full_case, sample_cases
from llm_advisor.engine.analysis.what_if import (
    Candidate,
    actionable,
    band_label,
    candidates,
    changed,
    value_range,
)
from llm_advisor.engine.inference.run import Result as Inferred
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.effects import Combine
from llm_advisor.engine.language.facts import Case, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase

KBS = Path(__file__).parent / "kbs"
RULES = str(KBS / "audit")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base(RULES)


@pytest.fixture(scope="module")
def mini() -> KnowledgeBase:
    return load_knowledge_base(KBS / "mini")


def run(kb: KnowledgeBase, **raw: object) -> Inferred:
    return evaluate(kb, make_case(kb, raw))


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


# --- HOW ------------------------------------------------------------------------------------------


def test_how_follows_derivations_back(mini: KnowledgeBase) -> None:
    ex = explain(mini, run(mini, size="2M", urgent="yes"), what_if=False)
    steps = {s.firing.rule_id: s for s in ex.how}
    assert list(steps) == ["big", "big-and-urgent", "pressing-fancy"]
    assert steps["pressing-fancy"].supported_by == ("big-and-urgent",)
    assert steps["big-and-urgent"].supported_by == ("big",)
    assert steps["big"].derives == ("big",)


def test_how_leaves_out_firings_that_decided_nothing(
    mini: KnowledgeBase, kb: KnowledgeBase
) -> None:
    ex = explain(mini, run(mini, size="2M", urgent="no"), what_if=False)
    assert [s.firing.rule_id for s in ex.how] == []  # `big` derived a fact nothing used
    ex = explain(kb, run(kb, size="2M"), what_if=False)
    assert [s.firing.rule_id for s in ex.how] == ["big", "big-favours-fancy", "red-favours-cheap"]


# --- WHY NOT --------------------------------------------------------------------------------------


def test_why_not_lists_exclusions_and_what_held_others_back(kb: KnowledgeBase) -> None:
    ex = explain(kb, run(kb, size="2M", urgent="yes", budget="$5k"), what_if=False)
    assert ex.result.recommendation == "fancy"
    why = {w.approach: w for w in ex.why_not}
    assert set(why) == {"cheap", "exotic"}
    assert why["exotic"].excluded_by == (("small-budget", "The budget is too small."),)
    assert why["exotic"].held_back == why["exotic"].favoured_by == ()  # the exclusion says it all
    cheap = why["cheap"]
    assert (cheap.score, cheap.winner_score, cheap.lost_tie) == (2, 8, False)
    assert [(c.rule_id, c.winner_delta, c.other_delta, c.margin) for c in cheap.held_back] == [
        ("urgent-favours-fancy", 4, -1, 5),
        ("big-favours-fancy", 4, 0, 4),
    ]
    assert [(c.rule_id, c.winner_delta, c.other_delta) for c in cheap.favoured_by] == [
        ("red-favours-cheap", 0, 3)
    ]


def test_why_not_notes_a_lost_tie(mini: KnowledgeBase) -> None:
    ex = explain(mini, run(mini, size="2M"), what_if=False)  # both 0: the tie goes to cheap
    assert ex.result.recommendation == "cheap"
    (fancy,) = ex.why_not
    assert fancy.lost_tie and fancy.score == fancy.winner_score == 0 and fancy.held_back == ()


def test_why_not_shows_each_approach_once_and_a_suggested_partner_it_dropped() -> None:
    """Heavy, excluded by two rules, is listed once with a reason a line; it was suggested as a
    partner too, which the explanation says instead of leaving the suggestion unexplained.
    Middle, suggested and kept as a partner, gets no such line."""
    args = ("explain", "--rules", str(KBS / "reasons"), "--fact", "go=yes", "--fact", "pair=yes")
    text = invoke(*args)
    assert text.exit_code == 0, text.output
    section = text.stdout.split("Why not the others\n", 1)[1].split("\n\n", 1)[0]
    named = [line.split(":")[0].strip() for line in section.splitlines() if line[2] != " "]
    assert sorted(named) == ["Heavy", "Huge", "Middle (the partner)"]
    heavy = section.split("  Heavy:", 1)[1].split("\n  Huge", 1)[0].split("\n  Middle", 1)[0]
    assert "heavy-out-size: too big" in heavy and "heavy-out-time: too slow" in heavy
    assert "pairing-heavy suggested it" in heavy
    data = json.loads(invoke(*args, "--json").stdout)
    assert {w["approach"]: w["partner"] for w in data["why_not"]} == {
        "heavy": False,
        "middle": True,
        "huge": False,
    }
    dropped = {w["approach"]: w["partner_dropped_by"] for w in data["why_not"]}
    assert dropped == {"heavy": ["pairing-heavy"], "middle": [], "huge": []}
    assert data["combine_with"] == ["middle"]


# --- counterfactuals ------------------------------------------------------------------------------


def test_candidates_cover_every_band_but_the_current_one(kb: KnowledgeBase) -> None:
    budget = kb.fact("budget")
    labels = [c.label for c in candidates(kb, budget, None)]
    assert labels == ["< $20k", ">= $20k and < $200k", ">= $200k"]
    assert [c.label for c in candidates(kb, budget, 50_000.0)] == ["< $20k", ">= $200k"]
    for c in candidates(kb, budget, None):
        assert c.value in (0.0, 20_000.0, 200_000.0)
    assert [c.value for c in candidates(kb, kb.fact("color"), "red")] == ["green", "blue"]
    assert [c.label for c in candidates(kb, kb.fact("urgent"), True)] == ["no"]
    assert [c.label for c in candidates(kb, kb.fact("size"), 5.0)] == [">= 1M"]


def test_a_count_below_one_reads_none_as_in_the_diagrams() -> None:
    """What-ifs name the bands as the diagrams and the consultation do: "none", not "< 1"."""
    shipped = load_knowledge_base()
    counts = [
        f
        for f in shipped.facts
        if f.unit in ("tokens", "count") and min(shipped.thresholds(f.name), default=2) <= 1
    ]
    assert counts, "the shipped rule base tests no count against 1"
    for fact in counts:
        (first, *_) = candidates(shipped, fact, 1e6)
        assert (first.label, first.low, first.high) == ("none", None, 1), fact.name


def test_single_changes_are_found_and_confirmed(mini: KnowledgeBase) -> None:
    result = run(mini, size="2M", urgent="yes")
    ex = explain(mini, result)
    found = {(c.changes[0].fact, c.changes[0].label): c.recommendation for c in ex.counterfactuals}
    assert found == {
        ("size", "< 1M"): "cheap",
        ("color", "blue"): "cheap",
        ("urgent", "no"): "cheap",
    }
    assert all(len(c.changes) == 1 for c in ex.counterfactuals)
    for cf in ex.counterfactuals:
        assert evaluate(mini, changed(result.case, cf.changes)).recommendation == cf.recommendation


def test_two_fact_changes_when_no_single_change_works(kb: KnowledgeBase) -> None:
    result = run(kb, size="2M", urgent="yes", budget="50k")
    ex = explain(kb, result)
    assert ex.counterfactuals and all(len(c.changes) == 2 for c in ex.counterfactuals)
    found = {
        tuple((c.fact, c.label) for c in cf.changes): cf.recommendation for cf in ex.counterfactuals
    }
    assert found[(("size", "< 1M"), ("urgent", "no"))] == "cheap"
    assert found[(("budget", ">= $200k"), ("urgent", "no"))] == "exotic"
    for cf in ex.counterfactuals:
        assert evaluate(kb, changed(result.case, cf.changes)).recommendation == cf.recommendation
    # no single change alone would do
    for fact in kb.facts:
        for c in candidates(kb, fact, result.case.get(fact.name)):
            assert evaluate(kb, changed(result.case, (c,))).recommendation == "fancy"


def brute_force(kb: KnowledgeBase, result: Inferred) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Every smallest change that alters the plan, by running inference on all: of one
    fact, else of two; where every one-fact change is the situation's, also the two-fact steps
    a team can take."""
    options = [candidates(kb, fact, result.case.get(fact.name)) for fact in kb.facts]
    found: list[tuple[tuple[Candidate, ...], tuple[str, ...]]] = []
    for size in (1, 2):
        steps_only = bool(found)
        for facts in combinations(options, size):
            for changes in product(*facts):
                if steps_only and not actionable(kb, changes, result.case):
                    continue
                other = evaluate(kb, changed(result.case, changes)).plan
                if other != result.plan:
                    found.append((changes, other))
        if any(actionable(kb, changes, result.case) for changes, _ in found):
            break
    return {tuple(f"{c.fact}={c.label}" for c in changes): other for changes, other in found}


def searched(kb: KnowledgeBase, result: Inferred) -> dict[tuple[str, ...], tuple[str, ...]]:
    ex = explain(kb, result)
    assert ex.searched
    return {
        tuple(f"{c.fact}={c.label}" for c in cf.changes): (cf.recommendation, *cf.combine_with)
        if cf.recommendation
        else ()
        for cf in ex.counterfactuals
    }


@settings(max_examples=40, deadline=None)
@given(
    size=st.sampled_from([None, "0", "1M", "5M"]),
    budget=st.sampled_from([None, "$1k", "$50k", "$1M"]),
    color=st.sampled_from([None, "red", "green", "blue"]),
    urgent=st.sampled_from([None, "yes", "no"]),
)
def test_the_analysis_finds_exactly_what_brute_force_finds(
    kb: KnowledgeBase, size: str | None, budget: str | None, color: str | None, urgent: str | None
) -> None:
    """Unknown facts included: the analysis treats them as inference does (every test false)."""
    raw = {"size": size, "budget": budget, "color": color, "urgent": urgent}
    result = evaluate(kb, make_case(kb, {k: v for k, v in raw.items() if v}))
    assert searched(kb, result) == brute_force(kb, result)


def test_the_analysis_finds_what_brute_force_finds_on_the_shipped_rules() -> None:
    shipped = load_knowledge_base()
    cases = [
        make_case(shipped, {}),
        make_case(shipped, {"data_volume": "5k", "labeled_examples": "0", "timeline": "1w"}),
        make_case(shipped, {"labeled_examples": "50k", "change_frequency": "static"}),
        *(full_case(shipped, known) for known in sample_cases(shipped, 2, seed=3)),
        # Prompting for a behaviour on $989, in 6 days, without ML expertise or domain text: no
        # single change moves it.
        make_case(
            shipped,
            {
                "problem_type": "behavior",
                "change_frequency": "yearly",
                "labeled_examples": "196",
                "data_volume": "0",
                "accuracy_need": "medium",
                "budget": "$989",
                "timeline": "6d",
                "needs_citations": "no",
                "ml_expertise": "none",
                "domain_distance": "specialized",
                "deployment": "on_prem",
                "request_volume": "low",
                "provenance": "flexible",
                "prompt_baseline": "falls_short",
            },
        ),
    ]
    for case in cases:
        result = evaluate(shipped, case)
        found = searched(shipped, result)
        assert found == brute_force(shipped, result), case
        assert explain(shipped, result).evaluated == len(found)  # inference only to confirm
    assert len(next(iter(found))) == 2  # the last case needs two changes


OPEN_ENDED = {
    "facts.yaml": """facts:
  - {name: size, type: quantity, unit: tokens, question: How much text?}
  - {name: width, type: quantity, unit: tokens, question: How wide?}
  - {name: urgent, type: bool, question: Is it urgent?}
""",
    "approaches.yaml": """dimensions: [accuracy, complexity, effort, flexibility]
tie_break: complexity
approaches:
  - {id: cheap, name: Cheap, profile: {accuracy: 1, complexity: 1, effort: 1, flexibility: 2}}
  - {id: fancy, name: Fancy, profile: {accuracy: 1, complexity: 2, effort: 1, flexibility: 2}}
""",
    "sources.yaml": "sources: {test: {title: T, author: A, year: 2024}}\n",
    "rules.yaml": """rules:
  - {id: u, title: U, when: {fact: urgent, is: yes}, then: {score: {fancy: 1}}, because: B., source: test}
  - id: w
    title: W
    when: {all: [{fact: width, at_least: 0}, {fact: width, below: 10}]}
    then: {score: {fancy: 2}}
    because: B.
    source: test
""",
}


def test_quantities_nothing_compares_or_compared_with_zero(tmp_path: Path) -> None:
    """`size` has no bands to change to; `width`'s bands start at 0, not at a band below it."""
    for name, text in OPEN_ENDED.items():
        (tmp_path / name).write_text(text)
    kb = load_knowledge_base(tmp_path)
    assert candidates(kb, kb.fact("size"), None) == ()
    assert [c.label for c in candidates(kb, kb.fact("width"), None)] == ["< 10", ">= 10"]
    assert [c.label for c in candidates(kb, kb.fact("width"), 5.0)] == [">= 10"]
    result = invoke("explain", "--rules", str(tmp_path), "--fact", "urgent=yes", "--json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["counterfactuals"]["changes"]
    assert [[c["set"][0]["fact"], c["set"][0]["to"]] for c in changes] == [["urgent", "no"]]


def test_changed_case_counts_changes_as_given(kb: KnowledgeBase) -> None:
    case = make_case(kb, {"size": "2M"})
    new = changed(case, (Candidate("color", "blue", "blue"),))
    assert new.get("color") == "blue" and new.status_of("color") == "given"
    assert new.get("size") == case.get("size") and new.status_of("urgent") == "unknown"


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([None, "0", "1M"]),
    budget=st.sampled_from([None, "$1k", "$50k", "$1M"]),
    color=st.sampled_from([None, "red", "green", "blue"]),
    urgent=st.sampled_from([None, "yes", "no"]),
)
def test_counterfactuals_are_minimal_and_real(
    kb: KnowledgeBase, size: str | None, budget: str | None, color: str | None, urgent: str | None
) -> None:
    raw = {
        k: v
        for k, v in {"size": size, "budget": budget, "color": color, "urgent": urgent}.items()
        if v
    }
    result = evaluate(kb, make_case(kb, raw))
    ex = explain(kb, result)
    sizes = {len(cf.changes) for cf in ex.counterfactuals}
    # one size, or the situation's single changes beside two-fact steps the team can take
    pairs = [cf for cf in ex.counterfactuals if len(cf.changes) == 2]
    if len(sizes) > 1:
        assert all(actionable(kb, cf.changes, result.case) for cf in pairs)
        assert not any(
            actionable(kb, cf.changes, result.case) for cf in ex.counterfactuals if cf not in pairs
        )
    for cf in ex.counterfactuals:
        assert (cf.recommendation, cf.combine_with) != (result.recommendation, result.combine_with)
        other = evaluate(kb, changed(result.case, cf.changes))
        assert (other.recommendation, other.combine_with) == (cf.recommendation, cf.combine_with)
    singles = [
        c
        for fact in kb.facts
        for c in candidates(kb, fact, result.case.get(fact.name))
        if evaluate(kb, changed(result.case, (c,))).plan != result.plan
    ]
    assert (1 in sizes) == bool(singles)


# --- the command ----------------------------------------------------------------------------------


def test_explain_facts_text() -> None:
    out = invoke(
        "explain",
        "--rules",
        RULES,
        "--fact",
        "size=2M",
        "--fact",
        "urgent=yes",
        "--fact",
        "budget=50k",
    )
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "Recommendation: Fancy" in text
    assert "How the rules reached it" in text and "[rules.yaml:" in text
    assert (
        "resting on: big" in text
        and "because: Fancy handles volume." in text
        and 'source: The tests (2026), "A test source"' in text
    )
    cheap = text.split("  Cheap: score +2, 6 behind\n", 1)[1].split("\n  Exotic", 1)[0]
    # Both sides of the gap, each under the approach it favours.
    assert [line.strip() for line in cheap.splitlines()] == [
        "for Fancy:",
        "urgent-favours-fancy: Fancy +4, Cheap -1",
        "big-favours-fancy: Fancy +4, Cheap +0",
        "for Cheap:",
        "red-favours-cheap: Fancy +0, Cheap +3",
    ]
    assert "size: 2M -> < 1M and urgent: yes -> no  =>  Cheap" in text


def test_explain_facts_json() -> None:
    out = invoke(
        "explain",
        "--rules",
        RULES,
        "--fact",
        "size=2M",
        "--fact",
        "urgent=yes",
        "--fact",
        "budget=$5k",
        "--json",
    )
    assert out.exit_code == 0
    data = json.loads(out.stdout)
    assert data["recommendation"] == "fancy" and data["audit_id"] is None
    assert [s["rule"] for s in data["how"]] == [
        "big",
        "big-favours-fancy",
        "urgent-favours-fancy",
        "red-favours-cheap",
        "small-budget",
    ]
    assert data["how"][1]["supported_by"] == ["big"] and data["how"][1]["location"].startswith(
        "rules.yaml:"
    )
    why = {w["approach"]: w for w in data["why_not"]}
    assert why["exotic"]["excluded"] and why["exotic"]["excluded_by"][0]["rule"] == "small-budget"
    assert (
        why["cheap"]["behind"] == 6
        and why["cheap"]["held_back"][0]["rule"] == "urgent-favours-fancy"
    )
    assert [(c["rule"], c["margin"]) for c in why["cheap"]["favoured_by"]] == [
        ("red-favours-cheap", -3)
    ]
    cfs = data["counterfactuals"]
    assert cfs["facts_changed"] == 2 and cfs["complete"] and cfs["evaluated"] > 0
    first = cfs["changes"][0]
    assert set(first) == {"set", "actionable", "recommendation", "combine_with"}
    assert set(first["set"][0]) == {"fact", "from", "to", "value"}


def test_explain_an_audit_record(tmp_path: Path) -> None:
    db = tmp_path / "audit.sqlite3"
    out = invoke(
        "recommend", "--rules", RULES, "--fact", "size=2M", "--json", "--audit-db", str(db)
    )
    audit_id = json.loads(out.stdout)["audit_id"]
    out = invoke("explain", audit_id[:5], "--audit-db", str(db))
    assert out.exit_code == 0, out.output
    assert f"Audit record {audit_id}" in out.stdout and "Recommendation: Fancy" in out.stdout
    data = json.loads(invoke("explain", audit_id, "--json", "--audit-db", str(db)).stdout)
    assert data["audit_id"] == audit_id and data["recommendation"] == "fancy"
    # the same record under other rules
    data = json.loads(
        invoke(
            "explain", audit_id, "--rules", str(KBS / "mini"), "--json", "--audit-db", str(db)
        ).stdout
    )
    assert data["recommendation"] == "cheap" and data["rulebase"]["directory"].endswith("mini")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["abc123", "--fact", "size=2M"],
        ["--fact", "nonsense=1"],
        ["--fact", "size=lots"],
        ["--facts", "/nonexistent/facts.yaml"],
        ["ffffffffffff"],
        ["not-hex!"],
    ],
)
def test_explain_bad_input(args: list[str], tmp_path: Path) -> None:
    out = invoke("explain", "--rules", RULES, "--audit-db", str(tmp_path / "a.db"), *args)
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1


# --- what a team can act on -----------------------------------------------------------------

HEADING = "If the situation itself were different"
NOT_GIVEN = "If facts not given yet have these values"


def what_if_lines(text: str) -> list[str]:
    """The lines of the "What would change the recommendation" section."""
    section = text.split("What would change the recommendation\n", 1)[1]
    return section.split("\n\n", 1)[0].splitlines()


@pytest.mark.parametrize(
    "facts",
    [
        ["problem_type=both", "labeled_examples=2k"],
        ["problem_type=behavior", "labeled_examples=20", "budget=5k"],
        ["problem_type=knowledge", "change_frequency=monthly", "budget=50k", "timeline=6w"],
        ["problem_type=knowledge"],
        [
            *("problem_type=knowledge", "change_frequency=daily", "data_volume=50M"),
            *("labeled_examples=0", "accuracy_need=critical", "budget=50k", "timeline=2mo"),
            "needs_citations=yes",
        ],
    ],
)
def test_actionable_changes_come_first_and_one_fact_is_one_line(facts: list[str]) -> None:
    """Changes a team can make (raising a fact it can change) are listed first; changes of the
    situation, and having less of what it has, come after a heading saying so; changes of one
    fact with the same outcome are one line; plurals agree."""
    shipped = load_knowledge_base(None)
    args = [x for fact in facts for x in ("--fact", fact)]
    text = invoke("explain", *args)
    data = json.loads(invoke("explain", *args, "--json").stdout)["counterfactuals"]
    assert text.exit_code == 0, text.output
    lines = what_if_lines(text.stdout)
    changes = [line.strip() for line in lines if "=>" in line]
    heading = next((i for i, line in enumerate(lines) if HEADING in line), len(lines))
    not_given = next((i for i, line in enumerate(lines) if NOT_GIVEN in line), heading)
    assert not_given <= heading, "facts not given yet come before the situation"
    for i, line in enumerate(lines):
        if "=>" not in line:
            continue
        before = line.split("=>")[0]
        names = re.findall(r"(\w+): ", before)
        unknown = before.count(": unknown ->")
        if not_given < i < heading:
            assert unknown == len(names), line  # only facts not given yet
        else:
            assert unknown < len(names), line  # a fact the team gave changes
            assert all(shipped.fact(n).actionable for n in names) or i > heading, line
    case = make_case(shipped, dict(fact.split("=", 1) for fact in facts))
    for cf in data["changes"]:
        raises = all(
            shipped.fact(s["fact"]).actionable
            and (case.get(s["fact"]) is None or _a_step_up(shipped, s["fact"], s["value"], case))
            for s in cf["set"]
        )
        assert cf["actionable"] == raises, cf
    # the JSON lists every change, those a team can act on first
    flags = [cf["actionable"] for cf in data["changes"]]
    assert flags == sorted(flags, reverse=True)
    situation = [
        cf for cf in data["changes"]
        if not cf["actionable"] and any(s["from"] is not None for s in cf["set"])
    ]  # fmt: skip
    assert bool(situation) == (heading < len(lines))
    # said only where the search, pairs of steps included, found no change the team can make
    said = "no change the team can make" in text.stdout
    assert said == (bool(data["changes"]) and not any(cf["actionable"] for cf in data["changes"]))
    # one line per fact and outcome: as many lines as distinct (facts, outcome) in the JSON
    single = {
        (tuple(s["fact"] for s in cf["set"]), cf["recommendation"], tuple(cf["combine_with"]))
        for cf in data["changes"]
        if len(cf["set"]) == 1
    }
    if all(len(cf["set"]) == 1 for cf in data["changes"]):
        assert len(changes) == len(single) <= len(data["changes"])
    count = int(re.search(r"(\d+) (cases?) evaluated", text.stdout)[1])  # type: ignore[index]
    assert f"{count} {'case' if count == 1 else 'cases'} evaluated" in text.stdout


def test_a_measured_fact_changes_once_measured() -> None:
    """`prompt_baseline` is measured, not chosen: a what-if that measures it says it holds once
    measured, and another fact's change does not; no what-if goes back to an unmeasured
    baseline, since a measurement cannot be unlearnt (one did, listed as a change of the
    situation, and brought back the prompt the measurement had shown to fall short)."""
    shipped = load_knowledge_base(None)
    measured = {f.name for f in shipped.facts if f.measured}
    assert measured, "the shipped rule base no longer declares a measured fact"
    raised = ["problem_type=both", "labeled_examples=346"]
    lowered = [
        "problem_type=both", "prompt_baseline=falls_short", "budget=$500", "timeline=3d",
        "labeled_examples=100", "ml_expertise=some", "accuracy_need=high",
    ]  # fmt: skip
    for facts, reached in ((raised, True), (lowered, False)):
        args = [x for fact in facts for x in ("--fact", fact)]
        lines = [line for line in what_if_lines(invoke("explain", *args).stdout) if "=>" in line]
        assert any(name in line for line in lines for name in measured) == reached, lines
        assert len(lines) >= 2, lines  # the lowered case's other what-ifs still show
        for line in lines:
            for part in line.split("=>")[0].split(" and "):
                name = part.strip().split(":")[0]
                expected = name in measured and reached  # a measurement cannot un-measure
                assert part.strip().endswith("once measured") == expected, line


def test_a_partner_says_what_suggested_it_and_a_higher_score_why_it_is_not_one() -> None:
    """Two gaps with cited facts at high volume, after a prompt baseline fell short: one of
    fine-tuning and retrieval leads with the other as its partner, which an approach outside the
    plan outscores. The partner names the rules that suggested it; the approach outside the plan
    says no rule suggests it."""
    facts = [
        "problem_type=both", "change_frequency=yearly", "data_volume=120k",
        "labeled_examples=2.7k", "accuracy_need=medium", "budget=85k", "timeline=7w",
        "needs_citations=yes", "ml_expertise=expert", "domain_distance=specialized",
        "request_volume=high", "prompt_baseline=falls_short",
    ]  # fmt: skip
    args = [x for fact in facts for x in ("--fact", fact)]
    data = json.loads(invoke("explain", *args, "--json").stdout)
    rows = {w["approach"]: w for w in data["why_not"]}
    [partner] = data["combine_with"]
    shipped = load_knowledge_base(None)
    suggested = rows[partner]["partnered_by"]
    assert suggested and all(
        any(isinstance(e, Combine) for e in shipped.rule(rule).effects) for rule in suggested
    )
    assert all(not w["partnered_by"] for a, w in rows.items() if a != partner)
    above = [
        a for a, w in rows.items()
        if a != partner and not w["excluded_by"] and w["score"] > rows[partner]["score"]
    ]  # fmt: skip
    assert above, "the rules no longer rank an approach outside the plan above the partner"
    text = invoke("explain", *args).stdout
    section = text.split("Why not the others\n", 1)[1].split("\n\n", 1)[0]
    assert section.count("not a partner: no rule that fired suggests it") == len(above)
    assert f"a partner because {' and '.join(suggested)} suggested it" in section
    assert len(suggested) == 2, "the case no longer shows two rules joined by 'and'"


def _a_step_up(kb: KnowledgeBase, name: str, value: str | float, case: Case) -> bool:
    """Whether `value` is above the case's value of the fact (enum order or number), and for a
    quantity with a `reach`, by at most that many times (zero counting as one unit)."""
    now, fact = case.get(name), kb.fact(name)
    if fact.values:
        return fact.values.index(str(value)) > fact.values.index(str(now))
    reach = fact.reach or float("inf")
    return float(str(now)) < float(value) <= reach * max(float(str(now)), 1)


@pytest.mark.parametrize(
    ("now", "low", "high", "step"),
    [
        ("50k", 200_000, 1e9, True),  # four times as much text: collect it
        ("50k", 1e9, 1e11, False),  # twenty thousand times as much: another situation
        ("50k", 1e11, None, False),
        ("50k", None, 200_000, False),  # less is never a step
        ("300M", 1e9, 1e11, True),
        ("20B", 1e11, None, True),
        ("0", 1, 200_000, True),  # from none, collecting some documents is a step
        ("0", 200_000, 1e9, False),
    ],
)
def test_a_step_of_domain_text_reaches_ten_times_what_the_team_has(
    now: str, low: float | None, high: float | None, step: bool
) -> None:
    shipped = load_knowledge_base(None)
    case = make_case(shipped, {"data_volume": now})
    band = Candidate("data_volume", low or 0.0, "band", low, high)
    assert actionable(shipped, (band,), case) == step
    # the budget has a reach of ten times too: from $500, asking for $1k-$5k is a step and
    # $2M another project (explain offered a rise from $1.5k to $2M as a step)
    small = make_case(shipped, {"budget": "$500"})
    assert actionable(shipped, (Candidate("budget", 1e3, "band", 1e3, 5e3),), small)
    assert not actionable(shipped, (Candidate("budget", 2e6, ">= $2M", 2e6, None),), small)


def test_far_more_domain_text_is_another_situation_not_a_step() -> None:
    """`data_volume` has a reach of ten times its value: from 50k tokens, collecting 200k is a
    step the team can take; a billion tokens or more, with the same outcome, is listed as a
    different situation."""
    shipped = load_knowledge_base(None)
    assert shipped.fact("data_volume").reach == 10
    args = [*("--fact", "problem_type=both", "--fact", "labeled_examples=2k")]
    args += ["--fact", "data_volume=50k"]
    changes = json.loads(invoke("explain", *args, "--json").stdout)["counterfactuals"]["changes"]
    more = {
        cf["set"][0]["to"]: cf["actionable"]
        for cf in changes
        if [s["fact"] for s in cf["set"]] == ["data_volume"] and float(cf["set"][0]["value"]) > 5e4
    }
    near = [to for to, step in more.items() if step]
    far = [to for to, step in more.items() if not step]
    assert near == [">= 200k and < 1B"] and far, more
    lines = what_if_lines(invoke("explain", *args).stdout)
    heading = next(i for i, line in enumerate(lines) if HEADING in line)
    step = next(i for i, line in enumerate(lines) if "data_volume: 50k -> >= 200k and" in line)
    farther = next(i for i, line in enumerate(lines) if "data_volume: 50k -> >= 1B" in line)
    assert step < heading < farther


def test_several_values_of_one_fact_are_merged_into_a_range() -> None:
    """`problem_type=both, labeled_examples=2k`: several values of change_frequency lead to the
    same outcome; they are one line naming the first and last of them."""
    args = ["--fact", "problem_type=both", "--fact", "labeled_examples=2k"]
    data = json.loads(invoke("explain", *args, "--json").stdout)["counterfactuals"]
    by_outcome: dict[tuple[str, ...], list[str]] = {}
    for cf in data["changes"]:
        if [s["fact"] for s in cf["set"]] == ["change_frequency"]:
            key = (cf["recommendation"], *cf["combine_with"])
            by_outcome.setdefault(key, []).append(cf["set"][0]["to"])
    values = max(by_outcome.values(), key=len)
    assert len(values) >= 3, "the rules no longer give a range to merge here"
    lines = [
        line
        for line in what_if_lines(invoke("explain", *args).stdout)
        if "change_frequency" in line
    ]
    assert len(lines) == len(by_outcome)
    assert any(f"{values[0]} to {values[-1]}" in line for line in lines), lines


def changes_of(changes: tuple[Candidate, ...]) -> tuple[tuple[str, object], ...]:
    return tuple((c.fact, c.value) for c in changes)


def test_what_ifs_cover_the_changes_found_exactly_and_merge_two_facts() -> None:
    """Each what-if stands for every combination of its values, each one a change found with
    its outcome, and together they stand for each change found once. A two-fact what-if can
    range over both facts (a team with no ML expertise: some or expert, with more data or
    demonstrations), so there are fewer what-ifs than two-fact changes on these cases."""
    kb = load_knowledge_base()
    base = {"ml_expertise": "none", "deployment": "on_prem", "budget": "50000"}
    cases = [
        {**base, "accuracy_need": "medium", "domain_distance": "unfamiliar",
         "request_volume": "high", "prompt_baseline": "untried", "labeled_examples": "346"},
        {**base, "change_frequency": "static", "domain_distance": "unfamiliar",
         "prompt_baseline": "untried", "labeled_examples": "100"},
    ]  # fmt: skip
    for known in cases:
        ex = explain(kb, evaluate(kb, make_case(kb, known)))
        found = {
            (changes_of(cf.changes), cf.recommendation, cf.combine_with, cf.actionable)
            for cf in ex.counterfactuals
        }
        covered = [
            (changes_of(combination), w.recommendation, w.combine_with, w.actionable)
            for w in ex.what_ifs
            for combination in product(*w.values)
        ]
        assert len(covered) == len(set(covered)) and set(covered) == found, known
        two_fact = [w for w in ex.what_ifs if len(w.changes) == 2]
        assert any(all(len(v) > 1 for v in w.values) for w in two_fact), known
        assert len(two_fact) < sum(len(cf.changes) == 2 for cf in ex.counterfactuals)


# --- explanations number what they show ------------------------------------------------------


def numbers(text: str, heading: str) -> list[int]:
    section = text.split(heading + "\n", 1)[1].split("\n\n", 1)[0]
    return [int(m) for m in re.findall(r"^\s+(\d+)\. ", section, re.MULTILINE)]


@pytest.mark.parametrize(
    "facts",
    [
        ["problem_type=knowledge", "change_frequency=weekly", "needs_citations=yes"],
        ["problem_type=both", "labeled_examples=2k", "budget=5k"],
    ],
)
def test_explanations_number_only_what_they_show(facts: list[str]) -> None:
    args = [x for fact in facts for x in ("--fact", fact)]
    out = invoke("recommend", *args, "--no-audit").stdout
    shown = numbers(out, "Reasons that mattered most")
    assert shown == list(range(1, len(shown) + 1)) and shown
    out = invoke("explain", *args).stdout
    shown = numbers(out, "How the rules reached it")
    assert shown == list(range(1, len(shown) + 1)) and shown


def test_explanations_cite_full_references() -> None:
    shipped = load_knowledge_base(None)
    out = invoke("explain", "--fact", "problem_type=knowledge", "--fact", "budget=5k").stdout
    cited = [line.split("source: ", 1)[1] for line in out.splitlines() if "source: " in line]
    assert cited
    references = {s.reference for s in shipped.sources}
    assert all(c in references for c in cited)
    assert "Source comparison" not in out


# --- is the outcome decided? ------------------------------------------------------------------


def test_a_decided_outcome_is_what_every_completion_gives() -> None:
    """Sampled partial cases on the shipped rules: when `dependence` finds nothing, every sampled
    completion of the unknown facts gives the same recommendation and partners; when it lists
    facts, they are unknown ones, and every sampled completion ends in one of the outcomes it
    lists. Both kinds of case must occur."""
    kb = load_knowledge_base()
    rng = random.Random(3)
    pool = list(sample_cases(kb, 300, seed=9))
    open_to_ask = [f.name for f in kb.facts if f.default is None]
    seen = {True: 0, False: 0}
    for case in sample_cases(kb, 80, seed=4):
        hidden = set(rng.sample(open_to_ask, rng.randint(1, 4)))
        known = {n: v for n, v in case.items() if n not in hidden}
        result = evaluate(kb, full_case(kb, known))
        pending = dependence(kb, result)
        seen[not pending.facts] += 1
        assert set(pending.facts) <= hidden, (known, pending)
        assert bool(pending.outcomes) == bool(pending.facts), (known, pending)
        possible = {(d.recommendation, d.combine_with) for d in pending.outcomes}
        for other in rng.sample(pool, 16):
            completion = evaluate(kb, full_case(kb, {**known, **{n: other[n] for n in hidden}}))
            outcome = (completion.recommendation, completion.combine_with)
            if pending.facts:
                assert outcome in possible, (known, other)
            else:
                assert outcome == (result.recommendation, result.combine_with), (known, other)
    assert seen[True] and seen[False], seen


def test_the_possible_outcomes_are_exactly_those_of_the_completions() -> None:
    """Sampled partial cases on the shipped rules, every completion run (one value per cell of
    each unknown fact, which is all the rules tell apart): the outcomes `dependence` lists are
    exactly theirs, none missing and none extra."""
    kb = load_knowledge_base()
    an = Analyzer(kb)
    rng = random.Random(5)
    open_to_ask = [f.name for f in kb.facts if f.default is None]
    checked = 0
    for case in sample_cases(kb, 60, seed=6):
        hidden = sorted(rng.sample(open_to_ask, rng.randint(1, 3)))
        known = {n: v for n, v in case.items() if n not in hidden}
        pending = dependence(kb, evaluate(kb, full_case(kb, known)))
        if not pending.facts:
            continue
        cells = [[cell.value for cell in an.cells[an.index[name]]] for name in hidden]
        reached = set()
        for values in product(*cells):
            done = evaluate(kb, full_case(kb, {**known, **dict(zip(hidden, values, strict=True))}))
            reached.add((done.recommendation, done.combine_with))
        assert reached == {(d.recommendation, d.combine_with) for d in pending.outcomes}, known
        checked += 1
    assert checked >= 10, checked


def test_a_consultation_stops_where_the_outcome_is_decided() -> None:
    """Where a consultation stops asking, recommend on the answers so far is decided."""
    from llm_advisor.engine.analysis.consultation import Consultation

    kb = load_knowledge_base()
    for case in sample_cases(kb, 15, seed=21):
        session = Consultation(kb)
        while (prompt := session.next_prompt()) is not None:
            session.answer_value(prompt.fact.name, case[prompt.fact.name])
        assert dependence(kb, session.result()).facts == (), case


def test_explain_says_when_the_outcome_is_provisional() -> None:
    args = ["explain", "--rules", str(KBS / "mini"), "--fact", "urgent=yes"]
    out = invoke(*args).stdout
    assert out.splitlines()[1] == "  Provisional: depends on size (unknown)"
    assert out.splitlines()[2].startswith("  Once size is known, the outcome is one of: ")
    data = json.loads(invoke(*args, "--json").stdout)
    assert (data["decided"], data["depends_on_facts"]) == (False, ["size"])
    completions = [
        json.loads(invoke(*args, "--fact", f"size={size}", "--json").stdout)
        for size in ("1k", "2M")
    ]
    assert data["possible_outcomes"] == [
        {"recommendation": c["recommendation"], "combine_with": c["combine_with"]}
        for c in completions
    ]
    assert all(c["decided"] and c["possible_outcomes"] == [] for c in completions)


def test_each_run_of_adjacent_bands_is_one_band() -> None:
    """Bands of a quantity that touch are read as one range; separate runs are listed."""
    kb = load_knowledge_base(None)
    fact = kb.fact("data_volume")

    def band(low: float | None, high: float | None) -> Candidate:
        return Candidate(fact.name, low or 0.0, band_label(fact, low, high), low, high)

    two_runs = (band(1, 2e5), band(1e9, 1e11), band(1e11, None))
    assert (
        value_range(fact, two_runs)
        == f"{band_label(fact, 1, 2e5)} or {band_label(fact, 1e9, None)}"
    )
    assert value_range(fact, (band(None, 1), band(1, 2e5))) == band_label(fact, None, 2e5)
    every = (band(None, 1), band(1, 2e5), band(2e5, 1e9), band(1e9, None))
    assert value_range(fact, every) == "any value"


def test_a_change_that_only_swaps_the_lead_says_so() -> None:
    """RAG + fine-tuning becoming fine-tuning + RAG is the same plan with another lead: the line
    says so, naming the new lead, and a line with another plan does not."""
    facts = [
        *("problem_type=both", "change_frequency=static", "labeled_examples=100"),
        *("data_volume=10B", "accuracy_need=high", "budget=$200k", "timeline=3mo"),
        *("ml_expertise=expert", "prompt_baseline=falls_short", "needs_citations=yes"),
    ]
    args = [x for fact in facts for x in ("--fact", fact)]
    data = json.loads(invoke("explain", *args, "--json").stdout)
    plan = {data["recommendation"], *data["combine_with"]}
    kb = load_knowledge_base(None)
    expected = {
        (
            kb.approach_name(cf["recommendation"]),
            {cf["recommendation"], *cf["combine_with"]} == plan,
        )
        for cf in data["counterfactuals"]["changes"]
    }
    assert {same for _, same in expected} == {True, False}
    lines = [line for line in what_if_lines(invoke("explain", *args).stdout) if "=>" in line]
    shown = set()
    for line in lines:
        outcome = line.split("=>", 1)[1].strip()
        lead = next(name for name, _ in expected if outcome.startswith(name))
        marked = outcome.endswith(f"(the same approaches, {lead} leading)")
        shown.add((lead, marked))
    assert shown == expected


def test_steps_of_two_facts_are_searched_when_every_one_fact_change_is_the_situation() -> None:
    """346 demonstrations, no baseline and no ML expertise over a 50B-token corpus: no single
    step changes the plan, but expertise with more demonstrations or a measured baseline does;
    explain lists those first."""
    facts = [
        *("problem_type=both", "change_frequency=yearly", "labeled_examples=346"),
        *("data_volume=50B", "accuracy_need=medium", "budget=84k", "timeline=5w"),
        *("needs_citations=no", "ml_expertise=none", "deployment=on_prem", "provenance=strict"),
    ]
    args = [x for fact in facts for x in ("--fact", fact)]
    changes = json.loads(invoke("explain", *args, "--json").stdout)["counterfactuals"]["changes"]
    single = [cf for cf in changes if len(cf["set"]) == 1]
    steps = [cf for cf in changes if cf["actionable"]]
    assert single and not any(cf["actionable"] for cf in single)
    assert steps and all(len(cf["set"]) == 2 for cf in steps)
    assert changes[: len(steps)] == steps
    assert any(
        {s["fact"] for s in cf["set"]} == {"ml_expertise", "prompt_baseline"} for cf in steps
    )
    assert all(len(cf["set"]) == 1 for cf in changes if not cf["actionable"])
