"""The overview and per-approach views: every leaf lists exactly the outcomes inference gives
over the cases that reach it (exhaustively on small rule bases, sampled plus a witness per
listed outcome on the shipped one), one page, Mermaid within GitHub's limits."""

from __future__ import annotations

import itertools
import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from diagram_helpers import HAVE_DOT, HAVE_PDFINFO, KBS, word_heights

from llm_advisor.cli.main import cli
from llm_advisor.cli.options import cache_dir
from llm_advisor.diagrams.export import Request, render
from llm_advisor.diagrams.labels import outcome_names
from llm_advisor.diagrams.mermaid import too_large
from llm_advisor.engine.analysis.diagram import DecisionDiagram, Leaf, Open, Question, load_diagram
from llm_advisor.engine.analysis.overview import OVERVIEW_BUDGET, recommends, summarize
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.status import Decision
from llm_advisor.engine.inference.run import evaluate_many
from llm_advisor.engine.language.facts import Case, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase, Value

Region = tuple[int, ...]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def leaves(summary: DecisionDiagram) -> Iterator[tuple[Region, tuple[Decision, ...], int]]:
    """Every root-to-leaf path of a summary: the cells it allows per fact, the outcomes the
    leaf lists, and the leaf."""
    full = tuple((1 << len(labels)) - 1 for labels in summary.cell_labels)
    stack: list[tuple[int, Region]] = [(summary.root, full)]
    while stack:
        node_id, region = stack.pop()
        node = summary.nodes[node_id]
        if isinstance(node, Question):
            for cells, child in node.branches:
                mask = region[node.fact] & sum(1 << c for c in cells)
                stack.append((child, (*region[: node.fact], mask, *region[node.fact + 1 :])))
        elif isinstance(node, Leaf):
            yield region, (node.decision,), node_id
        else:
            assert isinstance(node, Open)
            yield region, node.outcomes, node_id


def case_of(kb: KnowledgeBase, an: Analyzer, cells: tuple[int, ...]) -> Case:
    values: list[Value | None] = [an.cells[i][c].value for i, c in enumerate(cells)]
    return Case(
        tuple(zip(kb.fact_names, values, strict=True)),
        tuple((name, "given") for name in kb.fact_names),
    )


def inferred(kb: KnowledgeBase, an: Analyzer, cases: list[tuple[int, ...]]) -> set[Decision]:
    return {
        Decision(r.recommendation, r.combine_with)
        for r in evaluate_many(kb, iter([case_of(kb, an, c) for c in cases]))
    }


def cells_in(mask: int) -> list[int]:
    return [c for c in range(mask.bit_length()) if mask >> c & 1]


def summaries(detail: DecisionDiagram, kb: KnowledgeBase) -> list[DecisionDiagram]:
    """The overview, small budgets (so that leaves list several outcomes), and every
    approach's view."""
    found = [summarize(detail)]
    found += [summarize(detail, budget=b, leaves=None) for b in (0, 1, 2, 3)]
    found += [summarize(detail, classify=recommends(a)) for a in kb.approach_ids]
    return found


@pytest.mark.parametrize("name", ["mini", "tricky", "wide", "layered"])
def test_every_leaf_lists_exactly_the_outcomes_of_its_cases(name: str) -> None:
    kb = load_knowledge_base(KBS / name)
    an = Analyzer(kb)
    detail = load_diagram(kb, cache_dir())
    opened = 0
    for summary in summaries(detail, kb):
        for region, listed, _ in leaves(summary):
            cases = list(itertools.product(*(cells_in(m) for m in region)))
            assert set(listed) == inferred(kb, an, cases), region
            assert len(set(listed)) == len(listed), "each outcome once"
            opened += len(listed) > 1
    assert opened, "some leaf lists several outcomes"


def witness(detail: DecisionDiagram, region: Region, wanted: Decision) -> tuple[int, ...]:
    """A case inside `region` whose exact leaf is `wanted`, found on the exact diagram."""
    stack: list[tuple[int, Region]] = [(detail.root, region)]
    while stack:
        node_id, box = stack.pop()
        node = detail.nodes[node_id]
        if isinstance(node, Leaf):
            if node.decision == wanted:
                return tuple(cells_in(m)[0] for m in box)
            continue
        assert isinstance(node, Question)
        for cells, child in node.branches:
            mask = box[node.fact] & sum(1 << c for c in cells)
            if mask:
                stack.append((child, (*box[: node.fact], mask, *box[node.fact + 1 :])))
    raise AssertionError(f"no case in the region reaches {wanted}")


