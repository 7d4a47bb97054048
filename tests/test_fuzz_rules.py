"""Malformed rule bases: every mutation of the shipped rules loads or fails with `file:line:`.

`tests/fuzz/rulebase.py` mutates the shipped rule base deterministically (deleted keys, wrong
types, dangling references, cycles, duplicate ids, deep nesting, huge documents, exponential
aliases, Python tags, invalid UTF-8, binary junk, missing files ...). Each mutant must load as
a valid rule base or fail with a one-line `RuleError` (or, for a missing schema file, an
`InputError`) naming a file of the rule base and a line inside it, in under two seconds. A
mutant that loads must run on the engine (or be refused by it with `file:line:`, when it is too
large for durable_rules) and the analysis must agree with inference on it.

Here 2,000 mutants run; `make fuzz` runs 50,000 more (`FUZZ_N`) on every core with
`python -m tests.fuzz`.
"""

from __future__ import annotations

import json
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from diagram_helpers import HAVE_DOT, parse_dot, parse_mermaid
from fuzz import fuzz_settings
from fuzz.check import MAX_SECONDS, Hang, campaign, deadline, write_rule_base
from fuzz.rulebase import shipped_files
from hypothesis import given
from hypothesis import strategies as st

from llm_advisor.cli.main import cli
from llm_advisor.diagrams.export import Request, render
from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base

KBS = Path(__file__).parent / "kbs"
SEED = 20_240_501
COUNT = 2000
BASE = shipped_files()


def test_mutated_rule_bases_load_or_fail_with_file_and_line(tmp_path: Path) -> None:
    stats = campaign(BASE, SEED, COUNT, tmp_path / "kb", keep_loaded=4)
    shown = "\n".join(str(p) for p in stats.problems[:5])
    assert not stats.problems, f"{len(stats.problems)} mutants broke the contract:\n{shown}"
    assert stats.mutants == COUNT
    assert stats.slowest < MAX_SECONDS, stats.slowest_mutant
    # The generator is not degenerate: both outcomes are common.
    assert stats.rejected > COUNT // 2
    assert stats.loaded > COUNT // 20
    # A few mutants that load, through the command line as a user would run them.
    for mutant in stats.loaded_examples:
        write_rule_base(tmp_path / "kb", mutant.files)
        args = ["recommend", "--rules", str(tmp_path / "kb"), "--no-audit", "--json"]
        result = CliRunner().invoke(cli, [*args, "--fact", "budget=5k", "--fact", "timeline=2w"])
        assert result.exit_code in (0, 1, 2), (mutant.description, result.output)
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- targeted cases -----------------------------------------------------------------------------


def rule_base(tmp_path: Path, **changes: bytes) -> Path:
    """The shipped rule base with some files replaced or added."""
    directory = tmp_path / "kb"
    write_rule_base(directory, {**BASE, **changes})
    return directory


def test_python_tags_are_rejected_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payloads = (
        f"!!python/object/apply:os.system ['touch {marker}']",
        f"!!python/object/new:subprocess.check_call [['touch', '{marker}']]",
        "!!python/name:os.system",
        "!!python/object:builtins.dict {}",
    )
    for payload in payloads:
        text = BASE["sources.yaml"].decode() + f"  evil:\n    title: {payload}\n"
        directory = rule_base(tmp_path, **{"sources.yaml": text.encode()})
        with pytest.raises(RuleError, match=r"^sources\.yaml:\d+: the tag !!python/"):
            load_knowledge_base(directory)
    assert not marker.exists()


def test_exponential_aliases_are_rejected_at_once(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 12)]
    directory = rule_base(tmp_path, **{"extra.yaml": "\n".join(lines).encode()})
    start = time.process_time()
    with pytest.raises(RuleError, match=r"^extra\.yaml:1: anchors and aliases are not allowed"):
        load_knowledge_base(directory)
    assert time.process_time() - start < MAX_SECONDS


def test_control_characters_give_one_line_with_the_right_line(tmp_path: Path) -> None:
    text = BASE["sources.yaml"] + b"  bell:\n    title: ring \x07 ring\n"
    directory = rule_base(tmp_path, **{"sources.yaml": text})
    line = text.count(b"\n")
    with pytest.raises(RuleError) as caught:
        load_knowledge_base(directory)
    assert str(caught.value) == (
        f"sources.yaml:{line}: YAML syntax: control characters are not allowed (U+0007)"
    )


def test_a_truncated_file_points_inside_it(tmp_path: Path) -> None:
    text = BASE["derived.yaml"]
    cut = text[: text.rindex(b"{") + 3]  # inside the last flow mapping
    directory = rule_base(tmp_path, **{"derived.yaml": cut})
    with pytest.raises(RuleError) as caught:
        load_knowledge_base(directory)
    assert caught.value.file == "derived.yaml"
    assert 1 <= caught.value.line <= len(cut.splitlines())


