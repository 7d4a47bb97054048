"""Verification with the analysis (`engine.verify`): `check`, `check_rule_base` and `diff`, each
finding and each changed region confirmed by running inference. The shipped rule base is checked
(with a cross-check) through the command line in test_cli_check_diff.py."""

from __future__ import annotations

import itertools
import math
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm_advisor.engine import load_knowledge_base, recommend
from llm_advisor.engine.analysis.diagram import compile_diagram, load_diagram
from llm_advisor.engine.analysis.diff import Region, diff
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import Decision
from llm_advisor.engine.analysis.verification import Finding, check, check_rule_base, full_case
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.model import KnowledgeBase, Value

KBS = Path(__file__).parent / "kbs"
FLAWED = KBS / "flawed"

# Edits of small rule bases for `diff`: (rule base, file, text, replacement).
EDITS = {
    "mini-score": ("mini", "rules.yaml", "score: {fancy: 3}", "score: {fancy: 0}"),
    "layered-threshold": (
        "layered",
        "rules.yaml",
        "volume, at_least: 1M}",
        "volume, at_least: 500k}",
    ),
    "chain-exclusion": (
        "chain",
        "rules.yaml",
        "when: {fact: kind, is: z}",
        "when: {fact: kind, is: y}",
    ),
    "consult-threshold": ("consult", "rules.yaml", "timeline, below: 1mo}", "timeline, below: 2w}"),
    "layered-combination": ("layered", "rules.yaml", "combine: [mid, low]", "combine: [mid, high]"),
}


# --- helpers (also used by test_cli_check_diff.py) --------------------------------------------


def copy_kb(source: Path, target: Path, edit: tuple[str, str, str] | None = None) -> Path:
    """Copy a rule base directory, optionally replacing one text in one of its files."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    if edit is not None:
        name, old, new = edit
        path = target / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} should occur once in {name}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target


def outcome(kb: KnowledgeBase, known: dict[str, Value]) -> Decision:
    """Inference's decision on a fully specified case."""
    result = evaluate(kb, full_case(kb, known))
    return Decision(result.recommendation, result.combine_with)


def outcome_of_example(kb: KnowledgeBase, example: tuple[tuple[str, str], ...]) -> Decision:
    """Inference's decision on an example as the tools print it (values typed by people)."""
    result = evaluate(kb, make_case(kb, dict(example)))
    return Decision(result.recommendation, result.combine_with)


def cells_of(*kbs: KnowledgeBase) -> Analyzer:
    """An analyzer of the first rule base with the bands of all of them."""
    bands = {f.name: [t for kb in kbs for t in kb.thresholds(f.name)] for f in kbs[0].facts}
    return Analyzer(kbs[0], bands)


def every_cell(an: Analyzer) -> Iterator[tuple[dict[str, Value], dict[str, str]]]:
    """Every combination of cells: a representative case, and each fact's cell label."""
    names = [f.name for f in an.facts]
    for combo in itertools.product(*an.cells):
        yield (
            dict(zip(names, (cell.value for cell in combo), strict=True)),
            dict(zip(names, (cell.label for cell in combo), strict=True)),
        )


def labels_of(an: Analyzer, known: dict[str, Value]) -> dict[str, str]:
    """The label of the cell each value falls in."""
    return {name: an.cells[an.index[name]][an.cell_of(name, v)].label for name, v in known.items()}


def region_holds(region: Region, labels: dict[str, str]) -> bool:
    return all(labels[fact] in allowed for fact, allowed in region.conditions)


