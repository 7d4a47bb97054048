"""`llm-advisor batch`: the fast path agrees with tracing, streaming, bad input, atomic output."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import bad_input
from click.testing import CliRunner, Result

from llm_advisor.cli.main import cli
from llm_advisor.engine import batch
from llm_advisor.engine.batch import Decided, RowError, Values, Verdict, decide_rows
from llm_advisor.engine.batch import decide as batch_decide
from llm_advisor.engine.batch import trace as batch_trace
from llm_advisor.engine.language.facts import parse_value
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase
from llm_advisor.engine.language.quantity import WHOLE_UNITS, display

KBS = Path(__file__).parent / "kbs"
MINI = str(KBS / "mini")
OUTPUT = list(batch.OUTPUT_COLUMNS)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["batch", *args])


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- generated rows ---------------------------------------------------------------------------


def spellings(kb: KnowledgeBase) -> dict[str, list[object]]:
    """Per fact: values as people type them, in every band, plus blanks and bad values."""
    out: dict[str, list[object]] = {}
    for fact in kb.facts:
        if fact.type == "bool":
            good: list[object] = ["yes", "no", "Yes", "true", "0"]
        elif fact.type == "enum":
            good = [*fact.values, fact.values[0].upper(), fact.values[-1].replace("_", " ")]
        else:
            assert fact.unit is not None
            bounds = kb.thresholds(fact.name) or (1.0,)
            points = sorted({0.0, bounds[0] / 2, *bounds, *(b - 1 for b in bounds), bounds[-1] * 3})
            whole = fact.unit in WHOLE_UNITS  # half of a threshold of 1 is no count of tokens
            good = [
                display(p, fact.unit) for p in points if p >= 0 and (p.is_integer() or not whole)
            ]
            if fact.unit != "duration":
                good += [str(int(b)) for b in bounds]
        out[fact.name] = good
    return out


def test_spellings_are_valid_values(kb: KnowledgeBase) -> None:
    """The good spellings parse: a bad one in `portfolio` prints a row error, which the Ctrl-C
    test reads as output once a slow machine reaches its row before the interrupt."""
    for fact in kb.facts:
        for raw in spellings(kb)[fact.name]:
            parse_value(fact, raw)


def generated_rows(kb: KnowledgeBase, count: int, seed: int) -> Iterator[Values]:
    """Rows of raw values (schema order): mostly valid, some blank, a few bad."""
    rng = random.Random(seed)
    words = spellings(kb)
    for _ in range(count):
        row: list[object] = []
        for fact in kb.facts:
            draw = rng.random()
            if draw < 0.01:
                row.append(rng.choice(["", "unknown", " "]))
            elif draw < 0.015:
                row.append(rng.choice(["lots", "-5", "maybe", "12 parsecs"]))
            else:
                row.append(rng.choice(words[fact.name]))
        yield tuple(row)


def comparable(decided: Decided) -> tuple[object, ...]:
    """What must agree between the fast path and tracing (fired rules as a set)."""
    if isinstance(decided, RowError):
        return ("error", decided.message, decided.fact)
    ranking = tuple((r.approach, r.score, r.excluded, r.reasons) for r in decided.ranking)
    return (decided.recommendation, decided.combine_with, ranking, frozenset(decided.fired))


def same(values: Values) -> Values:
    return values


# --- the fast path agrees with inference ------------------------------------------------------


def test_fast_path_and_trace_agree_on_generated_rows(kb: KnowledgeBase) -> None:
    rows = list(generated_rows(kb, 10_000, seed=7))
    facts = kb.fact_names
    fast = [v for _, v in decide_rows(kb, facts, rows, same)]
    traced = [v for _, v in decide_rows(kb, facts, rows, same, trace=True, jobs=2)]
    assert len(fast) == len(traced) == len(rows)
    for row, a, b in zip(rows, fast, traced, strict=True):
        assert comparable(a) == comparable(b), row
    ways = {v.via for v in fast if isinstance(v, Verdict)}
    assert ways == {"diagram", "inference"}  # rows with unknown facts went to inference
    assert sum(isinstance(v, RowError) for v in fast) > 100
    assert {v.via for v in traced if isinstance(v, Verdict)} == {"inference"}


def test_traced_rules_are_in_firing_order(kb: KnowledgeBase) -> None:
    from llm_advisor.engine import recommend

    raw = {"problem_type": "both", "change_frequency": "weekly", "labeled_examples": "2k"}
    raw |= {"data_volume": "5M", "accuracy_need": "high", "budget": "$50k", "timeline": "3mo"}
    row = tuple(raw.get(name) for name in kb.fact_names)
    [(_, traced)] = decide_rows(kb, kb.fact_names, [row], same, typed=True, trace=True, jobs=1)
    assert isinstance(traced, Verdict)
    assert traced.fired == tuple(f.rule_id for f in recommend(kb, raw).firings)
    [(_, fast)] = decide_rows(kb, kb.fact_names, [row], same, typed=True)
    assert isinstance(fast, Verdict)
    order = {rule.id: r for r, rule in enumerate(kb.rules)}
    assert list(fast.fired) == sorted(fast.fired, key=order.__getitem__)


def test_a_subset_of_facts_and_typed_values(kb: KnowledgeBase) -> None:
    """Facts missing from the input are not given; 1, 1.0 and True are kept apart."""
    facts = ("needs_citations", "problem_type")
    rows: list[Values] = [(True, "knowledge"), (1.0, "knowledge"), (1, "knowledge")]
    fast = [v for _, v in decide_rows(kb, facts, rows, same, typed=True)]
    traced = [v for _, v in decide_rows(kb, facts, rows, same, typed=True, trace=True, jobs=1)]
    assert [comparable(v) for v in fast] == [comparable(v) for v in traced]
    assert isinstance(fast[0], Verdict) and isinstance(fast[2], Verdict)
    assert isinstance(fast[1], RowError) and fast[1].fact == "needs_citations"


# --- streaming --------------------------------------------------------------------------------


def endless(kb: KnowledgeBase, consumed: list[int]) -> Iterator[Values]:
    for i, row in enumerate(itertools.cycle(list(generated_rows(kb, 50, seed=1)))):
        consumed[0] = i + 1
        yield row


def test_fast_path_streams(kb: KnowledgeBase) -> None:
    consumed = [0]
    stream = decide_rows(kb, kb.fact_names, endless(kb, consumed), same)
    first = list(itertools.islice(stream, 1000))
    assert len(first) == 1000
    assert consumed[0] == 1000  # never reads ahead


def test_trace_streams_with_a_bounded_window(kb: KnowledgeBase) -> None:
    consumed = [0]
    stream = decide_rows(kb, kb.fact_names, endless(kb, consumed), same, trace=True, jobs=2)
    first = list(itertools.islice(stream, 10))
    assert len(first) == 10
    assert consumed[0] <= 2 * 2 * batch.CHUNK + batch.CHUNK


def test_memos_are_bounded(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_decide, "CACHE_SIZE", 16)
    decider = batch.Decider(kb, kb.fact_names)
    rows = list(generated_rows(kb, 200, seed=5))
    results = [decider.decide(row) for row in rows]
    assert len(decider.memo) <= 16
    assert all(len(memo) <= 16 for memo in decider._cells)
    assert len(decider._states) <= 16
    again = [v for _, v in decide_rows(kb, kb.fact_names, rows, same)]
    assert [comparable(v) for v in results] == [comparable(v) for v in again]


# --- formats ----------------------------------------------------------------------------------

CASES = (
    "id,problem_type,change_frequency,budget,timeline,needs_citations\n"
    "a,knowledge,weekly,$50k,6w,yes\n"
    "b,behavior,static,$5k,2w,no\n"
    "c,both,daily,,3mo,\n"
)


def test_csv_to_csv(tmp_path: Path, kb: KnowledgeBase) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    result = invoke(str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert header == [*CASES.splitlines()[0].split(","), *OUTPUT]
    rows = read_csv(text)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["budget"] == "$50k"  # input columns as read
    for row in rows:
        assert row["recommendation"] in kb.approach_ids
        assert row["error"] == ""
        approach, _, score = row["rank1"].partition(":")
        assert approach == row["recommendation"]
        assert score.lstrip("-").isdigit()
        assert all(rule in {r.id for r in kb.rules} for rule in row["fired"].split(";"))
    assert "3 rows" in result.stderr
    assert any(line.split() == ["errors", "0"] for line in result.stderr.splitlines())
    assert "deciding" not in result.stderr  # no progress bar when stderr is not a terminal


def test_summary_counts_per_approach(tmp_path: Path, kb: KnowledgeBase) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    result = invoke(str(source), "-o", str(tmp_path / "out.csv"))
    rows = read_csv((tmp_path / "out.csv").read_text(encoding="utf-8"))
    for approach in kb.approach_ids:
        count = sum(r["recommendation"] == approach for r in rows)
        assert any(line.split() == [approach, str(count)] for line in result.stderr.splitlines()), (
            result.stderr
        )
    assert "3 rows with unknown facts decided by Rete inference" in result.stderr


def test_stdout_keeps_the_input_format(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    as_csv = invoke(str(source))
    assert as_csv.exit_code == 0, as_csv.stderr
    assert [r["id"] for r in read_csv(as_csv.stdout)] == ["a", "b", "c"]
    lines = write(tmp_path / "cases.jsonl", '{"id": 1, "problem_type": "knowledge"}\n')
    as_jsonl = invoke(str(lines))
    assert as_jsonl.exit_code == 0, as_jsonl.stderr
    [obj] = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert obj["id"] == 1 and obj["problem_type"] == "knowledge"
    assert list(obj)[2:] == OUTPUT


def test_csv_to_jsonl_and_back(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    assert invoke(str(source), "-o", str(tmp_path / "out.jsonl")).exit_code == 0
    objects = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in objects] == ["a", "b", "c"]
    first = objects[0]
    assert isinstance(first["combine_with"], list) and isinstance(first["fired"], list)
    assert first["error"] is None
    assert first["rank1"].startswith(first["recommendation"] + ":")
    # JSON Lines to CSV: the columns are every key, in the order first seen.
    lines = '{"id": 1, "budget": 5000}\n{"problem_type": "both", "team": "x", "id": 2}\n'
    result = invoke(str(write(tmp_path / "in.jsonl", lines)), "-o", str(tmp_path / "o.csv"))
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "o.csv").read_text()
    assert text.splitlines()[0] == ",".join(["id", "budget", "problem_type", "team", *OUTPUT])
    rows = read_csv(text)
    assert [(r["id"], r["budget"], r["team"]) for r in rows] == [("1", "5000", ""), ("2", "", "x")]


def test_fast_and_trace_cli_give_the_same_output(tmp_path: Path, kb: KnowledgeBase) -> None:
    rows = list(generated_rows(kb, 300, seed=11))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["n", *kb.fact_names])
    writer.writerows([i, *row] for i, row in enumerate(rows))
    source = write(tmp_path / "many.csv", buffer.getvalue())
    fast = invoke(str(source), "-o", str(tmp_path / "fast.csv"))
    traced = invoke(str(source), "--trace", "--jobs", "2", "-o", str(tmp_path / "traced.csv"))
    assert fast.exit_code == traced.exit_code == 0, fast.stderr + traced.stderr
    a = read_csv((tmp_path / "fast.csv").read_text())
    b = read_csv((tmp_path / "traced.csv").read_text())
    assert len(a) == len(b) == 300
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "fired"} == {
            k: v for k, v in y.items() if k != "fired"
        }
        assert sorted(x["fired"].split(";")) == sorted(y["fired"].split(";"))
    assert fast.stderr.splitlines()[:6] == traced.stderr.splitlines()[:6]  # the same counts


def test_real_processes(tmp_path: Path) -> None:
    """The installed command, in real processes, on both paths; summary on stderr only."""
    source = write(tmp_path / "cases.csv", CASES)
    outputs = []
    for extra in ([], ["--trace"]):
        done = subprocess.run(
            [sys.executable, "-m", "llm_advisor", "batch", str(source), *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert "3 rows" in done.stderr
        rows = read_csv(done.stdout)
        outputs.append([(r["id"], r["recommendation"], r["rank1"], r["rank2"]) for r in rows])
    assert outputs[0] == outputs[1]


def test_other_rule_base(tmp_path: Path) -> None:
    source = write(tmp_path / "mini.csv", "size,urgent,color\n2M,yes,\n2k,no,blue\n")
    result = invoke(str(source), "--rules", MINI)
    assert result.exit_code == 0, result.stderr
    rows = read_csv(result.stdout)
    assert [r["recommendation"] for r in rows] == ["fancy", "cheap"]
    assert rows[0]["combine_with"] == "cheap"
    assert rows[0]["rank1"] == "fancy:3" and rows[1]["rank2"] == "fancy:excluded"
    assert rows[0]["fired"] == "big;big-and-urgent;pressing-fancy"


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    bad_input(invoke(str(tmp_path / "nope.csv")), "nope.csv")


def test_unknown_extension(tmp_path: Path) -> None:
    bad_input(invoke(str(write(tmp_path / "cases.txt", CASES))), "cases.txt", ".csv")
    source = write(tmp_path / "cases.csv", CASES)
    bad_input(invoke(str(source), "-o", str(tmp_path / "out.xlsx")), "out.xlsx")


def test_jobs_without_trace(tmp_path: Path) -> None:
    """--jobs sizes the worker pool of --trace; alone it would be ignored."""
    source = write(tmp_path / "cases.csv", CASES)
    bad_input(invoke(str(source), "--jobs", "2", "-o", str(tmp_path / "out.csv")), "--jobs")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("name, content", [("e.csv", ""), ("e.csv", "\n\n"), ("e.jsonl", "\n")])
def test_empty_file(tmp_path: Path, name: str, content: str) -> None:
    bad_input(invoke(str(write(tmp_path / name, content))), name, "empty")


@pytest.mark.parametrize("text", ["id,team\n1,x\n", "recommendation,team\nx,y\n"])
def test_header_without_facts(tmp_path: Path, text: str) -> None:
    """One line: no warning about a replaced output column before the error."""
    source = write(tmp_path / "cases.csv", text)
    bad_input(invoke(str(source)), "cases.csv:1", "no fact")


@pytest.mark.parametrize("header", ["name,timline", "timline", "recommendation,timline"])
def test_a_misspelt_column_is_named_even_without_any_fact(tmp_path: Path, header: str) -> None:
    """The README's own example: with no correctly spelt fact beside it, the misspelling is
    still what is reported, not the generic "names no fact"."""
    source = write(tmp_path / "cases.csv", f"{header}\n{'x,' * header.count(',')}3w\n")
    line = bad_input(invoke(str(source)), "cases.csv:1", "timline")
    assert "did you mean timeline?" in line and "no fact" not in line


def test_duplicate_column(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", "budget,budget\n5k,6k\n")
    bad_input(invoke(str(source)), "budget", "twice")


def test_header_not_utf8(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", b"budget,t\xffeam\n5k,x\n")
    bad_input(invoke(str(source)), "UTF-8")


@pytest.mark.parametrize(
    ("column", "fact"),
    [
        ("budgt", "budget"),
        ("problemtype", "problem_type"),
        ("timline", "timeline"),
        ("Problem-Type", "problem_type"),
        ("BUDGET", "budget"),
    ],
)
def test_misspelt_column_stops_the_run(tmp_path: Path, column: str, fact: str) -> None:
    """A column close to a fact's name (edit distance, case, `-`/`_`) would have every row decided
    without that fact: exit 2 naming the column and the fact, before any row is decided."""
    source = write(tmp_path / "cases.csv", f"team,{column},change_frequency\nx,5k,weekly\n")
    for extra in ([], ["--strict"], ["--trace", "--jobs", "1"]):
        line = bad_input(invoke(str(source), "-o", str(tmp_path / "out.csv"), *extra), column)
        assert f"did you mean {fact}?" in line and "nothing was decided" in line
        assert not (tmp_path / "out.csv").exists()


def test_misspelt_key_on_a_late_json_line(tmp_path: Path) -> None:
    lines = ['{"problem_type": "knowledge"}'] * 50 + ['{"problem_type": "both", "timline": "3w"}']
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    line = bad_input(
        invoke(str(source), "-o", str(tmp_path / "out.jsonl")), "in.jsonl:51", "timline"
    )
    assert "did you mean timeline?" in line
    assert not (tmp_path / "out.jsonl").exists()


def test_other_unknown_columns_pass_through(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", "team,notes,problem_type\nx,y,knowledge\n")
    result = invoke(str(source))
    assert result.exit_code == 0, result.stderr
    assert "team" not in result.stderr and "notes" not in result.stderr
    [row] = read_csv(result.stdout)
    assert (row["team"], row["notes"]) == ("x", "y")


def test_strict_says_what_it_did(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", "problem_type,budget\nknowledge,5k\nknowledge,lots\n")
    line = bad_input(invoke(str(source), "--strict"), "cases.csv:3", "lots")
    assert "stopped at the first bad row" in line and "nothing was written" in line
    assert "passed through" not in line


def test_output_columns_in_the_input_are_replaced(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", "problem_type,recommendation\nknowledge,old\n")
    result = invoke(str(source))
    assert result.exit_code == 0, result.stderr
    assert "'recommendation' is replaced" in result.stderr
    assert result.stdout.splitlines()[0] == ",".join(["problem_type", *OUTPUT])
    [row] = read_csv(result.stdout)
    assert row["recommendation"] != "old"


BAD_ROWS = (
    "id,budget,problem_type\n"
    "1,$5k,knowledge\n"
    "2,lots,knowledge\n"  # line 3: bad value
    "3,$5k\n"  # line 4: too few fields
    '"4\nfour",$5k,weird\n'  # lines 5-6: a quoted line break, then a bad enum value
    "5,$5k,both,extra\n"  # line 7: too many fields
    "6,$5k,behavior\n"
)


def test_bad_rows_are_reported_and_kept(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path / "cases.csv", BAD_ROWS)), "-o", str(tmp_path / "o.csv"))
    assert result.exit_code == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "cases.csv:" in line]
    assert len(errors) == 4, result.stderr
    assert "cases.csv:3:" in errors[0] and "budget" in errors[0] and "lots" in errors[0]
    assert "cases.csv:4:" in errors[1] and "expected 3 fields, found 2" in errors[1]
    assert "cases.csv:5:" in errors[2] and "problem_type" in errors[2]
    assert "cases.csv:7:" in errors[3] and "found 4" in errors[3]
    rows = read_csv((tmp_path / "o.csv").read_text())
    assert [r["id"] for r in rows] == ["1", "2", "3", "4\nfour", "5", "6"]
    assert [bool(r["error"]) for r in rows] == [False, True, True, True, True, False]
    assert rows[1]["recommendation"] == "" and "lots" in rows[1]["error"]
    assert rows[2]["budget"] == "$5k" and rows[2]["problem_type"] == ""  # padded
    assert any(line.split() == ["errors", "4"] for line in result.stderr.splitlines())


def test_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", BAD_ROWS)
    target = write(tmp_path / "out.csv", "old contents\n")
    result = invoke(str(source), "--strict", "-o", str(target))
    bad_input(result, "cases.csv:3", "budget", "lots")
    assert target.read_text() == "old contents\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "out.csv"]


def test_strict_with_good_input(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path / "cases.csv", CASES)), "--strict")
    assert result.exit_code == 0, result.stderr


def test_not_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8: an error in a fact's value, passed through elsewhere."""
    content = b"team,budget,problem_type\nt\xe9am,$5k,knowledge\nok,$5\xffk,knowledge\n"
    source = write(tmp_path / "cases.csv", content)
    result = invoke(str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.stderr
    [error] = [line for line in result.stderr.splitlines() if "cases.csv:" in line]
    assert "cases.csv:3:" in error and "budget" in error and "UTF-8" in error
    out = (tmp_path / "out.csv").read_bytes()
    assert b"\nt\xe9am,$5k,knowledge," in out  # byte for byte
    assert b"\nok,$5\xffk,knowledge,,,,,,," in out
    # JSON output must be valid UTF-8: bytes that were not are mended.
    assert invoke(str(source), "-o", str(tmp_path / "out.jsonl")).exit_code == 0
    objects = [
        json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()
    ]
    assert objects[0]["team"] == "t\ufffdam" and objects[0]["error"] is None
    assert "UTF-8" in objects[1]["error"]


def test_bad_json_lines(tmp_path: Path) -> None:
    lines = [
        '{"budget": "$5k", "problem_type": "knowledge"}',
        "",
        "{not json",
        "[1, 2]",
        '{"budget": {"amount": 5}}',
        '{"id": 7}',
        '{"budget": "lots"}',
        '{"problem_type": "both", "team": 5}',
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines).encode() + b"\n\xff\xfe\n")
    result = invoke(str(source))
    assert result.exit_code == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "in.jsonl:" in line]
    expected = [
        ("in.jsonl:3:", "not valid JSON"),
        ("in.jsonl:4:", "JSON object"),
        ("in.jsonl:5:", "budget"),
        ("in.jsonl:6:", "no fact"),
        ("in.jsonl:7:", "lots"),
        ("in.jsonl:9:", "UTF-8"),
    ]
    assert len(errors) == len(expected), result.stderr
    for line, (where, what) in zip(errors, expected, strict=True):
        assert where in line and what in line, line
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 8
    assert [o["error"] is None for o in objects] == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
    ]


