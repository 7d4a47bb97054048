"""Fuzzing every input path of the command line: nothing a user types gives a traceback.

`--fact` assignments, `--facts` files (and standard input), batch rows, consultation answers
piped to `consult`, audit ids (`audit show`, `audit replay`, `explain ID`,
`diagram --highlight`) and audit filters get random strings, unicode, control characters,
huge and negative numbers, empty values and wrong types. Each run must end with exit code 0 or
2 (1 where the command defines it: a consultation whose input ends early), never a traceback,
and exit 2 always with exactly one line on stderr. Random *valid* fact sets must give exactly one
recommendation, and the decision diagram must agree with inference on every complete one.

`FUZZ_SCALE` multiplies the number of examples (`make fuzz` sets it); by default the examples
are the same on every run (derandomized), so the suite is deterministic.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from fuzz import fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from llm_advisor.cli.main import cli
from llm_advisor.engine.analysis.diagram import load_diagram
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.verification import full_case
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import display_value, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import Value
from llm_advisor.engine.language.quantity import MAX_VALUE, MIN_VALUE, WHOLE_UNITS

KB = load_knowledge_base()
APPROACHES = set(KB.approach_ids)
fuzz = fuzz_settings


# --- running commands and checking the contract -----------------------------------------------


def run(args: Sequence[str], stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def check(result: Result, allowed: frozenset[int] = frozenset({0, 2})) -> None:
    """No traceback; an allowed exit code; exit 2 with exactly one line on stderr."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in allowed, (result.exit_code, result.stderr)
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("Error: "), lines[0]


# --- strategies ---------------------------------------------------------------------------------

NASTY = (
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "\x1b[2J",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\udcff",
    "🙂",
    "ünïcødé",
    "١٢٣",
    "１２３",
    "'",
    '"',
    "\\",
    "=",
    "==",
    "-",
    "--fact",
    "$",
    "$-5k",
    "-1",
    "-0",
    "0",
    "0.0",
    "-0.0",
    "1e999",
    "1e-999",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "5.k",
    ".5k",
    "0.00001",
    "99999999999999999999999999999",
    "20000T",
    "1000000T",
    "1000001T",
    "2024-01-01",
    "2024-13-45",
    "9999-12-31 23:59:59 +99:00",
    "1:30:00",
    "3 weeks",
    "3 fortnights",
    "1e3d",
    "yes",
    "YES",
    "no",
    "true",
    "unknown",
    "?",
    "null",
    "~",
    "[1, 2]",
    "{a: 1}",
    "!!python/object/apply:os.system ['true']",
    "'; DROP TABLE records; --",
    "x" * 5000,
)

nasty = st.sampled_from(NASTY)
words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x1FFFF), max_size=40
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0, max_value=2 * MAX_VALUE).map(lambda v: f"{v:f}"),
)
quantity_like = st.builds(
    lambda prefix, number, space, suffix: f"{prefix}{number}{space}{suffix}",
    st.sampled_from(["", "$", "-", "+", "$$"]),
    st.one_of(
        st.integers(min_value=0, max_value=10**20).map(str),
        st.decimals(min_value=0, max_value=10**6, places=6).map(str),
    ),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(["", "k", "K", "m", "M", "b", "B", "t", "T", "x", "d", "w", "mo", "y", "days"]),
)
valid_words = st.sampled_from(
    sorted({v for f in KB.facts for v in f.values} | {"yes", "no", "150k", "$50k", "3w", "4mo"})
)
values = st.one_of(nasty, words, numbers, quantity_like, valid_words)
names = st.one_of(st.sampled_from(KB.fact_names), nasty, words)


# --- recommend --fact ---------------------------------------------------------------------------


@fuzz(200)
@given(st.lists(st.tuples(names, values), min_size=1, max_size=4))
@example([("budget", "20000T")])
@example([("budget", "0.00001")])
@example([("timeline", "0.0001d"), ("budget", "1000000T")])
@example([("data_volume", "x\ny")])
def test_recommend_fact_assignments(pairs: list[tuple[str, str]]) -> None:
    args = ["recommend", "--no-audit", "--json"]
    for name, value in pairs:
        args += ["--fact", f"{name}={value}"]
    result = run(args)
    check(result)
    if result.exit_code == 0:
        data = json.loads(result.stdout)
        assert data["recommendation"] in APPROACHES


@fuzz(100)
@given(st.lists(st.one_of(nasty, words), min_size=1, max_size=3))
def test_recommend_malformed_assignments(texts: list[str]) -> None:
    args = ["recommend", "--no-audit"]
    for text in texts:
        args += ["--fact", text]
    check(run(args))


# --- --facts files ------------------------------------------------------------------------------