def findings_of(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


# --- check on the flawed rule base -------------------------------------------------------------


@pytest.fixture(scope="module")
def flawed() -> tuple[KnowledgeBase, list[Finding]]:
    kb = load_knowledge_base(FLAWED)
    return kb, check(kb, compile_diagram(kb))


def test_flawed_finds_every_kind(flawed: tuple[KnowledgeBase, list[Finding]]) -> None:
    _, findings = flawed
    kinds = {(f.level, f.kind, f.rule, f.location) for f in findings}
    assert ("error", "never-fires", "contradiction", "rules.yaml:15") in kinds
    assert ("error", "missing-because", "no-because", "rules.yaml:22") in kinds
    assert ("error", "missing-source", "no-because", "rules.yaml:22") in kinds
    assert ("warning", "derived-never-used", "lonely", "rules.yaml:26") in kinds
    assert ("warning", "no-effect", "lonely", "rules.yaml:26") in kinds
    assert ("warning", "never-recommended", None, "approaches.yaml:11") in kinds
    [excluded] = findings_of(findings, "all-excluded")
    assert excluded.level == "error"
    assert "blue-excludes-all (rules.yaml:8)" in excluded.message
    assert (excluded.rule, excluded.location) in {
        ("blue-excludes-all", "rules.yaml:8"),
        ("unused-loses", "rules.yaml:2"),
    }
    assert len(findings) == 7, findings
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=lambda level: level != "error"), "errors come first"


def test_flawed_findings_hold_under_inference(flawed: tuple[KnowledgeBase, list[Finding]]) -> None:
    """Run inference on every cell of the fact space and confirm each finding."""
    kb, findings = flawed
    [excluded] = findings_of(findings, "all-excluded")
    assert outcome_of_example(kb, excluded.example) == Decision(None, ())
    all_excluded = set()
    recommended = set()
    for known, labels in every_cell(Analyzer(kb)):
        result = evaluate(kb, full_case(kb, known))
        fired = {f.rule_id for f in result.firings}
        assert "contradiction" not in fired
        recommended.add(result.recommendation)
        if result.recommendation is None:
            all_excluded.add((labels["color"], labels["urgent"]))
    assert all_excluded == {("blue", "yes")}
    assert "unused" not in recommended


def test_no_effect_rule_can_be_removed_without_any_change(tmp_path: Path) -> None:
    """`lonely` changes no outcome: without it, `diff` finds nothing, nor does inference."""
    old = load_knowledge_base(FLAWED)
    text = (FLAWED / "rules.yaml").read_text(encoding="utf-8")
    lonely = text[text.index("  - id: lonely") :]
    new_dir = copy_kb(FLAWED, tmp_path / "new", ("rules.yaml", lonely, ""))
    new = load_knowledge_base(new_dir)
    assert "lonely" not in {r.id for r in new.rules}
    assert diff(old, new).changed == 0
    for known, _ in every_cell(cells_of(old, new)):
        assert outcome(old, known) == outcome(new, known)


def test_a_derived_fact_behind_advice_has_an_effect(tmp_path: Path) -> None:
    """`lonely` changes no outcome, but once advice tests what it derives (here through a
    second derived fact) it changes what is shown, and is not reported as without effect."""
    chain = (
        "  - id: lonely-next\n    title: Builds on lonely\n    when: {derived: lonely_fact}\n"
        "    then: {derive: next_fact}\n    because: x\n    source: test\n"
        "  - id: lonely-advice\n    title: Advice on the chain\n    when: {derived: next_fact}\n"
        "    then: {advise: Mind the chain.}\n    because: x\n    source: test\n"
    )
    text = (FLAWED / "rules.yaml").read_text(encoding="utf-8")
    kb_dir = copy_kb(FLAWED, tmp_path / "kb", ("rules.yaml", text, text + chain))
    kb = load_knowledge_base(kb_dir)
    no_effect = {f.rule for f in findings_of(check(kb, compile_diagram(kb)), "no-effect")}
    assert no_effect.isdisjoint({"lonely", "lonely-next", "lonely-advice"})


def test_clean_rule_bases_have_no_errors() -> None:
    for name in ("mini", "layered", "consult"):
        kb = load_knowledge_base(KBS / name)
        errors = [f for f in check(kb, compile_diagram(kb)) if f.level == "error"]
        assert errors == [], name


# --- the whole report: check, invariants, cross-check ------------------------------------------