def strict_json(line: str) -> Any:
    """Parse a line as strict JSON: `NaN` and `Infinity` are errors."""

    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def decided_lines(result: Result) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines of stderr that report a row, and the output objects (strict JSON)."""
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "in.jsonl:" in line]
    objects = [strict_json(line) for line in result.stdout.splitlines()]
    assert all(isinstance(o, dict) for o in objects)
    return errors, objects


def test_deeply_nested_json_is_a_row_error(tmp_path: Path) -> None:
    def nested(depth: int) -> str:
        return "[" * depth + "]" * depth

    lines = [
        '{"problem_type": "knowledge"}',
        f'{{"x": {nested(100_000)}, "problem_type": "knowledge"}}',  # beyond the recursion limit
        f'{{"x": {nested(150)}, "problem_type": "knowledge"}}',  # beyond MAX_DEPTH
        f'{{"x": {nested(batch.MAX_DEPTH - 1)}, "problem_type": "behavior"}}',  # the limit
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    errors, objects = decided_lines(invoke(str(source)))
    assert [e.split(": ", 1)[0] for e in errors] == [f"{source}:2", f"{source}:3"]
    assert all("nested" in e for e in errors)
    assert [o["error"] is None for o in objects] == [True, False, False, True]
    assert objects[3]["x"] == json.loads(nested(batch.MAX_DEPTH - 1))
    as_csv = invoke(str(source), "-o", str(tmp_path / "out.csv"))  # reads every row twice
    assert as_csv.exit_code == 0, as_csv.stderr
    assert len(read_csv((tmp_path / "out.csv").read_text())) == 4
    bad_input(invoke(str(source), "--strict"), "in.jsonl:2", "nested")


def test_unpaired_surrogates_are_row_errors(tmp_path: Path) -> None:
    lines = [
        r'{"problem_type": "knowledge", "n": "\ud800"}',
        r'{"problem_type": "knowledge", "\udc00x": 1}',
        r'{"problem_type": "knowle\ud800dge"}',
        r'{"problem_type": "knowledge", "n": ["a", {"b": "\udfff"}]}',
        r'{"problem_type": "knowledge", "n": "\ud83d\ude00 \\ud800"}',  # a pair; a backslash
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    errors, objects = decided_lines(invoke(str(source)))
    assert [e.split(": ", 1)[0] for e in errors] == [f"{source}:{n}" for n in (1, 2, 3, 4)]
    assert all("surrogate" in e for e in errors)
    assert [o["error"] is None for o in objects] == [False, False, False, False, True]
    assert objects[4]["n"] == "\U0001f600 \\ud800"
    as_csv = invoke(str(source), "-o", str(tmp_path / "out.csv"))
    assert as_csv.exit_code == 0, as_csv.stderr
    header = (tmp_path / "out.csv").read_text("utf-8").splitlines()[0]
    assert header == ",".join(["problem_type", "n", *OUTPUT])
    bad_input(invoke(str(source), "--strict"), "in.jsonl:1", "surrogate")


def test_non_finite_numbers_are_row_errors(tmp_path: Path) -> None:
    """Python reads them, but they are not JSON and could only be written back as `NaN`."""
    lines = [
        '{"problem_type": "knowledge", "n": 1e400}',
        '{"problem_type": "knowledge", "n": NaN}',
        '{"problem_type": "knowledge", "n": [Infinity]}',
        '{"problem_type": "knowledge", "n": -Infinity}',
        '{"problem_type": "knowledge", "budget": -1e999}',
        '{"problem_type": "knowledge", "n": 1e-400, "m": 1.5e300}',
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    errors, objects = decided_lines(invoke(str(source)))
    assert [e.split(": ", 1)[0] for e in errors] == [f"{source}:{n}" for n in range(1, 6)]
    assert "number out of range: 1e400" in errors[0] and "-1e999" in errors[4]
    assert all("not valid JSON" in e for e in errors)
    assert (objects[5]["n"], objects[5]["m"], objects[5]["error"]) == (0.0, 1.5e300, None)
    as_csv = invoke(str(source), "-o", str(tmp_path / "out.csv"))
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = read_csv((tmp_path / "out.csv").read_text())
    assert [r["n"] for r in rows] == ["", "", "", "", "", "0.0"]
    bad_input(invoke(str(source), "--strict"), "in.jsonl:1", "out of range")


def test_duplicate_json_keys_are_row_errors(tmp_path: Path) -> None:
    lines = [
        '{"problem_type": "knowledge", "problem_type": "behavior"}',
        '{"problem_type": "both", "meta": {"a": 1, "a": 2}}',
        '{"problem_type": "both", "meta": [{"a": 1}, {"a": 2}]}',
    ]
    source = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    errors, objects = decided_lines(invoke(str(source)))
    assert len(errors) == 2
    assert f"{source}:1:" in errors[0] and "'problem_type' appears twice" in errors[0]
    assert f"{source}:2:" in errors[1] and "'a' appears twice" in errors[1]
    assert [o["error"] is None for o in objects] == [False, False, True]
    bad_input(invoke(str(source), "--strict"), "in.jsonl:1", "problem_type", "twice")


@pytest.mark.parametrize(
    "content, line",
    [
        ('problem_type,notes\nknowledge,"abc\nbehavior,y\n', 2),
        ('problem_type,notes\nknowledge,x\r\nboth,"a""b\r\n\r\nbehavior,y', 3),
        ('problem_type,notes\nknowledge,"a\nb"\nbehavior,"y\n\n', 4),  # a record of two lines
        ('problem_type,notes\n"x\ny","a\nb\n', 3),  # the field opens on the record's 2nd line
        ('problem_type,"notes\nknowledge,x\n', 1),  # in the header
    ],
)
def test_unclosed_quote_in_csv(tmp_path: Path, content: str, line: int) -> None:
    """The rest of the file would be one value: the whole input is bad, naming the line where
    the quoted field started; the output is not written."""
    source = write(tmp_path / "cases.csv", content)
    target = write(tmp_path / "out.csv", "old\n")
    result = invoke(str(source), "-o", str(target))
    message = bad_input(result, f"cases.csv:{line}:", "never closed")
    assert message.endswith(
        f"cases.csv:{line}: the quoted field that starts on this line is never closed"
    )
    assert target.read_text() == "old\n"


def test_quoted_line_breaks_at_the_end_of_a_csv(tmp_path: Path) -> None:
    for end in ("", "\n", "\r\n"):
        source = write(tmp_path / "cases.csv", f'problem_type,notes\nknowledge,"a\nb ""c"""{end}')
        result = invoke(str(source))
        assert result.exit_code == 0, result.stderr
        [row] = read_csv(result.stdout)
        assert row["notes"] == 'a\nb "c"' and row["error"] == ""