def test_the_shipped_overview_is_exact_by_sampling_and_witnesses() -> None:
    kb = load_knowledge_base()
    an = Analyzer(kb)
    detail = load_diagram(kb, cache_dir())
    rng = random.Random(2026)
    for summary in summaries(detail, kb)[:3]:
        for region, listed, _ in leaves(summary):
            # Nothing listed is impossible: a case of the region reaches each listed outcome.
            for outcome in listed:
                assert inferred(kb, an, [witness(detail, region, outcome)]) == {outcome}
            # Nothing possible is missing: sampled cases of the region give listed outcomes.
            sampled = [tuple(rng.choice(cells_in(m)) for m in region) for _ in range(30)]
            assert inferred(kb, an, sampled) <= set(listed)


def test_the_overview_asks_in_the_rule_base_order_within_its_budget() -> None:
    kb = load_knowledge_base()
    overview = summarize(load_diagram(kb, cache_dir()))
    questions = [n for n in overview.reachable() if isinstance(overview.nodes[n], Question)]
    assert 1 <= len(questions) <= OVERVIEW_BUDGET
    assert isinstance(overview.nodes[overview.root], Question)
    for n in questions:
        node = overview.nodes[n]
        assert isinstance(node, Question)
        for _, child in node.branches:
            below = overview.nodes[child]
            if isinstance(below, Question):
                assert below.fact > node.fact, "later questions come later in the schema"


def test_overview_mermaid_fits_githubs_limits() -> None:
    kb = load_knowledge_base()
    text = render(kb, Request("mermaid", view="overview")).data.decode("utf-8")
    assert too_large(text) is None


def test_zero_reads_none() -> None:
    """A count or token band that holds only zero is called "none", not "< 1"."""
    kb = load_knowledge_base()
    an = Analyzer(kb)
    counted = [
        i
        for i, fact in enumerate(kb.facts)
        if fact.unit in ("tokens", "count") and kb.thresholds(fact.name)[:1] == (1.0,)
    ]
    if not counted:
        pytest.skip("no count in the shipped rules is compared with 1 right now")
    for i in counted:
        first = an.cells[i][0]
        assert first.label == "none" and first.high == 1.0
        assert an.cell_of(kb.facts[i].name, 0.0) == 0


@pytest.mark.skipif(not (HAVE_DOT and HAVE_PDFINFO), reason="needs dot and pdfinfo")
@pytest.mark.parametrize("extra", [[], ["--approach", "FINE_TUNING"], ["--paper", "letter"]])
def test_the_overview_and_an_approach_fit_one_landscape_page(
    tmp_path: Path, extra: list[str]
) -> None:
    target = tmp_path / "overview.pdf"
    done = CliRunner().invoke(cli, ["diagram", "-o", str(target), *extra])
    assert done.exit_code == 0, done.output
    info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True).stdout
    assert "Pages:           1" in info
    width, height = (float(x) for x in info.split("Page size:")[1].split("pts")[0].split(" x "))
    assert width > height


def test_an_unknown_approach_is_bad_input() -> None:
    done = CliRunner().invoke(cli, ["diagram", "--approach", "magic"])
    assert done.exit_code == 2
    assert "unknown approach 'magic'" in done.output and "fine_tuning" in done.output


MMDC = Path(__file__).parent.parent / "node_modules" / ".bin" / "mmdc"