_opened: list[str] | None = None
_hooked = False


def _record_open(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _opened is not None:
        _opened.append(str(args[0]))


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """The files opened (or tried) inside the block, as the interpreter's audit events tell.
    The hook is added on first use (an audit hook cannot be removed: it records only here)."""
    global _opened, _hooked
    if not _hooked:
        sys.addaudithook(_record_open)
        _hooked = True
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def test_report_carries_violated_invariants_as_errors_first_and_the_cross_check() -> None:
    kb = load_knowledge_base(KBS / "invariants")
    report = check_rule_base(kb, cross=20, seed=1)
    assert report.cross_checked == 20
    assert len(report.invariants.violated) == 5
    levels = [f.level for f in report.findings]
    assert levels == ["error"] * 5 + ["warning"], "errors come first"
    assert (report.errors, report.warnings) == (5, 1)
    for result in report.invariants.violated:
        assert result.example
        assert (
            Finding(
                "error",
                "invariant",
                f"invariant {result.invariant.id} violated ({result.invariant.title}): "
                f"{result.message}",
                rule=result.invariant.id,
                location=result.invariant.location,
                example=result.example,
            )
            in report.findings
        )
    [never] = [f for f in report.findings if f.rule == "middle-needs-text"]
    assert (never.location, never.message) == (
        "invariants.yaml:11",
        "invariant middle-needs-text violated (The middle approach is never suggested without"
        " text): outcome middle where its condition holds",
    )
    witness = recommend(kb, dict(never.example))  # it really breaks the invariant
    assert witness.case.get("text") == 0
    assert "middle" in {witness.recommendation, *witness.combine_with}


def test_report_reads_the_cached_diagram_once(tmp_path: Path) -> None:
    """`check`, the proof and the cross-check share one loaded diagram: the cache entry is
    opened once per report, when it is written (cold) as when it is read (warm)."""
    kb = load_knowledge_base(KBS / "layered")  # the proof can use its diagram: no own bands
    for _ in ("cold", "warm"):
        with opened_files() as opened:
            report = check_rule_base(kb, cross=5, cache_dir=tmp_path)
        entries = [p for p in opened if Path(p).name.startswith("diagram-")]
        assert len(entries) == 1, entries
        assert Path(entries[0]).parent == tmp_path
        assert Path(entries[0]).exists()
        assert report.errors == 0


# --- diff --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EDITS))
def test_diff_matches_inference_on_every_cell(name: str, tmp_path: Path) -> None:
    """Every changed cell lies in exactly one region with the right outcomes; every region's
    example changes as the region says; the counts add up."""
    base, file, text, replacement = EDITS[name]
    old_dir = copy_kb(KBS / base, tmp_path / "old")
    new_dir = copy_kb(KBS / base, tmp_path / "new", (file, text, replacement))
    old, new = load_knowledge_base(old_dir), load_knowledge_base(new_dir)
    result = diff(old, new)

    an = cells_of(old, new)
    assert result.total == math.prod(len(cells) for cells in an.cells)
    assert result.regions
    assert result.changed == sum(r.size for r in result.regions)
    sizes = [r.size for r in result.regions]
    assert sizes == sorted(sizes, reverse=True), "the largest regions come first"
    for region in result.regions:
        assert region.old != region.new
        assert outcome_of_example(old, region.example) == region.old
        assert outcome_of_example(new, region.example) == region.new
        example = make_case(old, dict(region.example)).known()
        assert region_holds(region, labels_of(an, example)), region

    changed = 0
    for known, labels in every_cell(an):
        before, after = outcome(old, known), outcome(new, known)
        inside = [r for r in result.regions if region_holds(r, labels)]
        if before == after:
            assert inside == [], (known, inside)
            continue
        changed += 1
        assert len(inside) == 1, (known, inside)
        assert (inside[0].old, inside[0].new) == (before, after)
    assert changed == result.changed


def test_diff_of_identical_rule_bases(tmp_path: Path) -> None:
    for name in ("mini", "chain"):
        old = load_knowledge_base(KBS / name)
        new = load_knowledge_base(copy_kb(KBS / name, tmp_path / name))
        assert new.fingerprint == old.fingerprint
        result = diff(old, new)
        assert (result.changed, result.regions) == (0, ())
        assert result.total == math.prod(len(cells) for cells in Analyzer(old).cells)


EXTRA_FACT = "  - name: region\n    type: enum\n    values: [eu, us]\n    question: Where?\n"
URGENT = "  - name: urgent\n    type: bool\n    question: Is it urgent?\n"
COLORS = "[red, green, blue]"


def edited_facts(tmp_path: Path, edits: list[tuple[str, str]]) -> Path:
    """A copy of the mini rule base with texts of its facts.yaml replaced (each occurs once)."""
    new = copy_kb(KBS / "mini", tmp_path / "edited")
    facts = (new / "facts.yaml").read_text(encoding="utf-8")
    for before, after in edits:
        assert facts.count(before) == 1
        facts = facts.replace(before, after)
    (new / "facts.yaml").write_text(facts, encoding="utf-8")
    return new


@pytest.mark.parametrize(
    ("edits", "item", "named"),
    [
        ([(COLORS, "[red, blue, green]")], "color", "fact color: values in another order"),
        ([(COLORS, "[blue, red, pink]")], "color", "fact color: values in another order"),
        (
            [("unit: tokens", "unit: count")],
            "size",
            "fact size: unit differs (old: tokens; new: count)",
        ),
    ],
)
def test_diff_names_the_first_difference_it_cannot_compare(
    edits: list[tuple[str, str]], item: str, named: str, tmp_path: Path
) -> None:
    """The refusal names the fact and what differs, so that a reviewer need not compare the two
    facts.yaml files by eye: a changed type or unit, or an enum whose shared values are
    reordered (it used to name a new value or fact that `diff` now compares across; a changed
    type is refused through the command line in test_cli_check_diff.py)."""
    with pytest.raises(InputError) as refused:
        diff(load_knowledge_base(KBS / "mini"), load_knowledge_base(edited_facts(tmp_path, edits)))
    message = str(refused.value)
    assert message == f"the two rule bases have different fact schemas (facts.yaml): {named}"
    assert refused.value.item == item


@pytest.mark.parametrize(
    ("edits", "swap", "named", "cases"),
    [
        ([(COLORS, "[red, green, blue, pink]")], False, ["color: pink only in the new"], 16),
        (
            [(COLORS, "[red, pink, blue]")],
            False,
            ["color: pink only in the new", "color: green only in the old"],
            16,
        ),
        ([("facts:\n", f"facts:\n{EXTRA_FACT}")], False, ["region only in the new"], 24),
        ([("facts:\n", f"facts:\n{EXTRA_FACT}")], True, ["region only in the old"], 24),
        (
            [(URGENT, ""), ("facts:\n", f"facts:\n{URGENT}")],
            False,
            [],
            12,
        ),
    ],
)
def test_diff_compares_across_new_or_dropped_facts_and_values(
    edits: list[tuple[str, str]], swap: bool, named: list[str], cases: int, tmp_path: Path
) -> None:
    """A fact or value only one rule base has is compared across (over the cases of both
    schemas) and named, facts listed in another order too (not named: no outcome depends on
    it); none of these edits changes an outcome, since no rule tests what they add."""
    old, new = load_knowledge_base(KBS / "mini"), load_knowledge_base(edited_facts(tmp_path, edits))
    if swap:
        old, new = new, old
    result = diff(old, new, tmp_path / "cache")
    assert (result.total, result.changed, result.regions) == (cases, 0, ())
    assert [what for _, what in result.schema] == [f"fact {what} rule base" for what in named]
    for kb in (old, new):  # a base compared over a wider schema is cached under its own name
        assert load_diagram(kb, tmp_path / "cache").facts == kb.fact_names
