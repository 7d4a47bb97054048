"""`llm-advisor rules check` and `llm-advisor rules diff` on the command line: findings with rule
ids and `file:line`, exit codes, the JSON shapes, and changed regions confirmed by `recommend`."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import bad_input
from click.testing import CliRunner, Result
from test_verify import EDITS, FLAWED, KBS, cells_of, copy_kb, every_cell, outcome

from llm_advisor.cli.main import cli
from llm_advisor.engine import load_knowledge_base
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case

ROOT = Path(__file__).resolve().parent.parent
MINI = KBS / "mini"
FINDING_LINE = re.compile(r"^\w+\.yaml:\d+: (error|warning): .+ \[[a-z-]+\]$")
FINDING_KEYS = {"level", "kind", "message", "rule", "location", "example"}
# A rule that only fires in a narrow region of the shipped rule base's fact space.
NARROW_RULE = """\
rules:
  - id: narrow-test-rule
    title: A narrow rule added for a diff test
    when:
      all:
        - {{fact: provenance, is: strict}}
        - {{fact: deployment, is: on_prem}}
        - {{fact: request_volume, is: high}}
        - {{fact: problem_type, is: behavior}}
        - {{fact: accuracy_need, is: low}}
    then: {{score: {{prompt_engineering: 50}}}}
    because: Only for testing.
    source: {source}