def test_lines_are_counted_as_editors_count_them(tmp_path: Path) -> None:
    """YAML also ends lines at U+2028 (pasted from web pages, say); editors do not."""
    text = (
        BASE["sources.yaml"]
        + '  pasted:\n    title: "one\u2028two"\n    author: A\n    year: 2024\n    colour: red\n'.encode()
    )
    directory = rule_base(tmp_path, **{"sources.yaml": text})
    with pytest.raises(RuleError, match="unknown key 'colour'") as caught:
        load_knowledge_base(directory)
    assert caught.value.line == text.count(b"\n")


def test_a_huge_flat_document_is_refused_quickly(tmp_path: Path) -> None:
    text = b"rules: [" + b"{}, " * 400_000 + b"]\n"
    directory = rule_base(tmp_path, **{"huge.yaml": text})
    start = time.process_time()
    with pytest.raises(RuleError, match=r"^huge\.yaml:1: more than \d+ values in one file"):
        load_knowledge_base(directory)
    assert time.process_time() - start < MAX_SECONDS


# --- rule bases the engine (durable_rules) cannot hold ------------------------------------------

COLOURS = 700
"""Values of an enum fact added for these tests: one rule per value gives many different tests
after one node, of which one fact can pass only one."""


def with_rules(tmp_path: Path, rules: list[str]) -> Path:
    """The shipped rule base plus a fact `colour` and `rules` (YAML flow mappings)."""
    colour = (
        "  - name: colour\n    type: enum\n    question: Which colour?\n"
        f"    values: [{', '.join(f'c{k}' for k in range(COLOURS))}]\n"
    )
    facts = BASE["facts.yaml"] + colour.encode()
    text = "rules:\n" + "".join(f"  - {rule}\n" for rule in rules)
    return rule_base(tmp_path, **{"facts.yaml": facts, "many.yaml": text.encode()})


def rule(k: int, when: str) -> str:
    return f"{{id: many-{k}, title: Rule {k}, when: {when}, then: {{advise: fired {k}}}}}"