@pytest.mark.skipif(not MMDC.exists(), reason="mermaid-cli is installed by 'make test'")
@pytest.mark.parametrize("extra", [[], ["--approach", "rag"]])
def test_mermaid_draws_the_overview(tmp_path: Path, extra: list[str]) -> None:
    """Mermaid itself draws the text (mermaid-cli, with the machine's Chromium)."""
    import json
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Debian's chromium")
    source = tmp_path / "overview.mmd"
    done = CliRunner().invoke(cli, ["diagram", "-o", str(source), *extra])
    assert done.exit_code == 0, done.output
    config = tmp_path / "puppeteer.json"
    config.write_text(json.dumps({"executablePath": chromium, "args": ["--no-sandbox"]}))
    target = tmp_path / "overview.svg"
    drawn = subprocess.run(
        [str(MMDC), "-p", str(config), "-i", str(source), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert drawn.returncode == 0, drawn.stderr
    svg = target.read_text(encoding="utf-8")
    # A short title, the how-to-read text as a comment (naming no colours Mermaid does not
    # draw), open leaves dashed, no legend.
    text = source.read_text(encoding="utf-8")
    title = text.splitlines()[1]
    assert len(title) < 120 and "How to read" not in title
    assert "  %% How to read:" in text and "How to read" not in svg
    assert "colour" not in text
    assert "stroke-dasharray:5 3" in svg and "Recommendation" not in svg
    kb = load_knowledge_base()
    detail = load_diagram(kb)
    shown = summarize(detail) if not extra else summarize(detail, classify=recommends("rag"))
    first = shown.nodes[shown.root]
    assert isinstance(first, Question)
    fact = kb.fact(shown.facts[first.fact])
    assert "<svg" in svg and (fact.short or fact.name) in svg, "the first question is drawn"


@pytest.mark.skipif(not (HAVE_DOT and HAVE_PDFINFO), reason="needs dot and pdfinfo")
def test_the_book_is_overview_approaches_appendix_and_index(tmp_path: Path) -> None:
    kb = load_knowledge_base(KBS / "wide")
    target = tmp_path / "review.pdf"
    done = CliRunner().invoke(
        cli, ["diagram", "--rules", str(KBS / "wide"), "--book", "-o", str(target)]
    )
    assert done.exit_code == 0, done.output
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(target)], capture_output=True, text=True
    ).stdout
    pages = int(info.split("Pages:")[1].split()[0])
    assert f"(PDF, {pages} pages)" in done.output
    sizes = {
        line.split("size:")[1].split("pts")[0].strip()
        for line in info.splitlines()
        if " size:" in line and line.startswith("Page ")
    }
    assert sizes == {"842 x 595"}, "every page is landscape A4"

    def text(page: int) -> str:
        return subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(target), "-"],
            capture_output=True,
            text=True,
        ).stdout

    assert "Decision overview" in text(1)
    names = [a.name for a in kb.approaches]
    for number, name in enumerate(names, 2):
        assert f"When is {name} recommended?" in " ".join(text(number).split())
    front = len(names) + 1
    for number in range(1, front + 1):
        assert f"page {number} of {front}" in text(number), "front pages are numbered"
    index_at = [p for p in range(front + 1, pages + 1) if "Index of the appendix" in text(p)]
    assert index_at and index_at[-1] == pages
    appendix = range(front + 1, index_at[0])
    count = len(appendix)
    for number, page in enumerate(appendix, 1):
        shown = text(page)
        assert "Appendix" in shown and f"page A{number} of A{count}" in shown
        # One numbering scheme: links name appendix pages and anchors as A<n>, A<n><letter>.
        links = re.findall(r"continued on page (\S+)", shown)
        assert all(re.fullmatch(r"A\d+", link) for link in links)
        assert len(re.findall(r"▸ A\d+[A-Z]+ ", shown)) == len(links)
    assert "index p. I1" in text(1), "leaves point to the index by its page label"
    index = "\n".join(text(p) for p in index_at)
    # Every question of the exact diagram is listed with the appendix pages it is on.
    detail = load_diagram(kb, cache_dir())
    asked = {detail.facts[n.fact] for n in detail.nodes if isinstance(n, Question)}
    assert all(name in index for name in asked)
    # Every outcome of the exact diagram is listed, with appendix pages, in the outcome index.
    reached = [
        n.decision for n in (detail.nodes[i] for i in detail.reachable()) if isinstance(n, Leaf)
    ]
    for name in outcome_names(kb, reached):
        row = re.search(rf"^{re.escape(name)}\s+(A\d+.*)$", index, re.M)
        assert row, f"{name} is in the outcome index"
    outcomes = index.split("Outcomes:")[1].split("Questions:")[0]
    listed = [line.split("  ")[0] for line in outcomes.splitlines()[2:] if line.strip()]
    assert sorted(listed) == sorted(set(outcome_names(kb, reached)))
    # The index is set at full size, never scaled down to fit the page.
    heights = word_heights(target, (index_at[0], pages))
    assert heights and min(heights) >= 8.0