"""
NARROW_CONDITIONS = {
    "provenance": ["strict"],
    "deployment": ["on_prem"],
    "request_volume": ["high"],
    "problem_type": ["behavior"],
    "accuracy_need": ["low"],
}


def rules(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["rules", *map(str, args)])


def recommend(rules_dir: Path | None, facts: dict[str, str]) -> tuple[str | None, list[str]]:
    """`recommend --json` on one rule base: the recommendation and its partners."""
    argv = ["recommend", "--json", "--no-audit"]
    if rules_dir is not None:
        argv += ["--rules", str(rules_dir)]
    for name, value in facts.items():
        argv += ["--fact", f"{name}={value}"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code in (0, 1), result.output  # 1: every approach excluded
    data = json.loads(result.stdout)
    return data["recommendation"], data["combine_with"]


def side(change: dict[str, Any], which: str) -> tuple[str | None, list[str]]:
    return change[which]["recommendation"], change[which]["combine_with"]


# --- rules check --------------------------------------------------------------------------------


def test_check_flawed_reports_every_kind_with_rule_and_location() -> None:
    result = rules("check", "--rules", FLAWED)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    for line in (
        "rules.yaml:15: error: rule contradiction can never fire [never-fires]",
        "rules.yaml:22: error: rule no-because has no 'because' [missing-because]",
        "rules.yaml:22: error: rule no-because cites no 'source' [missing-source]",
        "approaches.yaml:11: warning: approach unused is never recommended [never-recommended]",
        "rules.yaml:26: warning: rule lonely derives 'lonely_fact', which no rule tests"
        " [derived-never-used]",
        "rules.yaml:26: warning: rule lonely never changes any outcome [no-effect]",
    ):
        assert line in lines, result.stdout
    [excluded] = [i for i, line in enumerate(lines) if line.endswith("[all-excluded]")]
    assert (
        "error: every approach is excluded when color in {blue}; urgent in {yes}"
        in (lines[excluded])
    )
    assert "blue-excludes-all (rules.yaml:8)" in lines[excluded]
    assert lines[excluded + 1].startswith("    example: ")
    assert "color=blue, urgent=yes" in lines[excluded + 1]
    findings = [line for line in lines if not line.startswith("    ")][:-1]
    assert len(findings) == 7
    for line in findings:
        assert FINDING_LINE.match(line), line
    assert lines[-1] == "5 rules checked: 4 errors, 3 warnings"


def test_check_flawed_json() -> None:
    result = rules("check", "--rules", FLAWED, "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "fingerprint",
        "errors",
        "warnings",
        "cross_checked",
        "invariants",
        "findings",
    }
    assert data["invariants"]["declared"] == 0  # the flawed rule base declares none
    assert data["fingerprint"] == load_knowledge_base(FLAWED).fingerprint
    assert (data["errors"], data["warnings"], data["cross_checked"]) == (4, 3, 0)
    for finding in data["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["location"] is not None, finding
    by_kind = {(f["kind"], f["rule"]): f for f in data["findings"]}
    assert set(by_kind) >= {
        ("never-fires", "contradiction"),
        ("missing-because", "no-because"),
        ("missing-source", "no-because"),
        ("never-recommended", None),
        ("derived-never-used", "lonely"),
        ("no-effect", "lonely"),
    }
    assert by_kind["never-fires", "contradiction"]["location"] == "rules.yaml:15"
    [excluded] = [f for f in data["findings"] if f["kind"] == "all-excluded"]
    assert excluded["level"] == "error"
    assert excluded["rule"] in {"blue-excludes-all", "unused-loses"}
    # The example really excludes every approach.
    assert recommend(FLAWED, excluded["example"]) == (None, [])


def test_check_shipped_rule_base_with_cross_check() -> None:
    result = rules("check", "--cross-check", "500", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["errors"] == 0
    assert data["cross_checked"] == 500
    assert [f for f in data["findings"] if f["level"] == "error"] == []


@pytest.mark.parametrize("count", ["1000001", "99999999999999999999"])
def test_check_refuses_a_cross_check_of_hours(count: str) -> None:
    """A typo such as an extra digit or two is refused at once rather than run for hours."""
    bad_input(rules("check", "--rules", KBS / "layered", "--cross-check", count), "--cross-check")


def test_check_clean_rule_base_text() -> None:
    result = rules("check", "--rules", KBS / "layered", "--cross-check", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "10 rules checked: 0 errors, 0 warnings; inference and diagram compared on 50 sampled cases"
    )


# --- rules diff ---------------------------------------------------------------------------------


def test_diff_text(tmp_path: Path) -> None:
    _, file, text, replacement = EDITS["mini-score"]
    old = copy_kb(MINI, tmp_path / "old")
    new = copy_kb(MINI, tmp_path / "new", (file, text, replacement))
    result = rules("diff", old, new)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "2 of 12 cases (16.67%) change outcome, in 1 region",
        "  fancy + cheap -> cheap + fancy  (2 cases) when size in {≥ 1M}; color in {red, green};"
        " urgent in {yes}",
        "      e.g. size=1M, color=red, urgent=yes",
    ]


@pytest.mark.parametrize("name", sorted(EDITS))
def test_diff_json_examples_are_confirmed_by_recommend(name: str, tmp_path: Path) -> None:
    base, file, text, replacement = EDITS[name]
    old = copy_kb(KBS / base, tmp_path / "old")
    new = copy_kb(KBS / base, tmp_path / "new", (file, text, replacement))
    result = rules("diff", old, new, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "old",
        "new",
        "cases",
        "changed_cases",
        "regions",
        "schema_differences",
        "changes",
    }
    assert data["schema_differences"] == []
    assert data["old"] == load_knowledge_base(old).fingerprint
    assert data["new"] == load_knowledge_base(new).fingerprint
    assert data["regions"] == len(data["changes"]) > 0
    assert data["changed_cases"] == sum(change["cases"] for change in data["changes"])
    assert 0 < data["changed_cases"] <= data["cases"]
    for change in data["changes"]:
        assert set(change) == {"conditions", "cases", "old", "new", "example"}
        assert side(change, "old") != side(change, "new")
        assert recommend(old, change["example"]) == side(change, "old")
        assert recommend(new, change["example"]) == side(change, "new")


def test_diff_limits_the_regions_shown(tmp_path: Path) -> None:
    base, file, text, replacement = EDITS["chain-exclusion"]
    old = copy_kb(KBS / base, tmp_path / "old")
    new = copy_kb(KBS / base, tmp_path / "new", (file, text, replacement))
    result = rules("diff", old, new, "--examples", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("in 8 regions")
    assert sum(line.startswith("      e.g. ") for line in lines) == 3
    assert lines[-1] == "  ... and 5 more regions (--examples, --json)"


REGION_FACT = (
    "facts.yaml",
    "    short: Regulated data\n",
    "    short: Regulated data\n  - name: region\n    type: enum\n"
    "    values: [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13]\n"
    "    question: Which region?\n    short: Region\n",
)


def test_diff_numbers_have_thousands_separators(tmp_path: Path) -> None:
    """Every count in the text has separators, as `rules check` and the region lines do;
    --json keeps them numbers."""
    old = copy_kb(KBS / "wide", tmp_path / "old", REGION_FACT)
    new = copy_kb(KBS / "wide", tmp_path / "new", REGION_FACT)
    rules_file = new / "rules.yaml"
    text = rules_file.read_text(encoding="utf-8")
    edited = text.replace("score: {alpha: 1, beta: -1}", "score: {alpha: 9, beta: -1}", 1)
    rules_file.write_text(edited, encoding="utf-8")
    result = rules("diff", old, new, "--examples", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "1,131 of 10,400 cases (10.88%) change outcome, in 29 regions"
    # The largest region first.
    assert lines[1].startswith("  delta -> alpha  (104 cases) when domain in {legal}")
    data = json.loads(rules("diff", old, new, "--json").stdout)
    assert (data["changed_cases"], data["cases"], data["regions"]) == (1131, 10400, 29)


def test_diff_of_identical_copies(tmp_path: Path) -> None:
    old = copy_kb(MINI, tmp_path / "old")
    new = copy_kb(MINI, tmp_path / "new")
    result = rules("diff", old, new)
    assert result.exit_code == 0, result.output
    assert result.stdout == "0 of 12 cases (0.00%) change outcome, in 0 regions\n"
    data = json.loads(rules("diff", old, new, "--json").stdout)
    assert (data["changed_cases"], data["regions"], data["changes"]) == (0, 0, [])


def test_diff_of_the_shipped_rule_base_with_a_narrow_rule_added(tmp_path: Path) -> None:
    """A realistic edit of the shipped rule base, through the real command line: the changes lie
    where the new rule fires, and each example is confirmed by inference on both bases."""
    kb = load_knowledge_base()
    old = copy_kb(Path(kb.directory), tmp_path / "old")
    new = copy_kb(Path(kb.directory), tmp_path / "new")
    (new / "zz_narrow.yaml").write_text(NARROW_RULE.format(source=kb.sources[0].key))
    argv = [sys.executable, "-m", "llm_advisor", "rules", "diff", str(old), str(new), "--json"]
    try:
        done = subprocess.run(
            argv, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("`rules diff` took more than 60 s on the shipped rule base")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["changed_cases"] > 0
    assert data["changed_cases"] <= data["cases"] // 3 // 2 // 2 // 2 // 4
    old_kb, new_kb = load_knowledge_base(old), load_knowledge_base(new)
    for change in data["changes"]:
        for fact, values in NARROW_CONDITIONS.items():
            assert change["conditions"].get(fact) == values, change["conditions"]
        case = make_case(old_kb, change["example"])
        before, after = evaluate(old_kb, case), evaluate(new_kb, case)
        assert side(change, "old") == (before.recommendation, list(before.combine_with))
        assert side(change, "new") == (after.recommendation, list(after.combine_with))
        assert after.recommendation == "prompt_engineering"
        assert "narrow-test-rule" in {f.rule_id for f in after.firings}


# --- rules diff across fact schemas that differ ----------------------------------------------

COLORS = "values: [red, green, blue]"
URGENT = "  - name: urgent\n    type: bool\n    question: Is it urgent?\n"
PINK_RULE = """\
  - id: pink-fancy
    title: Pink favours fancy
    when: {fact: color, in: [pink]}
    then: {score: {fancy: 5}}
    because: Pink.
    source: test