scalars = st.one_of(
    values,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
keys = st.one_of(names, words)
documents = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(keys, scalars, max_size=4),
    st.lists(st.lists(scalars, max_size=2), max_size=2),
    st.dictionaries(
        keys,
        st.one_of(st.lists(scalars, max_size=2), st.dictionaries(keys, scalars, max_size=2)),
        max_size=3,
    ),
)
fact_maps = st.dictionaries(names, st.one_of(scalars, documents), max_size=6)


def as_text(doc: object, style: str) -> str:
    if style == "json":
        return json.dumps(doc, ensure_ascii=False)
    return yaml.safe_dump(doc, allow_unicode=True)


@fuzz(150)
@given(st.one_of(fact_maps, documents), st.sampled_from(["yaml", "json"]))
def test_facts_documents_on_stdin(doc: object, style: str) -> None:
    try:
        text = as_text(doc, style)
    except (ValueError, yaml.YAMLError):  # not representable (e.g. NaN in strict JSON)
        return
    result = run(["recommend", "--no-audit", "--facts", "-"], text.encode("utf-8", "surrogatepass"))
    check(result)


RAW_DOCUMENTS = (
    b"",
    b"\xff\xfe\x00",
    b"budget: '\x00'",
    b"budget: \x07",
    b"budget: !!python/object/apply:os.system ['echo executed']",
    b"!!python/object:builtins.dict {}",
    b"budget: !!binary aGVsbG8=",
    b"budget: 2024-13-45",
    b"timeline: 9999-12-31 23:59:59 +99:00",
    b"2024-13-45: 1",
    b"a: &x 1\nb: *x",
    b"a: &a [1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b]",
    b"[" * 5000,
    b"{budget: 5k, budget: 6k}",
    b"budget: 5k\n---\nbudget: 6k\n",
    b"\xef\xbb\xbfbudget: 5k",
    b"budget: [5k",
    b"budget: 5k\n\tproblem_type: x",
)


@fuzz(150)
@given(st.one_of(st.sampled_from(RAW_DOCUMENTS), st.binary(max_size=300), words.map(str.encode)))
def test_facts_files_of_any_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("facts") / "case.yaml"
    path.write_bytes(data)
    check(run(["recommend", "--no-audit", "--facts", str(path)]))
    check(run(["recommend", "--no-audit", "--facts", "-"], data))


def test_facts_file_names_that_break_lines_give_one_line() -> None:
    for name in ("missing\nfile.yaml", "missing\rfile", "missing\u2028file", "\udcff.yaml"):
        result = run(["recommend", "--facts", name])
        check(result)
        assert result.exit_code == 2


# --- batch rows ---------------------------------------------------------------------------------

cells = st.one_of(values, st.just(""))
columns = st.lists(st.one_of(st.sampled_from(KB.fact_names), words), min_size=1, max_size=5)


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def data_rows(text: str) -> list[list[str]]:
    """The records of a CSV text after its header, blank lines left out."""
    return [row for row in list(csv.reader(io.StringIO(text)))[1:] if row]


@fuzz(80)
@given(columns, st.lists(st.lists(cells, max_size=6), max_size=6), st.booleans())
def test_batch_csv_rows(
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    strict: bool,
) -> None:
    if not any(name in KB.fact_names for name in header):
        header = [*header, "budget"]
    text = csv_text([header, *rows])
    if "\x00" in text or "\udcff" in text:
        return  # the csv module reading the output cannot take these back
    folder = tmp_path_factory.mktemp("batch")
    source, target = folder / "in.csv", folder / "out.csv"
    source.write_text(text, encoding="utf-8", newline="")
    result = run(["batch", str(source), "-o", str(target), *(["--strict"] if strict else [])])
    check(result)
    if result.exit_code != 0:
        assert not target.exists()  # nothing half-written
        return
    reader = csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"), newline=""))
    written = list(reader)
    assert len(written) == len(data_rows(text))  # no row lost, none invented
    facts = [name for name in reader.fieldnames or () if name in KB.fact_names]
    for row in written:
        if row["error"]:
            assert not row["recommendation"]
            continue
        assert row["recommendation"] in APPROACHES
        given_facts = {name: row[name] for name in facts}
        expected = evaluate(KB, make_case(KB, given_facts))
        assert row["recommendation"] == expected.recommendation, given_facts


@fuzz(60)
@given(st.lists(st.one_of(fact_maps, documents, words), max_size=6))
def test_batch_jsonl_rows(tmp_path_factory: pytest.TempPathFactory, objects: list[Any]) -> None:
    lines = []
    for obj in objects:
        try:
            lines.append(json.dumps(obj, ensure_ascii=False) if not isinstance(obj, str) else obj)
        except ValueError:
            lines.append("{")
    folder = tmp_path_factory.mktemp("batch")
    source, target = folder / "in.jsonl", folder / "out.jsonl"
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    source.write_bytes(data)
    result = run(["batch", str(source), "-o", str(target)])
    check(result)
    if result.exit_code == 0:
        written = target.read_text(encoding="utf-8").split("\n")[:-1]
        assert len(written) == sum(1 for line in data.split(b"\n") if line.strip())
        for line in written:
            row = json.loads(line)
            assert bool(row["error"]) != (row["recommendation"] in APPROACHES)


