"""Loading rule bases: every kind of error names `file:line:`; DNF, strata and fingerprints."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from llm_advisor.engine.errors import InputError, RuleError
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import DerivedTest, FactTest, KnowledgeBase, Literal_
from llm_advisor.engine.language.schema import json_schema

MINI = Path(__file__).parent / "kbs" / "mini"

RULE_TEMPLATE = """\
  - id: {id}
    title: {title}
    when: {when}
    then: {then}
    because: For the test.
    source: test
"""


def copy_mini(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(MINI, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must occur exactly once) with `new` in a file of the rule base."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} does not occur exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, marker: str, *, exact: bool = False) -> int:
    """The 1-based line of the only line containing `marker` (or equal to it, stripped)."""
    lines = [
        i
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if (line.strip() == marker if exact else marker in line)
    ]
    assert len(lines) == 1, f"{marker!r} is on lines {lines} of {path.name}"
    return lines[0]


def rules_file(*rules: str) -> str:
    return "rules:\n" + "".join(rules)


def rule(id: str, when: str, then: str = "{score: {cheap: 1}}", title: str = "A rule") -> str:
    return RULE_TEMPLATE.format(id=id, title=title, when=when, then=then)


def load_error(directory: Path, file: str, line: int) -> str:
    """Load a broken rule base; check the error names `file:line:` and return its message."""
    with pytest.raises(RuleError) as caught:
        load_knowledge_base(directory)
    message = str(caught.value)
    assert message.startswith(f"{file}:{line}: "), message
    assert "\n" not in message
    return message


# --- one test per kind of error ---------------------------------------------------------------


def test_yaml_syntax_error(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "title: Lots of text", "title: Lots: of text")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "Lots: of"))
    assert "YAML syntax" in message


def test_yaml_syntax_error_in_schema_file(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "facts.yaml", "values: [red, green, blue]", "values: [red, green, blue")
    message = load_error(kb, "facts.yaml", line_of(kb / "facts.yaml", "question: Which color?"))
    assert "YAML syntax" in message


def test_anchor_rejected(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "because: Big is big.", "because: &why Big is big.")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "&why"))
    assert "anchors and aliases are not allowed" in message


def test_alias_rejected(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "title: Lots of text", "title: &t Lots of text")
    edit(kb / "rules.yaml", "title: Big and urgent", "title: *t")
    # The anchor is reported first: it is where the document starts depending on itself.
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "&t"))
    assert "anchors and aliases are not allowed" in message


def test_alias_without_anchor_rejected(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "title: Big and urgent", "title: *t")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "*t"))
    assert "anchors and aliases are not allowed" in message


def test_unknown_key_in_rule(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "because: Both.", "becuase: Both.")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "becuase"))
    assert "unknown key 'becuase' in a rule" in message


def test_unknown_key_in_fact_condition(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "rules.yaml", "        - fact: urgent\n", "        - fact: urgent\n          unit: x\n"
    )
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "unit: x"))
    assert "unknown key 'unit'" in message


def test_unknown_key_in_combinator_condition(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "          is: yes\n", "          is: yes\n      label: x\n")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "label: x"))
    assert "unknown key 'label'" in message


def test_unknown_key_in_effects(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "then: {derive: pressing}", "then: {derive: pressing, boost: 1}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "boost"))
    assert "unknown key 'boost'" in message


def test_unknown_key_in_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "facts.yaml",
        "    question: Which color?\n",
        "    question: Which color?\n    colour: x\n",
    )
    message = load_error(kb, "facts.yaml", line_of(kb / "facts.yaml", "colour"))
    assert "unknown key 'colour' in a fact" in message


def test_unknown_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "{fact: size, at_least: 1M}", "{fact: sise, at_least: 1M}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "sise"))
    assert "unknown fact 'sise'" in message


def test_unknown_derived_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "not: {derived: big}", "not: {derived: bigg}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "bigg"))
    assert "unknown derived fact 'bigg'" in message


def test_unknown_enum_value(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "in: [blue]", "in: [blue, purple]")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "purple"))
    assert "'purple'" in message
    assert "red, green, blue" in message


def test_below_on_an_enum_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "{fact: color, in: [blue]}", "{fact: color, below: 3}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "below: 3"))
    assert "'below' needs a quantity fact" in message


def test_at_least_on_a_bool_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "          is: yes\n", "          at_least: 1\n")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "at_least: 1", exact=True))
    assert "'at_least' needs a quantity fact; urgent is bool" in message


def test_is_on_a_quantity_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "{fact: size, at_least: 1M}", "{fact: size, is: 1M}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "is: 1M"))
    assert "size is a quantity" in message


def test_bad_quantity(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "at_least: 1M", "below: lots")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "lots"))
    assert "bad quantity 'lots' for size" in message


def test_negative_quantity(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "at_least: 1M", "at_least: -5")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "-5"))
    assert "bad quantity" in message


def test_duplicate_rule_id_across_files(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    # Files load in name order: rules.yaml first, then zz-more.yaml.
    (kb / "zz-more.yaml").write_text(
        rules_file(rule("fine", "{fact: urgent, is: no}"), rule("big", "{fact: urgent, is: no}"))
    )
    first = line_of(kb / "rules.yaml", "- id: big", exact=True)
    message = load_error(kb, "zz-more.yaml", line_of(kb / "zz-more.yaml", "id: big"))
    assert f"duplicate rule id 'big' (first at rules.yaml:{first})" in message


def test_unknown_source(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "rules.yaml", "because: Both.\n    source: test", "because: Both.\n    source: nowhere"
    )
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "nowhere"))
    assert "unknown source 'nowhere'" in message


def test_derivation_cycle(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    (kb / "cycle.yaml").write_text(
        rules_file(
            rule("make-a", "{derived: b}", "{derive: a}"),
            rule("make-b", "{derived: a}", "{derive: b}"),
        )
    )
    message = load_error(kb, "cycle.yaml", line_of(kb / "cycle.yaml", "id: make-a"))
    assert "derivation cycle: a -> b -> a" in message


def test_derivation_cycle_through_negation(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    (kb / "cycle.yaml").write_text(rules_file(rule("self", "{not: {derived: a}}", "{derive: a}")))
    message = load_error(kb, "cycle.yaml", line_of(kb / "cycle.yaml", "id: self"))
    assert "derivation cycle: a -> a" in message


def test_duplicate_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    facts = kb / "facts.yaml"
    first = line_of(facts, "- name: color")
    facts.write_text(facts.read_text() + "  - name: colour\n    type: bool\n    question: Again?\n")
    second = line_of(facts, "- name: colour")
    edit(facts, "- name: colour", "- name: color")
    message = load_error(kb, "facts.yaml", second)
    assert f"duplicate fact 'color' (first at line {first})" in message


def test_duplicate_key_in_a_mapping(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "    because: Both.\n", "    because: Both.\n    because: Again.\n")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "Again."))
    assert "duplicate key 'because'" in message


def test_missing_required_key(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "    title: Big and urgent\n", "")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "id: big-and-urgent"))
    assert "missing 'title'" in message


def test_missing_required_key_in_fact(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "facts.yaml", "    question: Is it urgent?\n", "")
    message = load_error(kb, "facts.yaml", line_of(kb / "facts.yaml", "name: urgent"))
    assert "missing 'question'" in message


def test_missing_schema_file(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    (kb / "sources.yaml").unlink()
    with pytest.raises(InputError, match=r"sources\.yaml: missing"):
        load_knowledge_base(kb)


@pytest.mark.parametrize(
    "combine",
    ["[cheap, cheap]", "[cheap, posh]", "[cheap]", "[cheap, fancy, cheap]", "cheap"],
)
def test_bad_combine(tmp_path: Path, combine: str) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "combine: [cheap, fancy]", f"combine: {combine}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "combine:"))
    assert "'combine' needs two different approaches from: cheap, fancy" in message


@pytest.mark.parametrize("score", ["2.5", "lots", "yes", "'3'", "1001", "[3]"])
def test_non_integer_score(tmp_path: Path, score: str) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "rules.yaml",
        "then: {score: {cheap: 1}}",
        f"then:\n      score:\n        cheap: {score}",
    )
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", f"cheap: {score}"))
    assert "score for cheap must be an integer" in message


def test_score_for_unknown_approach(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", "then: {score: {cheap: 1}}", "then: {score: {posh: 1}}")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "posh"))
    assert "unknown key 'posh'" in message


def test_not_utf8(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    path = kb / "rules.yaml"
    expected = line_of(path, "title: Big and urgent")
    path.write_bytes(path.read_bytes().replace(b"Big and urgent", b"Big and urg\xe9nt"))
    message = load_error(kb, "rules.yaml", expected)
    assert "not valid UTF-8" in message


def test_deeply_nested_condition(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    when = "{not: " * 100 + "{fact: urgent, is: yes}" + "}" * 100
    (kb / "deep.yaml").write_text(rules_file(rule("deep", when)))
    message = load_error(kb, "deep.yaml", line_of(kb / "deep.yaml", "when:"))
    assert "nesting deeper than" in message


def test_deeply_nested_document(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    # Deep enough that composing it without a limit would exhaust Python's recursion limit.
    (kb / "deep.yaml").write_text("rules:\n  - " + "[" * 1000 + "]" * 1000 + "\n")
    # Refused at the line of the nesting, as one line; which of PyYAML's scanner and our own
    # depth limit refuses it first depends on PyYAML's version, so its words are not checked.
    load_error(kb, "deep.yaml", 2)


def test_deeply_nested_block_document(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    text = "rules:\n" + "".join("  " * i + "- x:\n" for i in range(1, 80))
    (kb / "deep.yaml").write_text(text)
    # Line L holds a list at depth 2L - 2 and a mapping at 2L - 1 whose key is at 2L: the key on
    # line 33 is the first node with 65 nodes above it, one more than allowed.
    message = load_error(kb, "deep.yaml", 33)
    assert "nesting deeper than 64 levels" in message


def with_bool_facts(kb: Path, count: int) -> None:
    """Add bool facts f0, f1, ... to a copied rule base."""
    extra = "".join(f"  - name: f{i}\n    type: bool\n    question: F{i}?\n" for i in range(count))
    (kb / "facts.yaml").write_text((kb / "facts.yaml").read_text() + extra)


@pytest.mark.parametrize("parts", [9, 11])  # 2**9: too many in the end; 2**11: too many midway
def test_condition_that_expands_too_much(tmp_path: Path, parts: int) -> None:
    kb = copy_mini(tmp_path)
    with_bool_facts(kb, 2 * parts)
    terms = [
        f"{{any: [{{fact: f{2 * i}, is: yes}}, {{fact: f{2 * i + 1}, is: yes}}]}}"
        for i in range(parts)
    ]
    (kb / "wide.yaml").write_text(rules_file(rule("wide", "{all: [" + ", ".join(terms) + "]}")))
    message = load_error(kb, "wide.yaml", line_of(kb / "wide.yaml", "when:"))
    assert "condition too complex" in message


def test_wide_condition_keeps_every_conjunct(tmp_path: Path) -> None:
    # 3**7 combinations before simplification: more than the loader keeps in one step. Every
    # alternative must still require the last conjunct (an earlier loader dropped it).
    term = "{any: [{fact: color, is: red}, {fact: color, is: green}, {fact: size, below: 1k}]}"
    when = "{all: [" + ", ".join([term] * 7) + ", {fact: urgent, is: yes}]}"
    kb = load_with_rules(tmp_path, rule("wide", when))
    alternatives = kb.rule("wide").alternatives
    assert len(alternatives) == 5
    for alternative in alternatives:
        assert ("urgent", "in", frozenset({True})) in next(iter(shape((alternative,))))


@pytest.mark.parametrize(
    ("content", "marker"),
    [
        ("", None),
        ("rules: {}\n", "rules:"),
        ("rule:\n  - id: x\n", "rule:"),
        ("- just a list\n", "just a list"),
    ],
)
def test_malformed_rule_file_shapes(tmp_path: Path, content: str, marker: str | None) -> None:
    kb = copy_mini(tmp_path)
    (kb / "odd.yaml").write_text(content)
    line = line_of(kb / "odd.yaml", marker) if marker else 1
    load_error(kb, "odd.yaml", line)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a rule base directory"):
        load_knowledge_base(tmp_path / "missing")


# --- what a valid rule base loads into --------------------------------------------------------


def shape(alternatives: tuple[tuple[Literal_, ...], ...]) -> set[frozenset[tuple[object, ...]]]:
    """Alternatives without line numbers, order-insensitive, for comparison."""
    out = set()
    for alternative in alternatives:
        items: set[tuple[object, ...]] = set()
        for lit in alternative:
            if isinstance(lit, FactTest):
                detail = frozenset(lit.values) if lit.op == "in" else lit.threshold
                items.add((lit.fact, lit.op, detail))
            else:
                assert isinstance(lit, DerivedTest)
                items.add(("derived", lit.name, lit.value))
        out.add(frozenset(items))
    return out


def load_with_rules(tmp_path: Path, *rules: str) -> KnowledgeBase:
    kb = copy_mini(tmp_path)
    (kb / "extra.yaml").write_text(rules_file(*rules))
    return load_knowledge_base(kb)


DNF_CASES = {
    # `not` of `in` is the complement within the enum's values.
    "{not: {fact: color, in: [blue]}}": {frozenset({("color", "in", frozenset({"red", "green"}))})},
    # `not` of `in` over every value can never hold.
    "{not: {fact: color, in: [red, green, blue]}}": set(),
    # `not below` is `at_least`, `not at_least` is `below`.
    "{not: {fact: size, below: 200k}}": {frozenset({("size", "ge", 200_000.0)})},
    "{not: {fact: size, at_least: 200k}}": {frozenset({("size", "lt", 200_000.0)})},
    "{not: {fact: urgent, is: yes}}": {frozenset({("urgent", "in", frozenset({False}))})},
    "{not: {derived: big}}": {frozenset({("derived", "big", False)})},
    "{not: {not: {derived: big}}}": {frozenset({("derived", "big", True)})},
    # De Morgan.
    "{not: {all: [{fact: urgent, is: yes}, {derived: big}]}}": {
        frozenset({("urgent", "in", frozenset({False}))}),
        frozenset({("derived", "big", False)}),
    },
    "{not: {any: [{fact: urgent, is: yes}, {derived: big}]}}": {
        frozenset({("urgent", "in", frozenset({False})), ("derived", "big", False)})
    },
    # Tests on one fact merge: one-of sets intersect, bounds tighten.
    "{all: [{fact: color, in: [red, green]}, {fact: color, in: [green, blue]}]}": {
        frozenset({("color", "in", frozenset({"green"}))})
    },
    "{all: [{fact: size, at_least: 1k}, {fact: size, at_least: 5k}, {fact: size, below: 1M}]}": {
        frozenset({("size", "ge", 5000.0), ("size", "lt", 1e6)})
    },
    # Contradictory conjunctions drop out; the consistent alternative stays.
    "{any: [{all: [{fact: color, is: red}, {fact: color, is: blue}]}, {fact: urgent, is: no}]}": {
        frozenset({("urgent", "in", frozenset({False}))})
    },
    "{all: [{fact: size, below: 1k}, {fact: size, at_least: 1k}]}": set(),
    "{all: [{derived: big}, {not: {derived: big}}]}": set(),
    # Distribution of `all` over `any`.
    "{all: [{any: [{fact: color, is: red}, {fact: urgent, is: yes}]}, {derived: big}]}": {
        frozenset({("color", "in", frozenset({"red"})), ("derived", "big", True)}),
        frozenset({("urgent", "in", frozenset({True})), ("derived", "big", True)}),
    },
}


@pytest.mark.parametrize(("when", "expected"), list(DNF_CASES.items()))
def test_dnf_and_negation(
    tmp_path: Path, when: str, expected: set[frozenset[tuple[object, ...]]]
) -> None:
    kb = load_with_rules(tmp_path, rule("probe", when))
    assert shape(kb.rule("probe").alternatives) == expected


def test_negated_tests_on_unknown_values_do_not_hold(tmp_path: Path) -> None:
    kb = load_with_rules(tmp_path, rule("probe", "{not: {fact: size, below: 200k}}"))
    (alternative,) = kb.rule("probe").alternatives
    (lit,) = alternative
    assert isinstance(lit, FactTest)
    assert lit.holds(300_000.0)
    assert not lit.holds(100_000.0)
    assert not lit.holds(None)  # unknown: neither `below` nor its negation holds


def test_strata(tmp_path: Path) -> None:
    kb = load_knowledge_base(MINI)
    assert kb.strata == (("big",), ("pressing",))
    assert kb.derived == ("big", "pressing")
    strata = {r.id: r.stratum for r in kb.rules}
    assert strata == {
        "big": 0,
        "big-and-urgent": 1,
        "pressing-fancy": 2,
        "not-big": 1,
        "blue-excludes": 0,
    }


def test_strata_of_a_longer_chain(tmp_path: Path) -> None:
    kb = load_with_rules(
        tmp_path,
        rule("third", "{all: [{derived: second}, {not: {derived: big}}]}", "{derive: third}"),
        rule("second", "{derived: pressing}", "{derive: second}"),
        rule("use-third", "{not: {derived: third}}"),
    )
    assert kb.strata == (("big",), ("pressing",), ("second",), ("third",))
    assert kb.rule("third").stratum == 3
    assert kb.rule("use-third").stratum == 4
    # Every rule comes after the strata of the derived facts it tests.
    level = {name: s for s, names in enumerate(kb.strata) for name in names}
    for r in kb.rules:
        assert all(level[d] < r.stratum for d in r.derived_used)


# --- fingerprint ------------------------------------------------------------------------------


def test_fingerprint_is_stable(tmp_path: Path) -> None:
    first = load_knowledge_base(MINI).fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert load_knowledge_base(MINI).fingerprint == first
    # It depends on the files' names and contents, not on where the directory is.
    assert load_knowledge_base(copy_mini(tmp_path)).fingerprint == first


@pytest.mark.parametrize("name", ["facts.yaml", "approaches.yaml", "sources.yaml", "rules.yaml"])
def test_fingerprint_changes_with_any_file(tmp_path: Path, name: str) -> None:
    kb = copy_mini(tmp_path)
    original = load_knowledge_base(kb).fingerprint
    path = kb / name
    text = path.read_text()
    path.write_text(text + "# a comment changes the bytes, not the meaning\n")
    changed = load_knowledge_base(kb).fingerprint
    assert changed != original
    path.write_text(text)
    assert load_knowledge_base(kb).fingerprint == original


def test_fingerprint_changes_when_a_rule_file_is_added_or_renamed(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    original = load_knowledge_base(kb).fingerprint
    (kb / "extra.yaml").write_text(rules_file(rule("extra", "{fact: urgent, is: no}")))
    added = load_knowledge_base(kb).fingerprint
    (kb / "extra.yaml").rename(kb / "other.yaml")
    renamed = load_knowledge_base(kb).fingerprint
    assert len({original, added, renamed}) == 3


# --- caveats a partner answers ---------------------------------------------------------------

FANCY = "    profile: {accuracy: 2, complexity: 2, effort: 2, flexibility: 1}\n"


def test_a_caveat_names_the_approaches_that_answer_it(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    caveats = (
        "    caveats:\n      - Costs more.\n      - {text: Slow to change., answered_by: [cheap]}\n"
    )
    edit(kb / "approaches.yaml", FANCY, FANCY + caveats)
    fancy = load_knowledge_base(kb).approach("fancy")
    assert [c.text for c in fancy.caveats] == ["Costs more.", "Slow to change."]
    assert [c.text for c in fancy.caveats_in({"fancy"})] == ["Costs more.", "Slow to change."]
    assert [c.text for c in fancy.caveats_in({"fancy", "cheap"})] == ["Costs more."]


@pytest.mark.parametrize(
    ("caveat", "needle"),
    [
        ("{text: Slow., answered_by: [nope]}", "nope"),
        ("{text: Slow., answered_by: [Not An Id]}", "Not An Id"),
        ("{text: Slow., answered_by: [fancy]}", "itself"),
        ("{text: Slow., covered_by: [cheap]}", "covered_by"),
        ("{answered_by: [cheap]}", "text"),
    ],
)
def test_a_bad_caveat_is_named_with_its_line(tmp_path: Path, caveat: str, needle: str) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "approaches.yaml", FANCY, FANCY + f"    caveats:\n      - {caveat}\n")
    message = load_error(kb, "approaches.yaml", line_of(kb / "approaches.yaml", caveat))
    assert needle in message


# --- a pair with a lead -------------------------------------------------------------------------

PRESSING = "    then: {score: {fancy: 3}, combine: [cheap, fancy]}\n"


@pytest.mark.parametrize(("lead", "partners"), [("fancy", ("cheap",)), ("cheap", ())])
def test_a_pair_with_a_lead_gives_a_partner_only_to_its_lead(
    tmp_path: Path, lead: str, partners: tuple[str, ...]
) -> None:
    """`combine: {lead: A, partner: B}` makes B a partner of A only: when the other leads, it has
    no partner; inference and the decision diagram agree on every sampled case."""
    from click.testing import CliRunner

    from llm_advisor.cli.main import cli
    from llm_advisor.engine.analysis.explanation import why_not
    from llm_advisor.engine.inference.run import evaluate
    from llm_advisor.engine.language.facts import make_case

    kb_dir = copy_mini(tmp_path)
    other = "cheap" if lead == "fancy" else "fancy"
    edit(
        kb_dir / "rules.yaml",
        PRESSING,
        f"    then: {{score: {{fancy: 3}}, combine: {{lead: {lead}, partner: {other}}}}}\n",
    )
    kb = load_knowledge_base(kb_dir)
    pressing = evaluate(kb, make_case(kb, {"size": "10M", "urgent": "yes"}))
    assert (pressing.recommendation, pressing.combine_with) == ("fancy", partners)
    # no pair that leaves it out is said to have suggested a partner
    assert not any(w.partner_dropped_by for w in why_not(kb, pressing))
    check = CliRunner().invoke(
        cli, ["rules", "check", "--rules", str(kb_dir), "--cross-check", "60", "--json"]
    )
    data = json.loads(check.stdout)
    assert (data["cross_checked"], data["errors"]) == (60, 0), check.output


def test_a_pair_with_a_lead_names_both(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "rules.yaml", PRESSING, "    then: {combine: {lead: fancy}}\n")
    message = load_error(kb, "rules.yaml", line_of(kb / "rules.yaml", "lead: fancy"))
    assert "partner" in message


# --- actionable facts and references --------------------------------------------------------


@pytest.mark.parametrize("key", ["actionable", "measured"])
def test_fact_flags_must_be_true_or_false(tmp_path: Path, key: str) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "facts.yaml",
        "    question: Which color?\n",
        f"    question: Which color?\n    {key}: maybe\n",
    )
    message = load_error(kb, "facts.yaml", line_of(kb / "facts.yaml", key))
    assert f"'{key}' must be true or false" in message and "maybe" in message


@pytest.mark.parametrize(
    ("fact", "reach", "expected"),
    [
        ("size", "1", "'reach' of size must be a number greater than 1, got 1"),
        ("size", "many", "'reach' of size must be a number greater than 1, got 'many'"),
        ("size", "10\n    actionable: false", "'reach' is only for actionable facts, size is not"),
        ("color", "10", "'reach' is only for quantity facts, color is enum"),
        ("urgent", "10", "'reach' is only for quantity facts, urgent is bool"),
    ],
)
def test_reach_is_a_factor_of_an_actionable_quantity(
    tmp_path: Path, fact: str, reach: str, expected: str
) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "facts.yaml", f"name: {fact}\n", f"name: {fact}\n    reach: {reach}\n")
    assert expected in load_error(kb, "facts.yaml", line_of(kb / "facts.yaml", "reach:"))


def test_reach_is_read(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "facts.yaml", "name: size\n", "name: size\n    reach: 2.5\n")
    loaded = load_knowledge_base(kb)
    assert loaded.fact("size").reach == 2.5 and loaded.fact("color").reach is None


def test_actionable_defaults_to_true_and_is_read(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(
        kb / "facts.yaml",
        "    question: Which color?\n",
        "    question: Which color?\n    actionable: false\n",
    )
    loaded = load_knowledge_base(kb)
    assert not loaded.fact("color").actionable and loaded.fact("size").actionable


@pytest.mark.parametrize(
    ("old", "new", "marker", "expected"),
    [
        ("    year: 2026\n", "", "title:", "is missing 'year'"),
        ("    author: The tests\n", "", "title:", "is missing 'author'"),
        ("    year: 2026\n", "    year: recently\n", "year:", "'year' must be a year"),
        (
            "    year: 2026\n",
            "    year: 2026\n    url: somewhere.example\n",
            "url:",
            "http(s) address",
        ),
    ],
)
def test_a_source_must_be_a_full_reference(
    tmp_path: Path, old: str, new: str, marker: str, expected: str
) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "sources.yaml", old, new)
    message = load_error(kb, "sources.yaml", line_of(kb / "sources.yaml", marker))
    assert expected in message and "'test'" in message


def test_every_shipped_source_is_a_reference_a_reader_can_look_up() -> None:
    kb = load_knowledge_base(None)
    for source in kb.sources:
        assert source.author and source.year and source.title, source.key
        assert "source comparison" not in source.reference.lower(), source.key
    pandey = [s for s in kb.sources if s.key.startswith("comparison-")]
    assert pandey and all(s.author == "Vikesh Pandey" and s.year == 2023 for s in pandey)
    assert all(s.url and s.url.startswith("https://medium.com/@pandey.vikesh/") for s in pandey)


# --- dimensions and tie-break ------------------------------------------------------------------


def test_tie_break_must_be_a_declared_dimension(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "approaches.yaml", "tie_break: complexity", "tie_break: price")
    message = load_error(kb, "approaches.yaml", line_of(kb / "approaches.yaml", "tie_break:"))
    assert "price" in message and "complexity" in message


def test_a_profile_needs_every_declared_dimension(tmp_path: Path) -> None:
    kb = copy_mini(tmp_path)
    edit(kb / "approaches.yaml", "accuracy: 2, complexity: 2, ", "accuracy: 2, ")
    message = load_error(kb, "approaches.yaml", line_of(kb / "approaches.yaml", "accuracy: 2"))
    assert "complexity" in message


def test_ties_go_to_the_lowest_rank_of_the_tie_break_dimension_else_file_order(
    tmp_path: Path,
) -> None:
    kb = copy_mini(tmp_path)
    # File order is cheap, fancy; make fancy the simpler one.
    edit(kb / "approaches.yaml", "complexity: 1,", "complexity: 3,")
    assert load_knowledge_base(kb).tie_order == ("fancy", "cheap")
    edit(kb / "approaches.yaml", "tie_break: complexity\n", "")
    assert load_knowledge_base(kb).tie_order == ("cheap", "fancy")


def test_every_shipped_effect_survives_its_json_both_ways() -> None:
    from llm_advisor.engine.language.effects import effect_from_json, effect_json

    effects = [e for rule in load_knowledge_base(None).rules for e in rule.effects]
    assert {type(e).__name__ for e in effects} >= {"Derive", "Score", "Exclude", "Advise"}
    for effect in effects:
        assert effect_from_json(json.loads(json.dumps(effect_json(effect)))) == effect


# --- the cache of validated rule bases ----------------------------------------------------------


def test_dimensions_and_profiles_are_optional(tmp_path: Path) -> None:
    kb_dir = copy_mini(tmp_path)
    approaches = kb_dir / "approaches.yaml"
    text = approaches.read_text()
    text = text.replace("dimensions: [accuracy, complexity, effort, flexibility]\n", "")
    text = text.replace("tie_break: complexity\n", "")
    text = re.sub(r"\n    profile: \{[^}]*\}", "", text)
    approaches.write_text(text)
    kb = load_knowledge_base(kb_dir)
    assert [a.profile for a in kb.approaches] == [(), ()]
    # the published schema accepts what the loader accepts
    assert "profile" not in json_schema()["$defs"]["approach"]["required"]


def test_a_cached_rule_base_equals_a_fresh_load_and_follows_its_files(tmp_path: Path) -> None:
    kb_dir = copy_mini(tmp_path)
    cache = tmp_path / "cache"
    fresh = load_knowledge_base(kb_dir)
    assert load_knowledge_base(kb_dir, cache) == fresh  # validated and stored
    assert len(list(cache.glob("rulebase-*.pickle"))) == 1
    assert load_knowledge_base(kb_dir, cache) == fresh  # read back
    moved = tmp_path / "moved"
    shutil.copytree(kb_dir, moved)
    assert load_knowledge_base(moved, cache).directory == str(moved)
    edit(kb_dir / "approaches.yaml", "name: Cheap", "name: Cheaper")
    assert load_knowledge_base(kb_dir, cache).approach("cheap").name == "Cheaper"


def test_a_broken_cache_entry_only_costs_the_load(tmp_path: Path) -> None:
    kb_dir = copy_mini(tmp_path)
    cache = tmp_path / "cache"
    fresh = load_knowledge_base(kb_dir, cache)
    (entry,) = cache.glob("rulebase-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert load_knowledge_base(kb_dir, cache) == fresh


def test_a_damaged_cache_entry_is_never_read(tmp_path: Path) -> None:
    """Bytes changed anywhere in an entry: the rule base is loaded afresh, never an error and
    never a rule base read from the damage."""
    kb_dir = copy_mini(tmp_path)
    cache = tmp_path / "cache"
    fresh = load_knowledge_base(kb_dir, cache)
    (entry,) = cache.glob("rulebase-*.pickle")
    good = entry.read_bytes()
    for at in range(0, len(good), max(1, len(good) // 300)):
        damaged = bytearray(good)
        damaged[at] ^= 0x5A
        entry.write_bytes(bytes(damaged))
        assert load_knowledge_base(kb_dir, cache) == fresh, at


def test_an_entry_under_another_rule_base_s_name_is_not_taken_for_it(tmp_path: Path) -> None:
    """Entries are named by a 32-bit checksum; a hit is still compared with the files."""
    first, second = copy_mini(tmp_path / "a"), copy_mini(tmp_path / "b")
    edit(second / "approaches.yaml", "name: Cheap", "name: Cheaper")
    cache = tmp_path / "cache"
    load_knowledge_base(first, cache)
    (entry_a,) = cache.glob("rulebase-*.pickle")
    fresh_b = load_knowledge_base(second, cache)
    (entry_b,) = set(cache.glob("rulebase-*.pickle")) - {entry_a}
    entry_b.write_bytes(entry_a.read_bytes())  # as if both rule bases had the same checksum
    assert load_knowledge_base(second, cache) == fresh_b


def test_entries_of_an_earlier_version_of_the_code_are_removed(tmp_path: Path) -> None:
    kb_dir = copy_mini(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / "rulebase-0123abcd-89abcdef.pickle"
    old.write_bytes(b"an entry made by other code")
    load_knowledge_base(kb_dir, cache)
    assert not old.exists()
    assert len(list(cache.glob("rulebase-*.pickle"))) == 1
    assert not list(cache.glob("*.tmp"))


def test_a_cached_rule_base_is_still_checked_for_errors(tmp_path: Path) -> None:
    kb_dir = copy_mini(tmp_path)
    cache = tmp_path / "cache"
    load_knowledge_base(kb_dir, cache)
    edit(kb_dir / "approaches.yaml", "tie_break: complexity", "tie_break: price")
    with pytest.raises(RuleError):
        load_knowledge_base(kb_dir, cache)


def test_files_in_memory_load_like_their_directory(tmp_path: Path) -> None:
    from llm_advisor.engine.language.loader import MemorySource, load

    from_dir = load_knowledge_base(MINI.parent / "layered")
    in_memory = load(MemorySource(from_dir.files, "somewhere"))
    assert in_memory == replace(from_dir, directory="somewhere")
    without = tuple(f for f in from_dir.files if f.name != "sources.yaml")
    with pytest.raises(InputError, match=r"somewhere: sources\.yaml missing"):
        load(MemorySource(without, "somewhere"))