CASES = {
    # one test per colour: more different tests after one node than durable_rules can look up
    "tests": ([rule(k, f"{{fact: colour, is: c{k}}}") for k in range(600)], "different tests"),
    # the same test in 300 rules: more patterns ending at one node than it can link
    "patterns": ([rule(k, "{fact: budget, below: 5k}") for k in range(300)], "patterns would end"),
    # 100 thresholds a small budget passes at once: more than its matching stack holds
    "stack": ([rule(k, f"{{fact: budget, below: '{k + 1}'}}") for k in range(100)], "at once"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_rule_base_too_large_for_durable_rules_is_refused_not_hung(
    tmp_path: Path, case: str
) -> None:
    rules, problem = CASES[case]
    directory = with_rules(tmp_path, rules)
    kb = load_knowledge_base(directory)
    try:
        with deadline(20), pytest.raises(RuleError, match=problem) as caught:
            Engine(kb)
    except Hang:
        pytest.fail("durable_rules hung instead of the rule base being refused")
    assert caught.value.file == "many.yaml"
    result = CliRunner().invoke(
        cli, ["recommend", "--rules", str(directory), "--no-audit", "--fact", "budget=5k"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: many.yaml:")


def test_just_under_durable_rules_limits_runs(tmp_path: Path) -> None:
    rules = [rule(k, f"{{fact: colour, is: c{k}}}") for k in range(420)]
    rules += [rule(1000 + k, "{fact: budget, below: 5k}") for k in range(200)]
    rules += [rule(2000 + k, f"{{fact: budget, below: '{k + 1}'}}") for k in range(20)]
    directory = with_rules(tmp_path, rules)
    kb = load_knowledge_base(directory)
    with deadline(20):
        engine = Engine(kb)
        for colour, budget in (("c0", "0"), ("c419", "1"), ("c699", "10k")):
            result = engine.evaluate(make_case(kb, {"colour": colour, "budget": budget}))
            fired = {f.rule_id for f in result.firings if f.rule_id.startswith("many-")}
            expected = {f"many-{colour[1:]}"} if int(colour[1:]) < 420 else set()
            if budget != "10k":
                expected |= {f"many-{1000 + k}" for k in range(200)}
                expected |= {f"many-{2000 + k}" for k in range(20) if float(budget) < k + 1}
            assert fired == expected
    assert engine.live_sessions == 0


@pytest.mark.parametrize(
    ("threshold", "below", "above"),
    [
        ("20000T", "19999T", "20001T"),
        ("1000000T", "999999T", "1000000T"),
        ("0.0002", "0.0001", "1"),
    ],
)
def test_thresholds_durable_rules_would_misread_work(
    tmp_path: Path, threshold: str, below: str, above: str
) -> None:
    """durable_rules' JSON reader takes no exponents, which Python writes for 1e16 and up."""
    rule = (
        "rules:\n  - id: extreme\n    title: Extreme threshold\n"
        f"    when: {{fact: budget, below: '{threshold}'}}\n    then: {{advise: under}}\n"
    ).encode()
    kb = load_knowledge_base(rule_base(tmp_path, **{"extreme.yaml": rule}))
    engine = Engine(kb)
    fired_below = engine.evaluate(make_case(kb, {"budget": below})).firings
    fired_above = engine.evaluate(make_case(kb, {"budget": above})).firings
    assert "extreme" in {f.rule_id for f in fired_below}
    assert "extreme" not in {f.rule_id for f in fired_above}
    assert engine.live_sessions == 0


# --- labels from the rule base in DOT, SVG and Mermaid ------------------------------------------

LABEL_PIECES = (
    '"',
    "'",
    "{",
    "}",
    "[",
    "]",
    "|",
    "<",
    ">",
    "&",
    "&amp;",
    "&#x41;",
    "#quot;",
    "#35;",
    "-->",
    "---",
    "%%",
    "<br/>",
    "<b>bold</b>",
    "<script>x</script>",
    "]]>",
    "\\",
    "\\N",
    "\\G",
    "\\l",
    "\\n",
    "\n",
    "\t",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "end",
    "subgraph",
    "classDef",
    "é",
    "日本語",
    "🙂",
)
label_text = st.lists(
    st.one_of(st.sampled_from(LABEL_PIECES), st.text(st.characters(blacklist_categories=("Cs",)))),
    min_size=1,
    max_size=6,
).map("".join)


def printable_words(text: str) -> str:
    """The characters of a label that must be seen in a drawing, whitespace removed."""
    return "".join(ch for ch in text if ch.isprintable() and not ch.isspace())


@pytest.mark.skipif(not HAVE_DOT, reason="needs Graphviz's dot")
@fuzz_settings(40)
@given(short=label_text, name=label_text)
def test_any_label_text_renders(
    tmp_path_factory: pytest.TempPathFactory, short: str, name: str
) -> None:
    if not short.strip() or not name.strip():
        return  # the loader wants non-empty text
    directory = tmp_path_factory.mktemp("labels") / "kb"
    facts = yaml.safe_load((KBS / "mini" / "facts.yaml").read_text())
    approaches = yaml.safe_load((KBS / "mini" / "approaches.yaml").read_text())
    facts["facts"][1]["short"] = short
    approaches["approaches"][0]["name"] = name
    files = {p.name: p.read_bytes() for p in (KBS / "mini").glob("*.yaml")}
    files["facts.yaml"] = yaml.safe_dump(facts, allow_unicode=True).encode()
    files["approaches.yaml"] = yaml.safe_dump(approaches, allow_unicode=True).encode()
    write_rule_base(directory, dict(files))
    kb = load_knowledge_base(directory)
    short, name = kb.fact("color").short, kb.approach("cheap").name  # as the loader read them
    dot = parse_dot(render(kb, Request("dot")).data.decode("utf-8"))
    _, mermaid = parse_mermaid(render(kb, Request("mermaid")).data.decode("utf-8"))
    assert set(dot.nodes) == set(mermaid.nodes)
    svg = render(kb, Request("svg")).data
    root = ET.fromstring(svg)  # well-formed XML
    drawn = "".join(el.text or "" for el in root.iter() if el.tag.endswith("}text"))
    for text in (short, name):
        assert printable_words(text) in printable_words(drawn), (text, drawn)


# --- rule bases stored in an altered audit store ------------------------------------------------


@pytest.mark.parametrize(
    "name", ["{outside}/escaped.yaml", "../escaped.yaml", "sub/escaped.yaml", "nul\0.yaml", "x.sh"]
)
def test_stored_rule_files_with_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    """A reviewer may be handed an altered store: replaying it writes nothing outside a
    temporary directory, whatever file names it claims."""
    store = tmp_path / "audit.db"
    runner = CliRunner()
    made = runner.invoke(
        cli, ["recommend", "--audit-db", str(store), "--json", "--fact", "budget=5k"]
    )
    assert made.exit_code == 0, made.output
    record = json.loads(made.stdout)["audit_id"]
    outside = tmp_path / "outside"
    outside.mkdir()
    with sqlite3.connect(store) as conn:
        conn.execute(
            "UPDATE rulebase_files SET name = ? WHERE name = 'combinations.yaml'",
            (name.format(outside=outside),),
        )
    for args in (["audit", "replay", record], ["explain", record], ["audit", "show", record]):
        result = runner.invoke(cli, [*args, "--audit-db", str(store)])
        assert result.exit_code == 1, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "not a plain .yaml file name" in result.stderr
    assert not list(outside.iterdir())
    assert not (tmp_path / "escaped.yaml").exists()
