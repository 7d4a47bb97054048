"""`llm-advisor diagram`: formats, bad input, missing tools, highlighting a recorded case."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from audit_helpers import record_result
from click.testing import CliRunner, Result
from diagram_helpers import HAVE_DOT, HAVE_PDFINFO, KBS, page_texts, parse_dot, parse_mermaid

from llm_advisor.cli.main import cli
from llm_advisor.cli.options import cache_dir
from llm_advisor.engine.analysis.diagram import Leaf, load_diagram
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base

MINI = str(KBS / "mini")
WIDE = str(KBS / "wide")
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["diagram", *args])


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert message.startswith("Error: ") and "\n" not in message, message
    assert "Traceback" not in result.output
    return message


def run_without(tmp_path: Path, keep: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process whose PATH holds only the named programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in keep:
        found = shutil.which(name)
        assert found is not None
        target = bin_dir / name
        if not target.exists():
            target.symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    return subprocess.run(
        [sys.executable, "-m", "llm_advisor", "diagram", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )


# --- formats ------------------------------------------------------------------------------------


def test_dot_goes_to_standard_output_by_default() -> None:
    result = run("--rules", MINI)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("// llm-advisor decision diagram")
    parse_dot(result.stdout)


@pytest.mark.parametrize(
    ("name", "start"),
    [("tree.dot", b"// llm-advisor"), ("tree.gv", b"// llm-advisor"), ("tree.mmd", b"---\n")],
)
def test_the_format_follows_the_file_name(name: str, start: bytes, tmp_path: Path) -> None:
    target = tmp_path / name
    result = run("--rules", MINI, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(start)
    assert f"Wrote {target}" in result.stderr


@needs_dot
@pytest.mark.parametrize(("name", "start"), [("t.svg", b"<?xml"), ("t.png", b"\x89PNG")])
def test_graphviz_formats(name: str, start: bytes, tmp_path: Path) -> None:
    target = tmp_path / name
    result = run("--rules", MINI, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(start)


@needs_dot
@pytest.mark.skipif(not HAVE_PDFINFO, reason="needs poppler's pdfinfo")
def test_pdf_with_letter_paper(tmp_path: Path) -> None:
    target = tmp_path / "tree.pdf"
    result = run("--rules", MINI, "-o", str(target), "--paper", "letter")
    assert result.exit_code == 0, result.output
    info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True).stdout
    assert "792 x 612 pts" in info and re.search(r"^Pages:\s+1$", info, re.M)


def test_explicit_format_wins_over_the_file_name(tmp_path: Path) -> None:
    target = tmp_path / "tree.txt"
    result = run("--rules", MINI, "-o", str(target), "--format", "mermaid")
    assert result.exit_code == 0, result.output
    parse_mermaid(target.read_text(encoding="utf-8"))


def test_given_restricts_the_diagram() -> None:
    result = run("--rules", MINI, "--given", "size=5M", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    title, drawn = parse_mermaid(result.stdout)
    assert "Given: size=5M" in title
    assert not any(
        n["label"].endswith(" size") or n["label"] == "size" for n in drawn.nodes.values()
    )


def test_fact_highlights_the_case() -> None:
    result = run(
        "--rules", MINI, "--fact", "size=5M", "--fact", "urgent=yes", "--fact", "color=green"
    )
    assert result.exit_code == 0, result.output
    bold = [e for e in parse_dot(result.stdout).edges if e[2].get("penwidth") == "3"]
    assert len(bold) == 3
    assert "Highlighted path" in result.stderr


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "jpeg"], "unknown format 'jpeg'"),
        (
            ["-o", "tree.jpeg"],
            "end it in .pdf, .svg, .png, .dot, .gv, .mmd, .mermaid, .html, .htm or use --format",
        ),
        (["--paper", "a3"], "unknown paper 'a3'"),
        (["--paper", "letter", "--format", "svg"], "--paper"),
        (["--paper", ""], "unknown paper ''"),
        (["--book", "--paper", "letter"], "--book writes a PDF"),
        (["--detail", "--format", "html"], "--detail"),
        (["--approach", "cheap", "--format", "html"], "--approach"),
        (["--format", "pdf"], "give a file with -o"),
        (["--given", "colour=red"], "unknown fact 'colour'"),
        (["--given", "color=purple"], "bad value 'purple' for color"),
        (["--given", "size"], "expected NAME=VALUE"),
        (["--given", "size=unknown"], "--given size needs a value"),
        (["--fact", "color=purple"], "bad value 'purple' for color"),
        (["--highlight", "abc123", "--fact", "size=1"], "not both"),
        (["--date", "yesterday"], "bad --date"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    assert needle in one_line_error(run("--rules", MINI, *args), 2)


def test_unwritable_output_paths_are_bad_input(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    why = {
        tmp_path / "missing" / "t.dot": f"directory {tmp_path / 'missing'} does not exist",
        a_file / "t.dot": f"{a_file} is not a directory",
        tmp_path: "is a directory",
    }
    for target, reason in why.items():
        message = one_line_error(run("--rules", MINI, "-o", str(target), "--format", "dot"), 2)
        assert reason in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_nothing_is_written_when_the_input_is_bad(tmp_path: Path) -> None:
    target = tmp_path / "tree.dot"
    one_line_error(run("--rules", MINI, "-o", str(target), "--given", "nope=1"), 2)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "tree.dot"
    target.write_text("old")
    one_line_error(run("--rules", MINI, "-o", str(target), "--given", "color=purple"), 2)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tree.dot"]


# --- missing programs ---------------------------------------------------------------------------


def test_without_graphviz_documents_fail_with_an_install_hint(tmp_path: Path) -> None:
    for name in ("tree.pdf", "tree.svg", "tree.png"):
        done = run_without(tmp_path, [], "--rules", MINI, "-o", name)
        assert done.returncode == 1, done.stderr
        message = done.stderr.strip()
        assert "\n" not in message and "Graphviz" in message and "install" in message
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]
    for fmt in ("dot", "mermaid"):
        done = run_without(tmp_path, [], "--rules", MINI, "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert "flowchart LR" in done.stdout or "digraph" in done.stdout


@needs_dot
def test_a_multi_page_pdf_without_pdfunite_says_what_to_install(tmp_path: Path) -> None:
    done = run_without(tmp_path, ["dot"], "--rules", WIDE, "--detail", "-o", "tree.pdf")
    assert done.returncode == 1, done.stderr
    assert "pdfunite" in done.stderr and "poppler" in done.stderr
    assert not (tmp_path / "tree.pdf").exists()
    done = run_without(tmp_path, ["dot"], "--rules", MINI, "-o", "small.pdf")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "small.pdf").read_bytes().startswith(b"%PDF")


def test_drawing_imports_graphviz_and_networkx_only_when_needed() -> None:
    code = (
        "import sys, llm_advisor.cli.diagram, llm_advisor.diagrams.export\n"
        "print('graphviz' in sys.modules, 'networkx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- a recorded case ----------------------------------------------------------------------------


def test_highlight_an_audit_record(tmp_path: Path) -> None:
    kb = load_knowledge_base(MINI)
    case = make_case(kb, {"size": "3M", "urgent": "yes", "color": "red"})
    result = evaluate(kb, case)
    db = tmp_path / "audit.db"
    record_id = record_result(db, kb, result)
    for extra in ([], ["--rules", MINI]):
        out = run("--highlight", record_id, "--audit-db", str(db), *extra)
        assert out.exit_code == 0, out.output
        drawn = parse_dot(out.stdout)
        bold = {t: h for t, h, a in drawn.edges if a.get("penwidth") == "3"}
        diagram = load_diagram(kb, cache_dir())
        node = f"n{diagram.root}"
        while node in bold:
            node = bold[node]
        leaf = diagram.nodes[int(node[1:].split("_")[0])]
        assert isinstance(leaf, Leaf)
        assert leaf.decision.recommendation == result.recommendation
        assert leaf.decision.combine_with == result.combine_with
        assert f"audit record {record_id}" in out.stdout


@needs_dot
@pytest.mark.skipif(not HAVE_PDFINFO, reason="needs poppler")
def test_the_book_highlights_an_audit_record(tmp_path: Path) -> None:
    kb = load_knowledge_base(MINI)
    record_id = record_result(
        tmp_path / "audit.db", kb, evaluate(kb, make_case(kb, {"size": "3M"}))
    )
    target = tmp_path / "review.pdf"
    out = run(
        "--highlight",
        record_id,
        "--audit-db",
        str(tmp_path / "audit.db"),
        "--book",
        "-o",
        str(target),
    )
    assert out.exit_code == 0, out.output
    pages = [page for page in page_texts(target) if "Index of the appendix" not in page.strip()]
    assert any(page.strip() for page in pages), "the book has drawn pages"
    assert all(f"audit record {record_id}" in page for page in pages if page.strip())


@needs_dot
@pytest.mark.skipif(not HAVE_PDFINFO, reason="needs poppler")
def test_every_page_of_a_book_drawn_with_given_states_the_context(tmp_path: Path) -> None:
    """The overview, the approach pages, the appendix and its index all say which context the
    book is drawn for, so that any printed page can be told apart from one of a book without
    --given, which states none."""
    given = tmp_path / "given.pdf"
    out = run("--rules", MINI, "--book", "--given", "urgent=yes", "-o", str(given))
    assert out.exit_code == 0, out.output
    pages = page_texts(given)
    assert f"(PDF, {len(pages)} pages)" in out.stderr, "every page is read"
    assert any("Index of the appendix" in page for page in pages)
    missing = [n for n, page in enumerate(pages, 1) if "Given: urgent=yes" not in page]
    assert not missing, f"pages without the context: {missing}"
    plain = tmp_path / "plain.pdf"
    out = run("--rules", MINI, "--book", "-o", str(plain))
    assert out.exit_code == 0, out.output
    pages = page_texts(plain)
    assert pages and not [page for page in pages if "Given:" in page]


def test_unknown_audit_id_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    message = one_line_error(
        run("--rules", MINI, "--highlight", "abcdef", "--audit-db", str(db)), 2
    )
    assert "abcdef" in message
    assert not db.exists()


def test_given_twice_with_two_values_is_bad_input() -> None:
    result = run("--format", "dot", "--given", "budget=5k", "--given", "budget=1M")
    assert "--given budget given twice" in one_line_error(result, 2)


@pytest.mark.parametrize("extra", [[], ["--book"]])
def test_a_fact_that_differs_from_the_given_value_is_bad_input(
    extra: list[str], tmp_path: Path
) -> None:
    """5k and 50k fall in one budget band, yet the caption would say "Given: budget=$5k" above
    "given: budget=$50k": any other value contradicts the context, as one in another band."""
    target = tmp_path / "q.pdf"
    result = run("--given", "budget=5k", "--fact", "budget=50k", *extra, "-o", str(target))
    message = one_line_error(result, 2)
    assert "budget=$50k" in message and "contradicts the fixed context budget=$5k" in message
    assert not target.exists()


def test_output_through_a_symbolic_link_writes_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.dot"
    real.write_text("old\n")
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    result = run("-o", str(link), "--format", "dot")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real
    assert "digraph decision_diagram" in real.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.dot", "real.dot"]


# --- a partial case's caption -------------------------------------------------------------------

PARTIAL = ("problem_type=knowledge", "change_frequency=static", "needs_citations=no")


def test_a_partial_case_names_what_recommend_says_it_depends_on() -> None:
    """The document and the command line name the facts `recommend --json` says the outcome
    depends on, not every unknown fact the exact diagram asks below the case; given facts are
    told apart from assumed defaults."""
    import json

    from llm_advisor.engine.analysis.partial import Analyzer

    facts = [arg for fact in PARTIAL for arg in ("--fact", fact)]
    advice = CliRunner().invoke(cli, ["recommend", "--json", "--no-audit", *facts])
    assert advice.exit_code == 0, advice.output
    data = json.loads(advice.stdout)
    expected = data["depends_on_facts"]
    assumed = [name for name, fact in data["facts"].items() if fact["status"] == "defaulted"]
    assert expected and assumed
    # Where the old list (facts asked below the case in the exact diagram) differed.
    kb = load_knowledge_base()
    detail = load_diagram(kb, cache_dir())
    case = make_case(kb, dict(fact.split("=") for fact in PARTIAL))
    asked = detail.trace(detail.masks_of(Analyzer(kb), dict(case.values))).unknown
    assert set(asked) != set(expected)

    result = run("--format", "mermaid", *facts)
    assert result.exit_code == 0, result.output
    # Mermaid keeps the title short: the case caption is in the diagram's comment lines.
    comments = " ".join(
        line.strip().removeprefix("%%").strip()
        for line in result.stdout.splitlines()
        if line.strip().startswith("%%")
    )
    caption = comments.split("Highlighted case", 1)[1]
    shown = re.search(r"; depends on: (.*?) →", caption)
    assert shown is not None, caption
    assert shown.group(1).split(", ") == expected
    given = re.search(r"given: (.*?); assumed: (.*?);", caption)
    assert given is not None, caption
    assert given.group(1).split(", ") == list(PARTIAL)
    assert [pair.split("=")[0] for pair in given.group(2).split(", ")] == assumed
    line = next(x for x in result.stderr.splitlines() if x.startswith("Highlighted path:"))
    assert line.startswith(f"Highlighted path: depends on {', '.join(expected)}:")


def test_approach_help_lists_the_shipped_approach_ids() -> None:
    help_text = " ".join(run("--help").output.split())
    kb = load_knowledge_base()
    ids = kb.approach_ids
    assert f"{', '.join(ids[:-1])} or {ids[-1]}" in help_text
    assert "rules list" not in help_text