# --- consultation answers -----------------------------------------------------------------------

answers = st.one_of(
    values,
    st.sampled_from(["?", "help", "why", "back", "unknown", "u", "1", "2", "3", "4", "99", "0"]),
)


@fuzz(60)
@given(st.lists(answers, max_size=25), st.booleans())
def test_consult_with_piped_answers(lines: list[str], as_json: bool) -> None:
    text = "".join(line.replace("\n", " ").replace("\r", " ") + "\n" for line in lines)
    stdin = text.encode("utf-8", "surrogatepass")  # bytes that are not UTF-8, too
    result = run(["consult", "--no-audit", *(["--json"] if as_json else [])], stdin)
    check(result, frozenset({0, 1}))
    if result.exit_code == 1:
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .startswith(("Input ended", "Consultation stopped"))
        ), result.stderr
    elif as_json:
        assert json.loads(result.stdout)["recommendation"] in APPROACHES


# --- audit ids and filters ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """An audit store with two records, and their ids."""
    path = str(tmp_path_factory.mktemp("audit") / "audit.db")
    ids = []
    for budget in ("5k", "3M"):
        result = run(["recommend", "--audit-db", path, "--json", "--fact", f"budget={budget}"])
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["audit_id"])
    return path, ids


INJECTIONS = (
    "'; DROP TABLE records; --",
    "' OR '1'='1",
    '" OR ""="',
    "%",
    "_",
    "*",
    "1; DELETE FROM records",
    "0' UNION SELECT * FROM blobs --",
    "abc\x00def",
    "ABCDEF",
    "0x1f",
)
audit_ids = st.one_of(
    st.sampled_from(INJECTIONS),
    nasty,
    words,
    st.text(alphabet="0123456789abcdef", min_size=0, max_size=14),
)


@fuzz(60)
@given(audit_ids)
@example("")
def test_audit_ids(store: tuple[str, list[str]], ref: str) -> None:
    path, ids = store
    for args in (  # `--` first: an id such as "-h" is still an id
        ["audit", "show", "--audit-db", path, "--", ref],
        ["audit", "replay", "--audit-db", path, "--", ref],
        ["explain", "--audit-db", path, "--", ref],
        ["diagram", "--highlight", ref, "--format", "mermaid", "--audit-db", path],
    ):
        result = run(args)
        check(result)
        if result.exit_code == 0:  # only a prefix of a real id (any case, any spaces) can
            key = ref.strip().lower()
            assert key and any(i.startswith(key) for i in ids), ref


@fuzz(60)
@given(
    st.one_of(st.sampled_from(INJECTIONS), nasty, words),
    st.sampled_from(["--since", "--approach", "--fingerprint"]),
)
def test_audit_filters(store: tuple[str, list[str]], value: str, option: str) -> None:
    path, _ = store
    for command in ("list", "export"):
        check(run(["audit", command, option, value, "--audit-db", path]))


def test_the_store_survives_the_fuzzing(store: tuple[str, list[str]]) -> None:
    """Runs after the audit properties in this module: nothing was dropped or altered."""
    path, ids = store
    result = run(["audit", "verify", "--json", "--audit-db", path])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == len(ids)
    listed = json.loads(run(["audit", "list", "--json", "--audit-db", path]).stdout)
    assert [r["id"] for r in listed] == ids


# --- random valid fact sets ---------------------------------------------------------------------

AN = Analyzer(KB)
DIAGRAM = load_diagram(KB)  # compiled: the test cache folder is not set while modules load


def quantity_values(name: str) -> st.SearchStrategy[float]:
    cuts = KB.thresholds(name)
    whole = st.integers(min_value=0, max_value=int(MAX_VALUE)).map(float)
    if KB.fact(name).unit in WHOLE_UNITS:  # counted: the values next to a cut are one away
        near = [max(c + d, 0.0) for c in cuts for d in (-1.0, 0.0, 1.0)]
        return st.one_of(st.sampled_from([0.0, MAX_VALUE, *near, *(3 * c for c in cuts)]), whole)
    near = [c * f for c in cuts for f in (0.5, 1.0, 1.0 - 1e-9, 1.0 + 1e-9, 3.0)]
    return st.one_of(
        st.sampled_from([0.0, MIN_VALUE, MAX_VALUE, *near]),
        st.floats(min_value=MIN_VALUE, max_value=MAX_VALUE),
        whole,
    )


def fact_value(name: str) -> st.SearchStrategy[Value]:
    fact = KB.fact(name)
    if fact.kind.continuous:
        return quantity_values(name)
    return st.sampled_from(fact.domain)


