"""Decision-tree documents: every node and edge drawn, labels escaped, paths, pages."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from diagram_helpers import (
    HAVE_DOT,
    HAVE_PDFINFO,
    KBS,
    check_complete,
    expected_edges,
    parse_dot,
    parse_dot_json,
    parse_mermaid,
    word_heights,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_advisor.cli.options import cache_dir
from llm_advisor.diagrams import graphviz as gv
from llm_advisor.diagrams.export import Request, render
from llm_advisor.diagrams.index import IndexSection, index_pages
from llm_advisor.diagrams.pages import letters, page_scenes
from llm_advisor.diagrams.paginate import PAPERS
from llm_advisor.diagrams.pdf import join_pdfs
from llm_advisor.engine.analysis.diagram import Question, compile_diagram, load_diagram
from llm_advisor.engine.analysis.highlight import case_path
from llm_advisor.engine.errors import InputError, RuleError
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase

needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
needs_pdf_tools = pytest.mark.skipif(
    not (HAVE_DOT and HAVE_PDFINFO), reason="needs Graphviz's dot and poppler's pdfinfo"
)
KB_NAMES = ["mini", "tricky", "wide"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Diagrams are cached for this test session only, never in the user's cache."""
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def kb_named(name: str) -> KnowledgeBase:
    return load_knowledge_base(KBS / name)


def shipped() -> KnowledgeBase:
    """The shipped rule base, or a skip while it is being edited into a broken state."""
    try:
        return load_knowledge_base()
    except RuleError as err:
        pytest.skip(f"the shipped rule base does not load right now: {err}")


def highlighted(source: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The nodes and edges drawn bold in DOT."""
    drawn = parse_dot(source)
    nodes = {n for n, attrs in drawn.nodes.items() if attrs.get("penwidth") == "3"}
    edges = {(t, h) for t, h, attrs in drawn.edges if attrs.get("penwidth") == "3"}
    return nodes, edges


def completions(kb: KnowledgeBase, values: dict[str, object]) -> list[dict[str, object]]:
    """Every case that fills the unknown facts of `values` with one value per cell."""
    from llm_advisor.engine.analysis.partial import Analyzer

    an = Analyzer(kb)
    choices = [
        [values[f.name]] if values.get(f.name) is not None else [c.value for c in an.cells[i]]
        for i, f in enumerate(kb.facts)
    ]
    return [dict(zip(kb.fact_names, combo, strict=True)) for combo in itertools.product(*choices)]


def pdf_pages(path: Path) -> list[tuple[float, float]]:
    """The size of every page of a PDF, read by poppler's pdfinfo."""
    out = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "9999", str(path)], capture_output=True, text=True, check=True
    ).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]
    sizes = [
        (float(w), float(h))
        for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", out, re.M)
    ]
    assert len(sizes) == pages
    return sizes


# --- everything is drawn ------------------------------------------------------------------------


@pytest.mark.parametrize("name", KB_NAMES)
def test_dot_draws_every_node_and_edge(name: str) -> None:
    kb = kb_named(name)
    source = render(kb, Request("dot", view="detail")).data.decode("utf-8")
    check_complete(kb, load_diagram(kb, cache_dir()), parse_dot(source))


@needs_dot
@pytest.mark.parametrize("name", KB_NAMES)
def test_graphviz_reads_the_same_nodes_and_edges(name: str) -> None:
    kb = kb_named(name)
    source = render(kb, Request("dot", view="detail")).data.decode("utf-8")
    drawn = parse_dot_json(gv.run_dot(source, "json"))
    check_complete(kb, load_diagram(kb, cache_dir()), drawn)
    assert drawn.nodes.keys() == parse_dot(source).nodes.keys()


@pytest.mark.parametrize("name", KB_NAMES)
def test_mermaid_draws_every_node_and_edge(name: str) -> None:
    kb = kb_named(name)
    title, drawn = parse_mermaid(render(kb, Request("mermaid")).data.decode("utf-8"))
    check_complete(kb, load_diagram(kb, cache_dir()), drawn)
    assert kb.fingerprint[:12] in title


def test_shipped_rule_base_is_drawn_completely() -> None:
    kb = shipped()
    diagram = load_diagram(kb, cache_dir())
    check_complete(
        kb, diagram, parse_dot(render(kb, Request("dot", view="detail")).data.decode("utf-8"))
    )
    _, drawn = parse_mermaid(render(kb, Request("mermaid")).data.decode("utf-8"))
    check_complete(kb, diagram, drawn)