"""


def edited_kb(source: Path, target: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of a rule base with texts replaced, each occurring once in its file; `facts.yaml`
    text "+" appends to the file."""
    copy_kb(source, target)
    for name, old, new in edits:
        path = target / name
        text = path.read_text(encoding="utf-8")
        if old == "+":
            text += new
        else:
            assert text.count(old) == 1, f"{old!r} should occur once in {name}"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return target


def diff_is_brute_force(old: Path, new: Path, old_as: Path, new_as: Path) -> dict[str, Any]:
    """`rules diff OLD NEW --json`, checked cell by cell against inference on OLD_AS and NEW_AS:
    the two rule bases with the fact schema they are compared over (a fact or value a rule base
    lacks added to its facts.yaml, where its rules never test it). Every cell whose outcome
    differs lies in exactly one region, with both outcomes; no other cell lies in any."""
    result = rules("diff", old, new, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    before, after = load_knowledge_base(old_as), load_knowledge_base(new_as)
    an = cells_of(before, after)
    assert data["cases"] == math.prod(len(cells) for cells in an.cells)
    changed = 0
    for known, labels in every_cell(an):
        was, now = outcome(before, known), outcome(after, known)
        inside = [
            change
            for change in data["changes"]
            if all(labels[fact] in cells for fact, cells in change["conditions"].items())
        ]
        if was == now:
            assert inside == [], (known, inside)
            continue
        changed += 1
        assert len(inside) == 1, (known, inside)
        assert side(inside[0], "old") == (was.recommendation, list(was.combine_with))
        assert side(inside[0], "new") == (now.recommendation, list(now.combine_with))
    assert 0 < changed == data["changed_cases"]
    return data


PINK_ONLY_NEW = "fact color: pink only in the new rule base"


@pytest.mark.parametrize(
    ("values", "differences"),
    [
        ("[red, green, blue, pink]", [PINK_ONLY_NEW]),
        ("[red, pink, green, blue]", [PINK_ONLY_NEW]),
        ("[red, pink, blue]", [PINK_ONLY_NEW, "fact color: green only in the old rule base"]),
    ],
)
def test_diff_across_an_added_enum_value(
    values: str, differences: list[str], tmp_path: Path
) -> None:
    """A new value with a rule on it (after the others, between them, or in place of one): the
    changes are exactly where inference differs, all with the new value, and both the text and
    the JSON name the schema differences."""
    old = copy_kb(MINI, tmp_path / "old")
    new = edited_kb(
        MINI,
        tmp_path / "new",
        ("facts.yaml", COLORS, f"values: {values}"),
        ("rules.yaml", "+", PINK_RULE),
    )
    union = "values: [red, green, blue, pink]"
    data = diff_is_brute_force(
        old,
        new,
        edited_kb(MINI, tmp_path / "old_as", ("facts.yaml", COLORS, union)),
        edited_kb(new, tmp_path / "new_as", ("facts.yaml", f"values: {values}", union)),
    )
    assert {tuple(change["conditions"]["color"]) for change in data["changes"]} == {("pink",)}
    assert data["schema_differences"] == [
        {"fact": "color", "difference": difference} for difference in differences
    ]
    assert rules("diff", old, new).stdout.splitlines()[1] == (
        "schemas differ (a rule base never tests a fact or value it lacks): "
        + "; ".join(differences)
    )


TEAM = "  - name: team\n    type: enum\n    values: [small, large]\n    question: Team size?\n"
TEAM_RULE = """\
  - id: large-team-fancy
    title: A large team favours fancy
    when: {fact: team, is: large}
    then: {score: {fancy: 5}}
    because: Large.
    source: test
"""
STAFF = "  - name: staff\n    type: quantity\n    unit: count\n    question: How many people?\n"
STAFF_RULE = TEAM_RULE.replace("{fact: team, is: large}", "{fact: staff, at_least: 40}")


@pytest.mark.parametrize(
    ("fact", "rule", "name"),
    [
        (TEAM, TEAM_RULE, "team"),
        (TEAM + "    default: large\n", TEAM_RULE, "team"),
        (STAFF, STAFF_RULE, "staff"),
        (STAFF + "    default: 100\n", STAFF_RULE, "staff"),
    ],
)
def test_diff_across_an_added_fact(fact: str, rule: str, name: str, tmp_path: Path) -> None:
    """A new fact (with a default or without, an enum or a quantity) with a rule on it: the
    changes are exactly where inference differs (the old rule base never tests the fact), all
    with the fact; the difference is named."""
    old = copy_kb(MINI, tmp_path / "old")
    new = edited_kb(MINI, tmp_path / "new", ("facts.yaml", "+", fact), ("rules.yaml", "+", rule))
    widened = edited_kb(MINI, tmp_path / "old_as", ("facts.yaml", "+", fact))
    data = diff_is_brute_force(old, new, widened, new)
    assert all(name in change["conditions"] for change in data["changes"])
    difference = f"fact {name} only in the new rule base"
    assert data["schema_differences"] == [{"fact": name, "difference": difference}]
    assert difference in rules("diff", old, new).stdout.splitlines()[1]


NOT_URGENT_RULE = ("rules.yaml", "        - fact: urgent\n          is: yes\n", "")


def test_diff_across_a_dropped_fact(tmp_path: Path) -> None:
    """The new rule base drops a fact (and the test on it): compared as if it still had the fact
    and never tested it; the difference is named."""
    old = copy_kb(MINI, tmp_path / "old")
    new = edited_kb(MINI, tmp_path / "new", ("facts.yaml", URGENT, ""), NOT_URGENT_RULE)
    kept = edited_kb(MINI, tmp_path / "new_as", NOT_URGENT_RULE)
    data = diff_is_brute_force(old, new, old, kept)
    assert all(change["conditions"].get("urgent") == ["no"] for change in data["changes"])
    difference = "fact urgent only in the old rule base"
    assert data["schema_differences"] == [{"fact": "urgent", "difference": difference}]
    assert difference in rules("diff", old, new).stdout.splitlines()[1]


@pytest.mark.parametrize(
    ("edits", "named"),
    [
        (
            [
                ("facts.yaml", COLORS, "values: [red, green, blue, pink]"),
                ("facts.yaml", URGENT, URGENT.replace("bool", "quantity\n    unit: count")),
                ("rules.yaml", "          is: yes\n", "          at_least: 1\n"),
            ],
            "fact urgent: type differs (old: bool; new: quantity)",
        ),
        (
            [("facts.yaml", COLORS, "values: [blue, red, green, pink]")],
            "fact color: values in another order",
        ),
        (
            [("facts.yaml", "+", TEAM), ("facts.yaml", COLORS, "values: [blue, red]")],
            "fact color: values in another order",
        ),
    ],
)
def test_diff_still_refuses_a_changed_type_or_value_order(
    edits: list[tuple[str, str, str]], named: str, tmp_path: Path
) -> None:
    """A fact whose type changes, or an enum whose shared values are reordered (raising it would
    mean something else), is refused in one line naming it, even beside differences `diff`
    compares across (a new value or fact)."""
    old = copy_kb(MINI, tmp_path / "old")
    new = edited_kb(MINI, tmp_path / "new", *edits)
    message = bad_input(rules("diff", old, new), "facts.yaml", named.split()[1].rstrip(":"))
    assert message.endswith(named), message


def test_diff_of_unrelated_rule_bases_names_every_fact(tmp_path: Path) -> None:
    """Two rule bases with no fact in common are compared over both schemas (each never tests
    the other's facts), naming every fact as one side's only."""
    result = rules("diff", MINI, KBS / "layered", "--json")
    assert result.exit_code == 0, result.output
    differences = [d["difference"] for d in json.loads(result.stdout)["schema_differences"]]
    assert set(differences) == {
        f"fact {name} only in the {side} rule base"
        for side, kb in (("old", MINI), ("new", KBS / "layered"))
        for name in load_knowledge_base(kb).fact_names
    }


@pytest.mark.parametrize("which", ["old", "new"])
def test_diff_missing_directory(which: str, tmp_path: Path) -> None:
    present = copy_kb(MINI, tmp_path / "present")
    missing = tmp_path / "missing"
    args = (missing, present) if which == "old" else (present, missing)
    bad_input(rules("diff", *args), str(missing))
    not_a_directory = present / "rules.yaml"
    args = (not_a_directory, present) if which == "old" else (present, not_a_directory)
    assert "a file, not a directory" in bad_input(rules("diff", *args), str(not_a_directory))


@pytest.mark.parametrize(
    ("file", "content", "named"),
    [
        ("extra.yaml", "rules:\n  - id: x\n    title: [unclosed\n", "extra.yaml:3:"),
        ("extra.yaml", "rules:\n  - id: x\n    title: ok\n    bogus: 1\n", "extra.yaml:4:"),
        ("facts.yaml", "facts: [\n", "facts.yaml:1:"),
    ],
)
def test_diff_malformed_yaml_names_file_and_line(
    file: str, content: str, named: str, tmp_path: Path
) -> None:
    old = copy_kb(MINI, tmp_path / "old")
    new = copy_kb(MINI, tmp_path / "new")
    (new / file).write_text(content)
    bad_input(rules("diff", old, new), f"{new / named}")
    bad_input(rules("diff", new, old), f"{new / named}")