complete_cases = st.fixed_dictionaries({f.name: fact_value(f.name) for f in KB.facts})
partial_cases = st.fixed_dictionaries({}, optional={f.name: fact_value(f.name) for f in KB.facts})


def typed(known: dict[str, Value]) -> dict[str, object]:
    """The case the way a user would type it (quantities exactly, in their base unit)."""
    out: dict[str, object] = {}
    for name, value in known.items():
        fact = KB.fact(name)
        if fact.type != "quantity":
            out[name] = display_value(fact, value)
        else:
            assert isinstance(value, float) and math.isfinite(value)
            exact = format(Decimal(value), "f")
            out[name] = f"{exact}d" if fact.unit == "duration" else exact
    return out


@fuzz(300)
@given(complete_cases)
def test_complete_cases_agree_with_the_diagram(known: dict[str, Value]) -> None:
    result = evaluate(KB, full_case(KB, known))
    assert result.recommendation in APPROACHES
    _, decision = DIAGRAM.walk(AN, known)
    assert (decision.recommendation, decision.combine_with) == (
        result.recommendation,
        result.combine_with,
    )
    # The same case typed by a user gives the same outcome.
    again = evaluate(KB, make_case(KB, typed(known)))
    assert (again.recommendation, again.combine_with) == (
        result.recommendation,
        result.combine_with,
    )


@fuzz(200)
@given(partial_cases)
def test_partial_cases_give_exactly_one_recommendation(known: dict[str, Value]) -> None:
    result = evaluate(KB, make_case(KB, typed(known)))
    assert result.recommendation in APPROACHES
    assert sum(1 for r in result.ranking if not r.excluded) >= 1
    assert len({r.approach for r in result.ranking}) == len(APPROACHES)


# --- output files -------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with an audit store holding one record, a PDF and a text file."""
    result = run(["recommend", "--audit-db", str(tmp_path / "audit.db"), "--fact", "budget=5k"])
    assert result.exit_code == 0, result.output
    (tmp_path / "old.pdf").write_bytes(b"%PDF-1.5\n% an older diagram\n")
    (tmp_path / "notes.txt").write_text("some notes\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "target"),
    [
        (["diagram", "--format", "dot", "-o"], "audit.db"),
        (["diagram", "--format", "pdf", "-o"], "notes.txt"),
        (["diagram", "--format", "mermaid", "-o"], "audit.db"),
        (["audit", "export", "-o"], "audit.db"),
        (["audit", "export", "-o"], "old.pdf"),
    ],
)
def test_an_output_never_replaces_a_file_of_another_kind(
    folder: Path, args: list[str], target: str
) -> None:
    before = (folder / target).read_bytes()
    result = run([*args, str(folder / target), "--audit-db", str(folder / "audit.db")])
    check(result)
    assert result.exit_code == 2
    assert "refusing to replace" in result.stderr
    assert (folder / target).read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    verify = run(["audit", "verify", "--audit-db", str(folder / "audit.db")])
    assert verify.exit_code == 0, verify.output


def test_a_format_that_contradicts_the_file_name_is_bad_input(folder: Path) -> None:
    """`--format svg -o old.pdf` would put an SVG in a file named .pdf: refused, naming both."""
    before = (folder / "old.pdf").read_bytes()
    result = run(["diagram", "--format", "svg", "-o", str(folder / "old.pdf")])
    check(result)
    assert result.exit_code == 2
    assert "--format svg" in result.stderr and "old.pdf" in result.stderr
    assert (folder / "old.pdf").read_bytes() == before
    fresh = folder / "new.png"
    assert run(["diagram", "--format", "svg", "-o", str(fresh)]).exit_code == 2
    assert not fresh.exists()


@pytest.mark.parametrize("target", [".", "missing-dir/x.svg", "/dev/null"])
def test_an_output_that_is_not_a_writable_file_is_bad_input(folder: Path, target: str) -> None:
    where = target if target.startswith("/") else str(folder / target)
    for args in (["diagram", "--format", "svg", "-o", where], ["audit", "export", "-o", where]):
        result = run([*args, "--audit-db", str(folder / "audit.db")])
        check(result)
        assert result.exit_code == 2


def test_outputs_of_the_same_kind_are_replaced_whole(folder: Path) -> None:
    target = folder / "tree.dot"
    target.write_text("digraph old {}\n")
    assert run(["diagram", "-o", str(target)]).exit_code == 0
    assert target.read_text().splitlines()[1] == "digraph decision_diagram {"
    export = folder / "records.jsonl"
    for _ in range(2):
        result = run(["audit", "export", "-o", str(export), "--audit-db", str(folder / "audit.db")])
        assert result.exit_code == 0, result.output
    assert len(export.read_text().splitlines()) == 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