def test_answers_are_shown_in_the_users_units() -> None:
    kb = kb_named("tricky")
    labels = {label for _, _, label in expected_edges(load_diagram(kb, cache_dir()))}
    assert {"< $20k", "$20k–$250k", "≥ $250k", "< $250k", "yes", "no"} <= labels
    assert not any("," in label and "$" in label for label in labels), "bands merge into one range"


# --- labels that could break the syntax ---------------------------------------------------------

TRICKY_TEXT = [
    'Budget "quoted" {braces} <angle> --> arrow',
    "Sorte: crème brûlée ✓ 日本語 #1 | 100% & more \\N \\l ]] [x] (y) `z`",
    "end %% not a comment",
    'Plain "quoted" <b>approach</b>',
    "Curly {braces} --> arrow \\ backslash",
    "Ümlaut & ampersand; naïve café — 100%",
]


def test_tricky_labels_come_back_unchanged_from_dot_and_mermaid() -> None:
    kb = kb_named("tricky")
    dot_labels = " | ".join(
        a["label"]
        for a in parse_dot(render(kb, Request("dot", view="detail")).data.decode()).nodes.values()
    )
    _, drawn = parse_mermaid(render(kb, Request("mermaid")).data.decode())
    mermaid_labels = " | ".join(a["label"] for a in drawn.nodes.values())
    for text in TRICKY_TEXT:
        assert text in dot_labels
        assert text in mermaid_labels


@needs_dot
def test_tricky_labels_render_with_graphviz(tmp_path: Path) -> None:
    kb = kb_named("tricky")
    svg = render(kb, Request("svg")).data
    texts = " ".join(el.text or "" for el in ET.fromstring(svg).iter() if el.tag.endswith("}text"))
    for text in TRICKY_TEXT:
        for word in text.split():
            assert word in texts, word
    for fmt in ("pdf", "png"):
        assert render(kb, Request(fmt)).data[:4] in (b"%PDF", b"\x89PNG")


@needs_dot
@pytest.mark.parametrize(
    ("name", "view", "short", "shown"),
    [
        ("wide", "overview", "Domain text", "Domain text (tokens)"),
        ("chain", "detail", "n", "n (examples)"),
    ],
)
def test_quantity_questions_name_their_unit(name: str, view: str, short: str, shown: str) -> None:
    """A question box on a static document says what a quantity's branch labels count."""
    kb = kb_named(name)
    svg = ET.fromstring(render(kb, Request("svg", view=view)).data)
    boxes = []
    for group in svg.iter():
        if group.tag.endswith("}g") and group.get("class") == "node":
            boxes.append([el.text or "" for el in group.iter() if el.tag.endswith("}text")])
    asked = [box for box in boxes if box and box[0].split(" (")[0] == short]
    assert asked, f"no question {short!r} drawn"
    assert all(box[0] == shown for box in asked), asked


# --- deterministic text outputs -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_text_outputs_are_byte_identical(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = kb_named("wide")
    first = render(kb, Request(fmt)).data
    assert render(kb, Request(fmt)).data == first  # from the diagram cache
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path / "other"))
    assert render(kb_named("wide"), Request(fmt)).data == first  # compiled afresh
    assert not re.search(rb"\d{4}-\d{2}-\d{2}", first), "no date unless asked for"
    dated = render(kb, Request(fmt, date="2024-05-01")).data
    assert b"2024-05-01" in dated


# --- a case's path ------------------------------------------------------------------------------


def mini_cases() -> list[dict[str, str]]:
    cases = []
    for size, color, urgent in itertools.product(
        ["5k", "5M", "unknown"], ["red", "green", "blue"], ["yes", "no", "unknown"]
    ):
        cases.append({"size": size, "color": color, "urgent": urgent})
    return cases