# --- atomic output ----------------------------------------------------------------------------


def test_failure_midway_leaves_no_output(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = "".join(f"{i},knowledge,$5k\n" for i in range(5000))
    source = write(tmp_path / "cases.csv", "id,problem_type,budget\n" + rows)
    target = write(tmp_path / "out.csv", "old\n")
    real = batch.Decider.decide
    calls = [0]

    def failing(self: batch.Decider, values: Values) -> Decided:
        calls[0] += 1
        if calls[0] == 3000:
            raise OSError(28, "No space left on device")
        return real(self, values)

    monkeypatch.setattr(batch.Decider, "decide", failing)
    result = invoke(str(source), "-o", str(target))
    assert result.exit_code == 1, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "out.csv"]
    calls[0] = 0
    fresh = invoke(str(source), "-o", str(tmp_path / "new.csv"))
    assert fresh.exit_code == 1
    assert not (tmp_path / "new.csv").exists()


def test_output_directory_missing(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    bad_input(invoke(str(source), "-o", str(tmp_path / "no" / "out.csv")), "out.csv")


def test_output_may_replace_the_input(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    result = invoke(str(source), "-o", str(source))
    assert result.exit_code == 0, result.stderr
    assert [r["id"] for r in read_csv(source.read_text())] == ["a", "b", "c"]
    assert oct(source.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


@pytest.mark.parametrize(
    "name, content",
    [
        ("plan.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        ("audit.jsonl", b"SQLite format 3\0" + bytes(100)),
        ("image.csv", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        ("data.jsonl", bytes(range(256))),
    ],
)
def test_output_never_replaces_another_kind_of_file(
    tmp_path: Path, name: str, content: bytes
) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    target = write(tmp_path / name, content)
    bad_input(invoke(str(source), "-o", str(target)), name, "refusing to replace")
    assert target.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cases.csv", name])


def test_output_through_a_symbolic_link(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    real = write(tmp_path / "real.jsonl", '{"old": 1}\n')
    (tmp_path / "link.jsonl").symlink_to(real)
    result = invoke(str(source), "-o", str(tmp_path / "link.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "link.jsonl").is_symlink()
    objects = [json.loads(line) for line in real.read_text().splitlines()]
    assert [o["id"] for o in objects] == ["a", "b", "c"]


def test_output_to_a_directory(tmp_path: Path) -> None:
    source = write(tmp_path / "cases.csv", CASES)
    (tmp_path / "out.csv").mkdir()
    bad_input(invoke(str(source), "-o", str(tmp_path / "out.csv")), "out.csv", "directory")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _die(chunk: object) -> None:
    os._exit(3)


def test_a_dying_worker_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_trace, "_trace_chunk", _die)
    source = write(tmp_path / "cases.csv", CASES)
    result = invoke(str(source), "--trace", "--jobs", "2", "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1, result.stderr
    assert "worker process" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]


# --- progress ---------------------------------------------------------------------------------


def test_progress_bar_on_a_terminal_only(tmp_path: Path, kb: KnowledgeBase) -> None:
    pexpect = pytest.importorskip("pexpect")
    rows = "".join(f"{i},knowledge,$5k\n" for i in range(3000))
    source = write(tmp_path / "cases.csv", "id,problem_type,budget\n" + rows)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llm_advisor", "batch", str(source), "-o", str(tmp_path / "out.csv")],
        encoding="utf-8",
        timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "deciding" in child.before and "3,000 rows" in child.before


# --- interrupts -------------------------------------------------------------------------------

_REAL_TRACE_CHUNK = batch_trace._trace_chunk


def _interrupted_chunk(chunk: list[Values | RowError]) -> list[Decided]:
    os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does to every process of the terminal's group
    return _REAL_TRACE_CHUNK(chunk)


def test_workers_ignore_ctrl_c(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C is the parent's to handle: a worker must not fail its chunk (or die, printing a
    traceback of its own)."""
    monkeypatch.setattr(batch_trace, "_trace_chunk", _interrupted_chunk)
    rows = list(generated_rows(kb, 3 * batch.CHUNK, seed=3))
    try:
        decided = list(decide_rows(kb, kb.fact_names, rows, same, trace=True, jobs=2))
    except KeyboardInterrupt:
        pytest.fail("a worker process was interrupted")
    assert len(decided) == len(rows)


def portfolio(kb: KnowledgeBase, count: int) -> str:
    """CSV rows with valid values and `problem_type` left blank: every row goes to inference,
    on the fast path too, so that a run takes seconds."""
    rng = random.Random(5)
    words = spellings(kb)
    facts = [f.name for f in kb.facts if f.name != "problem_type"]
    lines = [",".join(["problem_type", *facts])]
    lines += [",".join(["", *(str(rng.choice(words[f])) for f in facts)]) for _ in range(count)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("extra", [[], ["--trace", "--jobs", "2"]])
def test_ctrl_c_midway(tmp_path: Path, kb: KnowledgeBase, extra: list[str]) -> None:
    """Ctrl-C in a terminal, once rows are being decided: exit 130, one line, no output."""
    pexpect = pytest.importorskip("pexpect")
    source = write(tmp_path / "cases.csv", portfolio(kb, 8 * batch.PROGRESS_EVERY))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llm_advisor", "batch", str(source), "-o", str(tmp_path / "out.csv"), *extra],
        encoding="utf-8",
        timeout=120,
    )
    child.expect(r"\] +[1-9]\d*%")  # the first progress report: 1,024 rows decided
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\^C", "", child.before)  # terminal controls, echo
    lines = [
        line
        for line in re.split(r"[\r\n]+", text)
        if re.search("[A-Za-z]", line) and not line.startswith("deciding")  # the bar
    ]
    assert child.exitstatus == 130, child.before
    assert lines == ["Interrupted."], child.before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]


def test_a_blank_cell_means_unknown(tmp_path: Path) -> None:
    """In a survey a blank cell is how "don't know" is written (where `recommend` refuses an
    empty value): the row is decided as if the fact were left out, in CSV and JSON Lines."""
    blank = write(tmp_path / "blank.csv", "problem_type,budget,timeline\nknowledge,,3w\n")
    left_out = write(tmp_path / "left_out.csv", "problem_type,timeline\nknowledge,3w\n")
    lines = '{"problem_type": "knowledge", "budget": "", "timeline": "3w"}\n'
    lines += '{"problem_type": "knowledge", "budget": null, "timeline": "3w"}\n'
    jsonl = write(tmp_path / "blank.jsonl", lines)
    [expected] = read_csv(invoke(str(left_out)).stdout)
    [row] = read_csv(invoke(str(blank)).stdout)
    assert row["error"] == "" and row["budget"] == ""
    objects = [json.loads(line) for line in invoke(str(jsonl)).stdout.splitlines()]
    for got in [row, *objects]:
        assert got["recommendation"] == expected["recommendation"] != ""
        assert (got["rank1"], got["rank2"]) == (expected["rank1"], expected["rank2"])
