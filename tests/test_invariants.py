"""Declared invariants: loading, proof over the whole case space, witnesses, and the CLI.

`tests/kbs/invariants` violates each of its four invariants; every witness `rules check`
prints is run through inference to confirm that it really breaks the property.
`tests/kbs/invariants_ok` is the same domain with rules that keep them all.
"""

from __future__ import annotations

import json
import re
from itertools import product
from pathlib import Path

import pytest
from cli_helpers import bad_input
from click.testing import CliRunner, Result
from test_verify import copy_kb

from llm_advisor.cli.main import cli
from llm_advisor.engine import load_knowledge_base, recommend
from llm_advisor.engine.analysis.proof import InvariantReport, prove_invariants
from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.inference.run import Result as Inferred
from llm_advisor.engine.language.effects import STANCES, Advise
from llm_advisor.engine.language.loader import default_rules_dir
from llm_advisor.engine.language.model import KnowledgeBase

KBS = Path(__file__).parent / "kbs"
BROKEN = KBS / "invariants"
FIXED = KBS / "invariants_ok"


def check(rules_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["rules", "check", "--rules", str(rules_dir), *args])


def witnesses(result: Result) -> dict[str, dict[str, str]]:
    """Invariant id -> the example case printed under its violation."""
    found: dict[str, dict[str, str]] = {}
    lines = result.output.splitlines()
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if "[invariant]" in line:
            ident = line.split("invariant ", 1)[1].split(" ", 1)[0]
            assert following.strip().startswith("example: "), following
            pairs = following.strip().removeprefix("example: ").split(", ")
            found[ident] = dict(p.split("=", 1) for p in pairs)
    return found


def test_each_violated_invariant_prints_one_witness_that_really_violates_it() -> None:
    result = check(BROKEN)
    assert result.exit_code == 1, result.output
    found = witnesses(result)
    assert set(found) == {
        "partners-positive",
        "advice-agrees",
        "level-no-flip-back",
        "middle-needs-text",
        "middle-for-high-level-text",
    }
    assert "violations: 5" in result.output
    kb = load_knowledge_base(BROKEN)

    partner = recommend(kb, found["partners-positive"])
    scores = {r.approach: r.score for r in partner.ranking}
    assert any(scores[p] < 1 for p in partner.combine_with)

    advice = recommend(kb, found["advice-agrees"])
    chosen = {advice.recommendation, *advice.combine_with}
    ruled_out = {
        a
        for firing in advice.firings
        for e in firing.effects
        if hasattr(e, "rules_out")
        for a in e.rules_out
    }
    assert chosen & ruled_out

    flips = [
        recommend(kb, {**found["level-no-flip-back"], "level": level}).recommendation
        for level in ("low", "mid", "high")
    ]
    assert flips[0] == flips[2] != flips[1]

    never = recommend(kb, found["middle-needs-text"])
    assert never.case.get("text") == 0
    assert "middle" in {never.recommendation, *never.combine_with}

    always = recommend(kb, found["middle-for-high-level-text"])
    assert always.case.get("level") == "high" and (always.case.get("text") or 0) >= 1
    assert "middle" not in {always.recommendation, *always.combine_with}


def advice_agrees(res: Inferred) -> bool:
    """The advice shown with this outcome neither rules out nor fails to name what it favours."""
    chosen = set(res.plan)
    shown = [e for f in res.firings for e in f.effects if isinstance(e, Advise) and e.shown(chosen)]
    return all(not chosen & set(e.rules_out) for e in shown) and all(
        not e.favours or chosen & set(e.favours) for e in shown
    )


def test_advice_shown_with_an_approach_appears_only_with_it() -> None:
    kb = load_knowledge_base(FIXED)
    tidy = "Keep the middle approach tidy."
    assert tidy in recommend(kb, {"level": "mid", "text": "10", "urgent": "no"}).advice
    cheap_alone = recommend(kb, {"level": "low", "text": "0", "urgent": "no"})
    assert cheap_alone.recommendation == "cheap" and not cheap_alone.combine_with
    assert tidy not in cheap_alone.advice