@pytest.mark.parametrize("raw", mini_cases(), ids=lambda raw: ",".join(raw.values()))
def test_highlight_follows_known_facts_and_every_branch_of_unknown_ones(
    raw: dict[str, str],
) -> None:
    """The bold part of the drawing is exactly what the completions of the case walk through:
    every leaf a completion reaches is marked, and no other."""
    from llm_advisor.engine.analysis.partial import Analyzer

    kb = kb_named("mini")
    diagram = load_diagram(kb, cache_dir())
    case = make_case(kb, {k: v for k, v in raw.items() if v != "unknown"}, use_defaults=False)
    source = render(kb, Request("dot", case=case)).data.decode()
    nodes, edges = highlighted(source)
    an = Analyzer(kb)
    walked: set[int] = set()
    steps: set[tuple[int, int]] = set()
    outcomes = set()
    for known in completions(kb, dict(case.values)):
        path, decision = diagram.walk(an, known)  # type: ignore[arg-type]
        walked.update(path)
        steps.update(itertools.pairwise(path))
        outcomes.add(decision)
    assert {int(n[1:].split("_")[0]) for n in nodes} == walked
    assert {(int(t[1:]), int(h[1:].split("_")[0])) for t, h in edges} == steps
    document = render(kb, Request("mermaid", case=case))
    assert document.path is not None
    assert set(document.path.outcomes) == outcomes
    if len(outcomes) == 1 and not document.path.unknown:
        result = evaluate(kb, case)
        (decision,) = outcomes
        assert (decision.recommendation, decision.combine_with) == (
            result.recommendation,
            result.combine_with,
        )


WIDE_FACTS = {
    "domain": st.sampled_from(["legal", "medical", "finance", "retail", "travel"]),
    "channel": st.sampled_from(["chat", "email", "voice", "search", "batch"]),
    "language": st.sampled_from(["english", "german", "japanese", "mixed"]),
    "documents": st.sampled_from(["0", "999", "1k", "50k", "1M", "20M", "1B", "7B"]),
    "regulated": st.sampled_from(["yes", "no"]),
}


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries(WIDE_FACTS))
def test_paths_agree_with_inference_on_sampled_cases(raw: dict[str, str]) -> None:
    kb = kb_named("wide")
    diagram = load_diagram(kb, cache_dir())
    case = make_case(kb, raw)
    document = render(kb, Request("mermaid", case=case, view="detail"))  # checks inference
    assert document.path is not None and document.path.decision is not None
    result = evaluate(kb, case)
    assert document.path.decision.recommendation == result.recommendation
    assert document.path.decision.combine_with == result.combine_with
    assert diagram.root in document.path.nodes


def test_given_draws_the_sub_diagram() -> None:
    kb = kb_named("mini")
    given = {"size": 5e6}
    drawn = parse_dot(render(kb, Request("dot", given=given)).data.decode())
    sub = compile_diagram(kb, given)
    check_complete(kb, sub, drawn)
    assert not any(a["label"].endswith("size") for a in drawn.nodes.values())
    assert "Given: size=5M" in render(kb, Request("mermaid", given=given)).data.decode()


def test_a_case_that_contradicts_the_given_context_is_bad_input() -> None:
    kb = kb_named("mini")
    case = make_case(kb, {"size": "5k", "urgent": "yes"})
    with pytest.raises(InputError, match="contradicts the fixed context size=5M"):
        render(kb, Request("dot", given={"size": 5e6}, case=case))


def test_a_case_that_differs_from_the_given_context_within_a_band_is_bad_input() -> None:
    """2M and 5M are both "at least 1M" to the rules, but a caption naming both would
    contradict itself; the same value written another way is no contradiction."""
    kb = kb_named("mini")
    case = make_case(kb, {"size": "2M", "urgent": "yes"})
    with pytest.raises(InputError, match="size=2M, which contradicts the fixed context size=5M"):
        render(kb, Request("dot", given={"size": 5e6}, case=case))
    close = make_case(kb, {"size": "5000001", "urgent": "yes"})  # both "5M" when rounded
    with pytest.raises(InputError, match="size=5000001, which contradicts the fixed context"):
        render(kb, Request("dot", given={"size": 5e6}, case=close))
    same = make_case(kb, {"size": "5,000,000", "urgent": "yes"})
    document = render(kb, Request("mermaid", given={"size": 5e6}, case=same))
    assert document.path is not None and "size=5M" in document.path.description


# --- paged PDF ----------------------------------------------------------------------------------