@pytest.mark.skipif(not (HAVE_DOT and HAVE_PDFINFO), reason="needs dot and pdfinfo")
@pytest.mark.parametrize("source", ["--fact", "--facts"])
def test_the_book_draws_the_given_context_and_the_highlighted_case(
    source: str, tmp_path: Path
) -> None:
    """--given, --fact and --facts shape every part of the book as they shape --detail (the
    book ignored them: it was the plain book)."""
    facts = tmp_path / "case.yaml"
    facts.write_text("channel: chat\n", encoding="utf-8")
    case = ["--fact", "channel=chat"] if source == "--fact" else ["--facts", str(facts)]
    target = tmp_path / "review.pdf"
    done = CliRunner().invoke(
        cli,
        [
            "diagram",
            *("--rules", str(KBS / "wide"), "--book", "--given", "domain=legal", *case),
            *("-o", str(target)),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "Highlighted path: depends on" in done.output
    pages = subprocess.run(
        ["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")
    drawn = [page for page in pages if page.strip() and "Index of the appendix" not in page]
    index = "\n".join(page for page in pages if "Index of the appendix" in page)
    assert len(drawn) > 5 and index, "front pages, appendix pages and an index"
    for page in drawn:
        shown = " ".join(page.split())
        assert "Given: domain=legal" in shown
        assert "Highlighted case: given: domain=legal, channel=chat" in shown
    appendix = [page for page in drawn if "Appendix" in page]
    assert appendix and all("Path on page" in page for page in appendix)
    # The appendix is the diagram below the fixed context, which never asks the domain: only
    # the index's statement of that context names it.
    assert "Given: domain=legal" in " ".join(index.split())
    listed = "\n".join(line for line in index.splitlines() if "Given:" not in line)
    assert "Regulated data" in listed and not re.search(r"\bdomain\b", listed)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--book"], "--book writes a PDF"),
        (["--book", "-o", "x.svg"], "--book writes a PDF"),
        (["--detail", "--approach", "rag"], "only one of"),
        (["--approach", "nope"], "unknown approach 'nope'"),
    ],
)
def test_document_options_bad_input(args: list[str], needle: str) -> None:
    done = CliRunner().invoke(cli, ["diagram", *args])
    assert done.exit_code == 2
    assert needle in done.output and len(done.output.strip().splitlines()) == 1


def test_the_readme_example_follows_every_branch_of_unknown_facts(tmp_path: Path) -> None:
    """Known facts are followed; the unknown ones leave several outcomes, all of them named."""
    done = CliRunner().invoke(
        cli,
        [
            "diagram",
            "--fact",
            "problem_type=knowledge",
            "--fact",
            "change_frequency=daily",
            "-o",
            str(tmp_path / "case.dot"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "stops at" not in done.output
    line = next(x for x in done.output.splitlines() if x.startswith("Highlighted path:"))
    kb = load_knowledge_base()
    an = Analyzer(kb)
    detail = load_diagram(kb, cache_dir())
    case = make_case(kb, {"problem_type": "knowledge", "change_frequency": "daily"})
    masks = detail.masks_of(an, dict(case.values))  # with the documented defaults
    outcomes = detail.trace(masks).outcomes(detail)
    names = {a.id: a.name for a in kb.approaches}
    assert len(outcomes) > 1
    assert "depends on" in line
    for outcome in outcomes:
        assert outcome.recommendation is not None
        short = names[outcome.recommendation].split("(")[-1].rstrip(")")
        assert short in line


def test_each_question_narrows_and_open_leaves_name_their_separators_first() -> None:
    """Every question of the overview leads to different places, and an open leaf names first
    the fact whose answers leave the fewest recommendations (then outcomes) possible on
    average."""
    kb = load_knowledge_base(KBS / "layered")
    detail = load_diagram(kb)
    summary = summarize(detail, budget=1, leaves=None)

    def remaining(region: Region, fact: int) -> float:
        sizes = []
        for cell in cells_in(region[fact]):
            box = (*region[:fact], 1 << cell, *region[fact + 1 :])
            found = detail.trace(box).outcomes(detail)
            sizes.append(4 * len({d.recommendation for d in found}) + len(found))
        return sum(sizes) / len(sizes)

    for region, _, node_id in leaves(summary):
        node = summary.nodes[node_id]
        if not isinstance(node, Open) or len(node.depends) < 2:
            continue
        first = remaining(region, node.depends[0])
        assert first <= min(remaining(region, f) for f in node.depends)
    for n in summary.reachable():
        node = summary.nodes[n]
        if isinstance(node, Question):
            assert len({child for _, child in node.branches}) > 1


@pytest.mark.skipif(not HAVE_DOT, reason="needs dot")
@pytest.mark.parametrize(
    ("paper", "approach"), [("a4", None), ("letter", None), ("a4", "fine_tuning"), ("a4", "rag")]
)
def test_the_overview_prints_at_six_points_or_more(paper: str, approach: str | None) -> None:
    """Scaled to fit the landscape page, the smallest text of the overview (and of an
    approach's view) stays >= 6 pt, the usual floor for printed diagram labels."""
    from llm_advisor.diagrams import graphviz as gv
    from llm_advisor.diagrams.paginate import PAPERS

    kb = load_knowledge_base()
    view = "overview" if approach is None else "approach"
    request = Request("dot", paper, view=view, approach=approach)
    dot = render(kb, request).data.decode("utf-8")
    width, height = gv.measure([dot])[0]
    usable_w, usable_h = PAPERS[paper].usable
    scale = min(1.0, usable_w / width, usable_h / height)
    assert min(gv.DETAIL_PT, gv.EDGE_PT, gv.TEXT_PT) * scale >= 6


def test_open_leaves_are_compact_and_name_exact_outcomes() -> None:
    """An open leaf names each outcome still possible once, as its exact phrase ("RAG +
    Fine-tuning", so that the reader sees which approach a partner goes with), and at most
    three facts."""
    from llm_advisor.diagrams.labels import MAINLY_SHOWN, outcome_names
    from llm_advisor.diagrams.scene import build_scene

    kb = load_knowledge_base()
    overview = summarize(load_diagram(kb))
    scene = build_scene(kb, overview)
    opened = [n for n in scene.nodes if n.kind == "open"]
    assert opened
    combined = 0
    for drawn in opened:
        node = overview.nodes[drawn.source or 0]
        assert isinstance(node, Open)
        main = " ".join(drawn.lines)
        assert main.split(" · ") == outcome_names(kb, node.outcomes)
        combined += any(d.combine_with for d in node.outcomes)
        text = " ".join(drawn.detail)
        assert "combinations with" not in text
        said = text.split("depends ")[1]
        assert said.startswith("mainly on" if len(node.depends) > MAINLY_SHOWN else "on")
        listed = said.split(" (exact")[0].split(" on ", 1)[1].split(", ")
        assert len(listed) == min(len(node.depends), MAINLY_SHOWN)
    assert combined, "some open leaf lists a combination"


def drawn_outcomes(summary: DecisionDiagram, node_id: int) -> frozenset[Decision]:
    node = summary.nodes[node_id]
    assert not isinstance(node, Question)
    return frozenset(node.outcomes if isinstance(node, Open) else (node.decision,))


@pytest.mark.parametrize("given", [{}, {"deployment": "on_prem"}])
def test_the_overview_settles_branches_and_asks_only_what_changes_the_outcomes(
    given: dict[str, Value],
) -> None:
    """The shipped overview (and the one for on-premises deployment) has decided leaves, and no
    question whose answers all lead to leaves with the same outcomes: two answers that leave
    the same outcomes share one branch."""
    from llm_advisor.diagrams.export import diagram_for

    kb = load_knowledge_base()
    detail = diagram_for(kb, given, cache_dir())
    views = [summarize(detail)]
    views += [summarize(detail, classify=recommends(a)) for a in kb.approach_ids]
    assert any(isinstance(views[0].nodes[n], Leaf) for n in views[0].reachable())
    for summary in views:
        for n in summary.reachable():
            node = summary.nodes[n]
            if not isinstance(node, Question):
                continue
            ends = [c for _, c in node.branches if not isinstance(summary.nodes[c], Question)]
            sets = [drawn_outcomes(summary, c) for c in ends]
            assert len(set(sets)) == len(sets), "sibling leaves list different outcomes"


def test_an_approach_page_says_when_the_approach_is_only_a_partner() -> None:
    """On an approach's page a leaf where it is never the recommendation says "Not
    recommended", and names the recommendations it may be a partner of, exactly those."""
    from llm_advisor.diagrams.labels import short_name
    from llm_advisor.diagrams.scene import Leaves, build_scene

    kb = load_knowledge_base()
    detail = load_diagram(kb)
    names = {a.id: short_name(a.name) for a in kb.approaches}
    partnered = 0
    for approach in kb.approach_ids:
        view = summarize(detail, classify=recommends(approach))
        scene = build_scene(kb, view, leaves=Leaves("(exact)", focus=approach, aligned=True))
        for drawn in scene.nodes:
            main = " ".join(drawn.lines)
            assert not main.startswith("Not " + names[approach])
            if not main.startswith("Not recommended"):
                continue
            outcomes = drawn_outcomes(view, drawn.source or 0)
            assert all(d.recommendation != approach for d in outcomes)
            leads = {
                names[d.recommendation]
                for d in outcomes
                if approach in d.combine_with
                if d.recommendation
            }
            if leads:
                partnered += 1
                said = main.split("; may be a partner of ")[1].split(", ")
                assert set(said) == leads
            else:
                assert main == "Not recommended"
    assert partnered, "some page shows an approach that is only a partner"
