"""`llm-advisor rules list|show|schema`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import bad_input
from click.testing import CliRunner, Result

from llm_advisor.cli.main import cli
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import FactTest

MINI = str(Path(__file__).parent / "kbs" / "mini")
MINI_RULES = ["big", "big-and-urgent", "pressing-fancy", "not-big", "blue-excludes"]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["rules", *args])


def test_list() -> None:
    result = invoke("list", "--rules", MINI)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == MINI_RULES
    assert "[rules.yaml:8]" in lines[1]
    kb = load_knowledge_base(MINI)
    assert lines[-1] == f"5 rules, fingerprint {kb.fingerprint[:12]}"


def test_list_json() -> None:
    result = invoke("list", "--rules", MINI, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == MINI_RULES
    assert rows[0] == {
        "id": "big",
        "title": "Lots of text",
        "location": "rules.yaml:2",
        "source": "test",
    }


def test_list_the_rules_testing_a_fact() -> None:
    # In the mini rule base only `big` tests size; `big-and-urgent` and `not-big` test the
    # conclusion `big` drawn from it, not the fact.
    result = invoke("list", "--rules", MINI, "--fact", "size")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["big"]
    assert lines[-1].startswith("1 rule testing size, fingerprint ")
    listed = json.loads(invoke("list", "--rules", MINI, "--fact", "urgent", "--json").stdout)
    assert [row["id"] for row in listed] == ["big-and-urgent"]


def test_list_the_rules_testing_any_of_several_facts() -> None:
    """--fact is repeatable (only the last one used to count): the rules testing any of the
    facts, in rule-base order, each once, and the summary names every fact."""
    result = invoke(
        "list", "--rules", MINI, "--fact", "color", "--fact", "size", "--fact", "urgent"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["big", "big-and-urgent", "blue-excludes"]
    assert lines[-1].startswith("3 rules testing color, size or urgent, fingerprint ")
    twice = ["--fact", "urgent", "--fact", "size", "--fact", "urgent", "--json"]
    listed = json.loads(invoke("list", "--rules", MINI, *twice).stdout)
    assert [row["id"] for row in listed] == ["big", "big-and-urgent"]


@pytest.mark.parametrize("facts", [["colour"], ["size", "colour"], ["colour", "size"]])
def test_list_for_an_unknown_fact_is_bad_input(facts: list[str]) -> None:
    args = [arg for fact in facts for arg in ("--fact", fact)]
    bad_input(invoke("list", "--rules", MINI, *args), "colour")


def test_list_for_a_conclusion_says_it_is_not_a_fact() -> None:
    line = bad_input(invoke("list", "--rules", MINI, "--fact", "big"), "'big'")
    assert "conclusion" in line and "unknown" not in line


def test_show() -> None:
    result = invoke("show", "big-and-urgent", "--rules", MINI)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "big-and-urgent: Big and urgent" in out
    assert "rules.yaml:8" in out
    assert "urgent = yes and big" in out
    assert "derives pressing" in out
    assert "Both." in out
    assert "A test source" in out


def test_show_exclusion_and_negation() -> None:
    out = invoke("show", "blue-excludes", "--rules", MINI).stdout
    assert "excludes fancy" in out
    assert "Blue cannot be fancy." in out
    assert "not big" in invoke("show", "not-big", "--rules", MINI).stdout


def test_show_json() -> None:
    result = invoke("show", "pressing-fancy", "--rules", MINI, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == "pressing-fancy"
    assert data["location"] == "rules.yaml:18"
    assert data["when"] == "pressing"
    assert data["effects"] == [
        {"score": {"approach": "fancy", "delta": 3}},
        {"combine": ["cheap", "fancy"]},
    ]
    assert data["because"] == "Pressing."
    assert data["source"] == "test"
    assert data["source_title"] == "A test source"


def test_show_unknown_id() -> None:
    bad_input(invoke("show", "no-such-rule", "--rules", MINI), "'no-such-rule'")


def test_schema_is_json_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    # The schema names every key the loader accepts in a rule.
    rule = schema["$defs"]["rule"]
    assert set(rule["properties"]) == {"id", "title", "when", "then", "because", "source"}
    assert rule["additionalProperties"] is False


def test_malformed_rule_directory(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(MINI, kb)
    (kb / "extra.yaml").write_text("rules:\n  - id: x\n    title: [unclosed\n")
    bad_input(invoke("list", "--rules", str(kb)), "extra.yaml:")


def test_shipped_rule_base_lists_and_shows() -> None:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        pytest.skip(f"the shipped rule base does not load yet: {err}")
    listed = json.loads(invoke("list", "--json").stdout)
    assert [row["id"] for row in listed] == [r.id for r in kb.rules]
    for rule in (kb.rules[0], kb.rules[len(kb.rules) // 2], kb.rules[-1]):
        result = invoke("show", rule.id, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["location"] == rule.location


def test_show_an_invariant() -> None:
    """Every declared invariant can be shown: where it is declared and what it states, with
    the approach and the facts of its condition for `never` and `always`."""
    kb = load_knowledge_base()
    assert {i.kind for i in kb.invariants} >= {"never", "always", "no_flip_back"}
    for invariant in kb.invariants:
        result = invoke("show", invariant.id, "--json")
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert (shown["id"], shown["location"]) == (invariant.id, invariant.location)
        assert shown["invariant"] == invariant.kind
        named = {
            lit.fact if isinstance(lit, FactTest) else lit.name
            for alt in invariant.when
            for lit in alt
        }
        named |= {invariant.approach, invariant.fact} - {""}
        assert all(name in shown["states"] for name in named), shown
        text = invoke("show", invariant.id)
        assert text.exit_code == 0 and invariant.title in text.output
        assert shown["states"] in text.output