@needs_pdf_tools
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_a_small_diagram_is_one_page_of_the_paper_size(paper: str, tmp_path: Path) -> None:
    document = render(kb_named("mini"), Request("pdf", paper=paper))
    target = tmp_path / "mini.pdf"
    target.write_bytes(document.data)
    sheet = PAPERS[paper]
    assert document.pages == 1
    assert pdf_pages(target) == [(sheet.width, sheet.height)]


@needs_pdf_tools
@pytest.mark.skipif(shutil.which("pdfunite") is None, reason="needs poppler's pdfunite")
def test_a_large_diagram_is_split_into_full_size_pages(tmp_path: Path) -> None:
    kb = kb_named("wide")
    document = render(kb, Request("pdf"))
    target = tmp_path / "wide.pdf"
    target.write_bytes(document.data)
    sizes = pdf_pages(target)
    assert len(sizes) == document.pages > 1
    assert set(sizes) == {(842.0, 595.0)}
    if shutil.which("pdftotext"):
        # Nothing is scaled down: every word is at least 9 pt tall in print.
        heights = word_heights(target)
        assert heights and min(heights) >= 9.0
        text = subprocess.run(  # in drawing order: a node's lines one after the other
            ["pdftotext", "-raw", str(target), "-"], capture_output=True, text=True, check=True
        ).stdout
        pages = [int(n) for n in re.findall(r"continued on page (\d+)", text)]
        assert pages and all(1 <= n <= document.pages for n in pages)
        # Every entry of a page has its own anchor, found on that page, and every link names
        # one of them: a reader can tell which of several entries of a page is theirs.
        targets = {
            anchor: number
            for number, page in enumerate(text.split("\f"), 1)
            for anchor in re.findall(r"(\d+[A-Z]+) ◂\s+from", page)
        }
        found = re.findall(r"(\d+[A-Z]+) ◂\s+from", text)
        assert len(found) == len(targets) >= 2, "each anchor is a target exactly once"
        assert all(re.fullmatch(rf"{number}[A-Z]+", anchor) for anchor, number in targets.items())
        links = re.findall(r"continued on page (\d+)\s+▸ (\d+[A-Z]+)", text)
        assert len(links) == len(pages), "every link names an anchor"
        assert {anchor for _, anchor in links} == set(targets)
        assert all(targets[anchor] == int(page) for page, anchor in links)