def test_advice_shown_without_an_approach_appears_only_without_it(tmp_path: Path) -> None:
    """Advice for a plan without `middle` may argue against it: the proof and inference agree
    that it is shown only where `middle` is not in the plan, and without `shown_without` the
    same advice contradicts the outcome."""
    stance = "favours: [middle], shown_with: [middle]"
    kb_dir = copy_kb(
        FIXED,
        tmp_path / "kb",
        ("rules.yaml", stance, "rules_out: [middle], shown_without: [middle]"),
    )
    kb = load_knowledge_base(kb_dir)
    proof = {r.invariant.id: r.holds for r in prove_invariants(kb).results}
    assert proof["advice-agrees"]
    tidy = "Keep the middle approach tidy."
    with_middle = recommend(kb, {"level": "mid", "text": "10", "urgent": "no"})
    assert "middle" in with_middle.plan and tidy not in with_middle.advice
    cheap_alone = recommend(kb, {"level": "low", "text": "0", "urgent": "no"})
    assert cheap_alone.plan == ("cheap",) and tidy in cheap_alone.advice
    unguarded = load_knowledge_base(
        copy_kb(FIXED, tmp_path / "kb2", ("rules.yaml", stance, "rules_out: [middle]"))
    )
    proof = {r.invariant.id: r.holds for r in prove_invariants(unguarded).results}
    assert not proof["advice-agrees"]


def test_the_proof_is_exact_on_every_case_of_a_small_rule_base() -> None:
    """Brute force over every case agrees with the proof, invariant by invariant."""
    for directory in (BROKEN, FIXED):
        kb = load_knowledge_base(directory)
        proof = {r.invariant.id: r.holds for r in prove_invariants(kb).results}
        texts = ("0", "10", "1M")  # one value in each band of `text`
        outcomes = {
            (level, text, urgent): recommend(kb, {"level": level, "text": text, "urgent": urgent})
            for level, text, urgent in product(("low", "mid", "high"), texts, ("yes", "no"))
        }
        bound = 1 if directory == BROKEN else 0
        partners_ok = all(
            {r.approach: r.score for r in res.ranking}[p] >= bound
            for res in outcomes.values()
            for p in res.combine_with
        )
        advice_ok = all(advice_agrees(res) for res in outcomes.values())
        monotone = True
        for text, urgent in product(texts, ("yes", "no")):
            seq = [outcomes[level, text, urgent].recommendation for level in ("low", "mid", "high")]
            monotone &= not (seq[0] == seq[2] != seq[1])
        never_ok = all(
            "middle" not in res.plan for (_, text, _), res in outcomes.items() if text == "0"
        )
        always_ok = all(
            "middle" in res.plan
            for (level, text, _), res in outcomes.items()
            if level == "high" and text != "0"
        )
        assert proof == {
            "partners-positive": partners_ok,
            "advice-agrees": advice_ok,
            "level-no-flip-back": monotone,
            "middle-needs-text": never_ok,
            "middle-for-high-level-text": always_ok,
        }, directory.name


def test_a_rule_base_that_keeps_its_invariants_passes() -> None:
    result = check(FIXED)
    assert result.exit_code == 0, result.output
    assert "5 invariants proven over all 18 cases, violations: 0" in result.output


def test_a_rule_base_that_breaks_its_invariants_does_not_say_proven() -> None:
    result = check(BROKEN)
    assert result.exit_code == 1, result.output
    assert "5 invariants checked over all 18 cases, violations: 5" in result.output
    assert "proven" not in result.output.splitlines()[-1]


def test_json_reports_the_figures() -> None:
    result = check(BROKEN, "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["invariants"]["cases"] == 18
    assert data["invariants"]["violated"] == 5
    kinds = [f for f in data["findings"] if f["kind"] == "invariant"]
    assert all(f["example"] and f["location"].startswith("invariants.yaml:") for f in kinds)


@pytest.mark.parametrize(
    ("old", "new", "item"),
    [
        ("partners_at_least: 1", "partners_at_least: lots", "partners_at_least"),
        ("no_flip_back: level", "no_flip_back: urgent", "no_flip_back"),
        ("no_flip_back: level", "no_flip_back: colour", "no_flip_back"),
        ("approach: middle\n      when: {fact", "approach: fancy\n      when: {fact", "fancy"),
        ("advice_agrees: true", "advice_agrees: true\n    no_flip_back: level", "exactly one"),
        ("advice_agrees: true", "advice_agree: true", "advice_agree"),
    ],
)
def test_bad_invariants_are_rejected_with_file_and_line(
    tmp_path: Path, old: str, new: str, item: str
) -> None:
    target = copy_kb(BROKEN, tmp_path / "kb", ("invariants.yaml", old, new))
    with pytest.raises(RuleError) as err:
        load_knowledge_base(target)
    assert err.value.file == "invariants.yaml"
    assert item in str(err.value)
    bad_input(check(target), "invariants.yaml:")


def test_an_invariant_id_is_not_a_rule_id(tmp_path: Path) -> None:
    """`rules show ID` shows a rule or an invariant, so one id cannot name both."""
    target = copy_kb(
        FIXED, tmp_path / "kb", ("invariants.yaml", "id: level-no-flip-back", "id: urgent-pair")
    )
    bad_input(check(target), "invariants.yaml:8:", "'urgent-pair'", "rules.yaml:17")


def test_advice_stance_names_known_approaches(tmp_path: Path) -> None:
    target = copy_kb(
        BROKEN, tmp_path / "kb", ("rules.yaml", "rules_out: [cheap]", "rules_out: [nope]")
    )
    bad_input(check(target), "rules.yaml:", "nope")
    target = copy_kb(
        FIXED, tmp_path / "kb2", ("rules.yaml", "shown_with: [middle]", "shown_with: [nope]")
    )
    bad_input(check(target), "rules.yaml:", "nope")
    bad = "rules_out: [middle], shown_with: [middle]"
    target = copy_kb(
        FIXED, tmp_path / "kb3", ("rules.yaml", "favours: [middle], shown_with: [middle]", bad)
    )
    bad_input(check(target), "rules.yaml:40:", "shown only with middle")
    for stance in ("shown_with: [middle]", "favours: [middle]"):
        bad = f"{stance}, shown_without: [middle]"
        target = copy_kb(
            FIXED,
            tmp_path / f"kb-{stance[:5]}",
            ("rules.yaml", "favours: [middle], shown_with: [middle]", bad),
        )
        bad_input(check(target), "rules.yaml:40:", "shown only without middle")


@pytest.mark.parametrize("stance", STANCES)
def test_an_empty_advice_stance_is_refused(tmp_path: Path, stance: str) -> None:
    """`shown_without: []` would say nothing while reading as if it said something."""
    edit = ("rules.yaml", "favours: [middle], shown_with: [middle]", f"{stance}: []")
    bad_input(check(copy_kb(FIXED, tmp_path / "kb", edit)), "rules.yaml:40:", repr(stance))


@pytest.fixture(scope="module")
def shipped_proof() -> InvariantReport:
    return prove_invariants(load_knowledge_base())


def test_the_shipped_rule_base_declares_and_keeps_its_invariants(
    shipped_proof: InvariantReport,
) -> None:
    kinds = {r.invariant.kind for r in shipped_proof.results}
    assert kinds == {"partners_at_least", "advice_agrees", "no_flip_back", "never", "always"}
    assert {
        r.invariant.fact for r in shipped_proof.results if r.invariant.kind == "no_flip_back"
    } == {
        "accuracy_need",
        "budget",
        "timeline",
    }
    assert [r.invariant.id for r in shipped_proof.violated] == []
    kb = load_knowledge_base()
    cells = 1
    for fact in kb.facts:
        cells *= len(fact.domain) if fact.type != "quantity" else len(kb.thresholds(fact.name)) + 1
    assert shipped_proof.cases == cells


def test_the_published_reasoning_catches_the_rules_it_was_written_against(
    tmp_path: Path,
) -> None:
    """Pretraining justified by an unfamiliar domain alone, and knowledge churn counted for a
    behaviour-only problem, break the shipped invariants: facts are retrieved, not pretrained
    (Ovadia 2023), and retrieval does not fix behaviour (OpenAI "Optimizing LLM accuracy")."""
    target = copy_kb(
        default_rules_dir(),
        tmp_path / "kb",
        (
            "derived.yaml",
            "        - {derived: behavior_gap}\n        - {fact: domain_distance, is: unfamiliar}\n",
            "        - {fact: domain_distance, is: unfamiliar}\n",
        ),
    )
    dimensions = target / "dimensions.yaml"
    text = dimensions.read_text(encoding="utf-8")
    churn = re.compile(
        r"(        - \{(?:derived: knowledge_fast_moving|fact: change_frequency, is: \w+)\}\n)"
        r"        - \{derived: knowledge_gap\}\n"
    )
    assert len(churn.findall(text)) == 3  # the three rules on daily and real-time changes
    dimensions.write_text(churn.sub(r"\1", text), encoding="utf-8")
    kb = load_knowledge_base(target)
    found = proved_witnesses(kb)
    assert {"no-own-model-for-facts", "no-retrieval-for-behaviour"} <= set(found)
    own = recommend(kb, found["no-own-model-for-facts"])
    assert own.case.get("problem_type") == "knowledge"
    assert "from_scratch" in {own.recommendation, *own.combine_with}
    rag = recommend(kb, found["no-retrieval-for-behaviour"])
    assert (rag.case.get("problem_type"), rag.case.get("needs_citations")) == ("behavior", False)
    assert "rag" in {rag.recommendation, *rag.combine_with}


def broken_by(
    tmp_path: Path, edit: tuple[str, str, str], invariant: str
) -> tuple[Inferred, dict[str, str]]:
    """The shipped rule base with one text edited, which the proof must find breaking
    `invariant`: inference on its witness, with the edited rules, and the witness."""
    kb = load_knowledge_base(copy_kb(default_rules_dir(), tmp_path / "kb", edit))
    case = proved_witnesses(kb)[invariant]
    return recommend(kb, case), case


def proved_witnesses(kb: KnowledgeBase) -> dict[str, dict[str, str]]:
    """Invariant id -> the witness case of each invariant the proof finds violated: what `rules
    check` prints (its printing is tested on the small rule bases above, and this skips the
    rest of its checks, which take most of its time on the shipped rule base)."""
    return {r.invariant.id: dict(r.example) for r in prove_invariants(kb).violated}


def test_retrieval_augmented_fine_tuning_also_waits_for_a_baseline(tmp_path: Path) -> None:
    """RAFT is a fine-tune like any other: without its gate, test-scale demonstrations and no
    measured baseline put fine-tuning into a plan (OpenAI "Optimizing LLM accuracy")."""
    gate = "        - {derived: finetune_ready}\n        - {derived: tuning_may_start}\n"
    edit = ("derived.yaml", gate, "        - {derived: finetune_ready}\n")
    raft, case = broken_by(tmp_path, edit, "baseline-before-tuning-on-pairs")
    assert "fine_tuning" in {raft.recommendation, *raft.combine_with}
    assert "raft-for-noisy-retrieval" in {f.rule_id for f in raft.firings}
    assert raft.case.get("prompt_baseline") == "untried"
    assert float(raft.case.get("labeled_examples") or 0) < 500
    shipped = recommend(load_knowledge_base(), case)
    assert "fine_tuning" not in {shipped.recommendation, *shipped.combine_with}


def test_two_gaps_keep_retrieval_for_facts_beyond_the_prompt_under_any_budget(
    tmp_path: Path,
) -> None:
    """With a measured baseline that falls short, a deadline of days or a shoestring budget no
    longer drops retrieval from a two-gap plan: without it, facts too large for any prompt are
    served by nothing (Anthropic contextual retrieval; Gekhman et al. 2024)."""
    guards = "        - {not: {derived: tight_deadline}}\n        - {not: {derived: shoestring_budget}}\n"
    anchor = "        - {not: {derived: corpus_for_the_prompt}}\n"  # both-gaps-combine's
    edit = ("combinations.yaml", anchor, guards + anchor)
    guarded, case = broken_by(tmp_path, edit, "facts-beyond-the-prompt-are-retrieved")
    assert guarded.case.get("problem_type") == "both" and "rag" not in guarded.plan
    assert guarded.case.get("prompt_baseline") == "falls_short"
    assert "rag" in recommend(load_knowledge_base(), case).plan


def test_a_measured_baseline_that_falls_short_is_not_prompted_again(tmp_path: Path) -> None:
    """'Modest accuracy need - start with the cheapest approach' counted after the cheapest
    approach was measured and fell short puts the prompt back into a plan that has the
    demonstrations, a way to tune and a month (OpenAI fine-tuning guide: fine-tune what a
    measured prompt baseline cannot fix)."""
    guarded = (
        "        - {derived: baseline_untried}\n    then:\n      score: {prompt_engineering: 2}\n"
    )
    edit = ("dimensions.yaml", guarded, "    then:\n      score: {prompt_engineering: 2}\n")
    unguarded, case = broken_by(tmp_path, edit, "tuning-once-the-baseline-falls-short")
    assert unguarded.case.get("prompt_baseline") == "falls_short"
    assert "prompt_engineering" in unguarded.plan
    assert "accuracy-modest-need" in {f.rule_id for f in unguarded.firings}
    shipped = recommend(load_knowledge_base(), case)
    assert "prompt_engineering" not in shipped.plan
    assert shipped.recommendation == "fine_tuning"


def test_continued_pretraining_also_waits_for_a_baseline(tmp_path: Path) -> None:
    """Continued pretraining is a tuning run like any other: without its gate, a raw corpus in a
    domain the model mostly knows puts a fine-tune into a plan before any prompt baseline was
    measured (Azure fine-tuning considerations); only continued pretraining on an unfamiliar
    language, which prompting cannot teach, is spared the wait."""
    gate = (
        "        - any:\n"
        "            - {not: {derived: baseline_untried}}\n"
        "            - {fact: domain_distance, is: unfamiliar}\n"
        "    then: {derive: continued_pretraining_candidate}\n"
    )
    edit = ("derived.yaml", gate, "    then: {derive: continued_pretraining_candidate}\n")
    ungated, case = broken_by(tmp_path, edit, "baseline-before-tuning-on-pairs")
    assert "fine_tuning" in ungated.plan and "continued_pretraining_candidate" in ungated.derived
    assert ungated.case.get("prompt_baseline") == "untried"
    assert ungated.case.get("domain_distance") == "specialized"
    shipped = recommend(load_knowledge_base(), case)
    assert "fine_tuning" not in shipped.plan


def test_the_shipped_rule_base_states_the_published_reasoning(
    shipped_proof: InvariantReport,
) -> None:
    never = {r.invariant.id for r in shipped_proof.results if r.invariant.kind == "never"}
    assert {
        "no-own-model-for-facts",
        "no-own-model-near-web-text",
        "no-retrieval-for-behaviour",
        "no-tuning-on-a-handful-of-pairs",
        "small-corpus-in-the-prompt",
        "baseline-before-tuning-on-pairs",
        "tuning-once-the-baseline-falls-short",
        "no-tuning-without-hands",
    } <= never
    always = {r.invariant.id for r in shipped_proof.results if r.invariant.kind == "always"}
    assert {
        "facts-beyond-the-prompt-are-retrieved",
        "cited-answers-on-own-hardware-are-retrieved",
    } <= always