@needs_pdf_tools
@pytest.mark.skipif(shutil.which("pdfunite") is None, reason="needs poppler's pdfunite")
def test_a_long_index_wraps_onto_more_pages_at_full_size(tmp_path: Path) -> None:
    """Page lists too long for a line wrap onto several lines and the rows onto more pages;
    nothing is scaled down (the review book's index of a large diagram was shrunk to 2.5 pt)."""
    rows = tuple(((f"Outcome {i}",), tuple(range(1 + i % 2, 400, 2))) for i in range(30))
    section = IndexSection("Outcomes: where each is reached", ("Outcome", "Appendix pages"), rows)
    parts = index_pages("Index of the appendix", [section], PAPERS["a4"])
    assert len(parts) > 1
    target = tmp_path / "index.pdf"
    target.write_bytes(join_pdfs(parts, shutil.which("pdfunite") or ""))
    assert set(pdf_pages(target)) == {(842.0, 595.0)}
    heights = word_heights(target)
    assert heights and min(heights) >= 8.0
    text = subprocess.run(
        ["pdftotext", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert sorted(re.findall(r"Outcome \d+", text)) == sorted(r[0][0] for r in rows)
    assert len(re.findall(r"\bA\d+\b", text)) == sum(len(pages) for _, pages in rows)
    assert "page I1 of I" in text and "(continued)" in text


def test_entry_letters_go_on_past_z() -> None:
    assert [letters(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]


@needs_dot
def test_pages_share_out_the_questions_and_point_to_each_other() -> None:
    kb = kb_named("wide")
    diagram = load_diagram(kb, cache_dir())
    sheet = PAPERS["a4"]
    pages, scenes = page_scenes(kb, diagram, None, sheet, "T", [])
    questions = {n for n in diagram.reachable() if isinstance(diagram.nodes[n], Question)}
    members = [n for page in pages for n in page.members]
    assert sorted(members) == sorted(questions), "each question is on exactly one page"
    assert diagram.root in pages[0].members
    page_of = {n: i for i, page in enumerate(pages, 1) for n in page.members}
    # Each entry has its own anchor, page number then letter; each continuation names the page
    # and the anchor of the entry it leads to.
    anchor_of = {}
    for number, scene in enumerate(scenes, 1):
        for node in scene.nodes:
            if node.kind == "entry":
                found = re.fullmatch(r"(\d+[A-Z]+) ◂ from pages? [\d, ]+", " ".join(node.lines))
                assert found and re.fullmatch(rf"{number}[A-Z]+", found.group(1)), node.lines
                assert node.source not in anchor_of
                anchor_of[node.source] = found.group(1)
    assert len(set(anchor_of.values())) == len(anchor_of) >= 2
    for number, scene in enumerate(scenes, 1):
        for node in scene.nodes:
            if node.kind == "continuation":
                assert node.source is not None
                page, anchor = page_of[node.source], anchor_of[node.source]
                assert node.lines == (f"continued on page {page}",)
                assert node.detail[0].startswith(f"▸ {anchor} ")
                assert page != number
    measured = gv.measure([gv.to_dot(kb, scene) for scene in scenes])
    usable_w, usable_h = sheet.usable
    assert all(w <= usable_w and h <= usable_h for w, h in measured)


@needs_dot
def test_a_path_across_pages_is_highlighted_on_every_page() -> None:
    kb = kb_named("wide")
    diagram = load_diagram(kb, cache_dir())
    raw = {"domain": "travel", "channel": "voice", "language": "mixed", "documents": "7B"}
    case = make_case(kb, {**raw, "regulated": "yes"})
    path = case_path(kb, diagram, dict(case.values))
    _, scenes = page_scenes(kb, diagram, path, PAPERS["a4"], "T", [])
    drawn = [node for scene in scenes for node in scene.nodes]
    on_path = [n.source or 0 for n in drawn if n.kind == "question" and n.state == "path"]
    questions = [n for n in path.nodes if isinstance(diagram.nodes[n], Question)]
    assert sorted(on_path) == sorted(questions)
    # Every page says on which pages the path runs: those that draw a question of it, in order.
    runs_on = [
        number
        for number, scene in enumerate(scenes, 1)
        if any(n.kind == "question" and n.state == "path" for n in scene.nodes)
    ]
    assert len(runs_on) >= 2 and runs_on[0] == 1
    line = f"Path on pages {' → '.join(str(p) for p in runs_on)}"
    assert all(scene.subtitle[-1] == line for scene in scenes)
    crossings = sum(1 for n in drawn if n.kind == "continuation" and n.state == "path")
    entries = sum(1 for n in drawn if n.kind == "entry" and n.state == "path")
    assert crossings == entries >= 1


@needs_pdf_tools
def test_shipped_rule_base_document(tmp_path: Path) -> None:
    kb = shipped()
    document = render(kb, Request("pdf", date="2024-05-01"))
    target = tmp_path / "decision-tree.pdf"
    target.write_bytes(document.data)
    sizes = pdf_pages(target)
    assert len(sizes) == document.pages and set(sizes) == {(842.0, 595.0)}


def test_graphviz_subtitle_never_breaks_a_command_at_its_hyphen() -> None:
    """The subtitle names the command that draws the exact diagram; wrapping keeps it whole."""
    dot = render(kb_named("mini"), Request("dot", view="overview")).data.decode()
    assert "(llm-advisor diagram --detail)" in dot


def test_mermaid_title_is_short_and_the_how_to_read_text_a_comment() -> None:
    """Mermaid draws the title as one line as wide as the drawing: it holds the title and short
    paragraphs ("Given: ..."), each whole; how to read the page goes into a comment."""
    kb = kb_named("mini")
    case = make_case(kb, {"size": "5M", "urgent": "yes"})
    request = Request("mermaid", given={"size": 5e6}, case=case, view="overview")
    text = render(kb, request).data.decode()
    title, _ = parse_mermaid(text)
    parts = title.split(" · ")
    assert parts[0] == "Decision overview" and parts[1].startswith("rule base ")
    assert "Given: size=5M" in parts and "How to read" not in title
    comment = " ".join(
        line.strip().removeprefix("%% ") for line in text.splitlines() if line.startswith("  %% ")
    )
    assert "How to read: " in comment
    assert "A solid leaf is decided (the approach, + a partner to combine it with)." in comment
