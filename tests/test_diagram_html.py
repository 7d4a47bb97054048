"""The interactive HTML page, clicked through in a real headless Chromium (Debian's chromium and
chromium-driver): it reaches the recommendation inference gives, goes back, shows the tree."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diagram_helpers import KBS

from llm_advisor.cli.main import cli
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.effects import Advise
from llm_advisor.engine.language.facts import Case, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase, Value

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ADVISOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="llm-advisor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in (
        "--headless=new",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def write_page(tmp_path: Path, rules: Path | None) -> Path:
    from click.testing import CliRunner

    target = tmp_path / "tree.html"
    args = ["diagram", "-o", str(target)]
    if rules is not None:
        args += ["--rules", str(rules)]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    return target


def sample(kb: KnowledgeBase, rng: random.Random) -> dict[str, Value]:
    an = Analyzer(kb)
    case: dict[str, Value] = {}
    for i, fact in enumerate(kb.facts):
        cell = rng.choice(an.cells[i])
        assert cell.value is not None
        case[fact.name] = cell.value
    return case


def click_through(driver: Any, kb: KnowledgeBase, case: dict[str, Value]) -> tuple[str, str]:
    """Answer every question the page asks for `case`; the outcome's data attributes."""
    from selenium.webdriver.common.by import By

    an = Analyzer(kb)
    for _ in range(len(kb.facts) + 1):
        outcome = driver.find_element(By.ID, "outcome")
        if outcome.is_displayed():
            return outcome.get_attribute("data-recommendation"), outcome.get_attribute(
                "data-combine"
            )
        fact = driver.find_element(By.ID, "ask").get_attribute("data-fact")
        cell = an.cell_of(fact, case[fact])
        driver.find_element(By.CSS_SELECTOR, f'#answers button[data-cell="{cell}"]').click()
    raise AssertionError("the page asked more questions than there are facts")


def full(kb: KnowledgeBase, values: dict[str, Value]) -> Case:
    return Case(
        tuple((f.name, values[f.name]) for f in kb.facts),
        tuple((f.name, "given") for f in kb.facts),
    )


@pytest.mark.parametrize("name", ["mini", "wide", "shipped"])
def test_the_walk_reaches_the_recommendation_of_inference(
    browser: Any, tmp_path: Path, name: str
) -> None:
    rules = None if name == "shipped" else KBS / name
    kb = load_knowledge_base(rules)
    page = write_page(tmp_path, rules)
    rng = random.Random(13)
    for _ in range(8):
        case = sample(kb, rng)
        browser.get(page.as_uri())
        recommendation, combine = click_through(browser, kb, case)
        result = evaluate(kb, full(kb, case))
        assert recommendation == (result.recommendation or "")
        assert combine == ",".join(result.combine_with)


def test_back_and_the_full_tree(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    kb = load_knowledge_base()
    browser.get(write_page(tmp_path, None).as_uri())
    first = browser.find_element(By.ID, "ask").get_attribute("data-fact")
    assert first == kb.facts[0].name, "the walk starts with the rule base's first fact"
    browser.find_element(By.CSS_SELECTOR, "#answers button").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trail li")) == 1
    browser.find_element(By.ID, "back").click()
    assert browser.find_elements(By.CSS_SELECTOR, "#trail li") == []
    assert browser.find_element(By.ID, "ask").get_attribute("data-fact") == first
    browser.find_element(By.ID, "show-tree").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tree .q")) > 10
    # The reasons name rules of the rule base.
    rng = random.Random(5)
    click_through(browser, kb, sample(kb, rng))
    ids = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#reasons code")}
    assert ids and ids <= {rule.id for rule in kb.rules}


def test_the_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    text = write_page(tmp_path, KBS / "mini").read_text(encoding="utf-8")
    assert "http://" not in text.split("walk-data")[0] and "src=" not in text
    assert "default-src 'none'" in text


def test_a_highlighted_case_opens_with_its_answers_given(browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    kb = load_knowledge_base(KBS / "wide")
    target = tmp_path / "case.html"
    done = CliRunner().invoke(
        cli,
        ["diagram", "--rules", str(KBS / "wide"), "-o", str(target), "--fact", "domain=legal"],
    )
    assert done.exit_code == 0, done.output
    browser.get(target.as_uri())
    trail = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#trail li")]
    short = kb.fact("domain").short or "domain"
    assert f"{short}: legal" in trail
    if browser.find_element(By.ID, "ask").is_displayed():
        assert browser.find_element(By.ID, "ask").get_attribute("data-fact") != "domain"
    assert "domain=legal" in browser.find_element(By.ID, "case-note").text


def test_a_partial_case_starts_from_its_given_answers_only(browser: Any, tmp_path: Path) -> None:
    """Assumed defaults are shown as assumed, not as answers; the case note names the facts
    `recommend --json` says the outcome depends on, each note on its own line."""
    import json

    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    kb = load_knowledge_base()
    given = {"problem_type": "knowledge", "change_frequency": "daily", "needs_citations": "yes"}
    facts = [arg for name, value in given.items() for arg in ("--fact", f"{name}={value}")]
    advice = CliRunner().invoke(cli, ["recommend", "--json", "--no-audit", *facts])
    assert advice.exit_code == 0, advice.output
    data = json.loads(advice.stdout)
    assumed = {n: f["display"] for n, f in data["facts"].items() if f["status"] == "defaulted"}
    assert assumed
    target = tmp_path / "case.html"
    done = CliRunner().invoke(cli, ["diagram", "-o", str(target), "--date", "2024-05-01", *facts])
    assert done.exit_code == 0, done.output
    source = target.read_text(encoding="utf-8")
    assert "How to read" not in source and "colour swatches" not in source
    browser.get(target.as_uri())
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading == f"Decision walkthrough · rule base {kb.fingerprint[:12]} · 2024-05-01"
    trail = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#trail li")]
    assert [item.split(": ")[0] for item in trail] == [kb.fact(n).short for n in given]
    note = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#case-note p")]
    (caption,) = [line for line in note if line.startswith("Highlighted case")]
    assert f"depends on: {', '.join(data['depends_on_facts'])} →" in caption
    assert "given: " + ", ".join(f"{n}={v}" for n, v in given.items()) + "; assumed: " in caption
    shown = browser.find_element(By.ID, "assumed").text
    for name in assumed:
        assert f"{kb.fact(name).short}: " in shown
    # An assumed default's question is still asked, with the default marked.
    an = Analyzer(kb)
    for _ in range(len(kb.facts)):
        if not browser.find_element(By.ID, "ask").is_displayed():
            break
        fact = browser.find_element(By.ID, "ask").get_attribute("data-fact")
        marked = browser.find_elements(By.CSS_SELECTOR, '#answers button[data-assumed="true"]')
        if fact in assumed:
            cell = an.cell_of(fact, make_case(kb, {fact: assumed[fact]}).get(fact))
            assert [b.get_attribute("data-cell") for b in marked] == [str(cell)]
            marked[0].click()
        else:
            assert not marked
            browser.find_element(By.CSS_SELECTOR, "#answers button").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trail li")) > len(given)


def test_focus_moves_to_what_an_answer_brings_up(browser: Any, tmp_path: Path) -> None:
    """After each answer the keyboard focus is on the next question, at the end on the outcome's
    heading; both regions are live; no heading is empty; sources are cited in full."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    kb = load_knowledge_base()
    browser.get(write_page(tmp_path, None).as_uri())
    for region in ("ask", "outcome"):
        assert browser.find_element(By.ID, region).get_attribute("aria-live") == "polite"
    for h in browser.find_elements(By.CSS_SELECTOR, "h1, h2, h3"):
        assert h.get_attribute("textContent").strip(), "an empty heading"
    an = Analyzer(kb)
    case = sample(kb, random.Random(21))
    active = browser.switch_to.active_element
    for _ in range(len(kb.facts)):
        if not browser.find_element(By.ID, "ask").is_displayed():
            break
        fact = browser.find_element(By.ID, "ask").get_attribute("data-fact")
        cell = an.cell_of(fact, case[fact])
        button = browser.find_element(By.CSS_SELECTOR, f'#answers button[data-cell="{cell}"]')
        button.send_keys(Keys.ENTER)
        active = browser.switch_to.active_element
        if browser.find_element(By.ID, "ask").is_displayed():
            assert active.get_attribute("id") == "question"
    assert active.get_attribute("id") == "outcome-name"
    assert active.text == browser.find_element(By.ID, "outcome-name").text != "Outcome"
    sources = {s.key: s for s in kb.sources}
    rows = browser.find_elements(By.CSS_SELECTOR, "#reasons tr")
    assert rows
    for row in rows:
        cell = row.find_element(By.CSS_SELECTOR, "td.source")
        rule = kb.rule(cell.find_element(By.TAG_NAME, "code").text)
        src = sources[rule.source]
        text = " ".join(cell.text.split())
        who = f"{src.author} ({src.year})" if src.year else src.author
        assert f"{who}. {src.title}." in text, text
        if src.url:
            link = cell.find_element(By.TAG_NAME, "a")
            assert link.get_attribute("href") == src.url and src.url in text


def test_the_full_tree_is_numbered_in_display_order(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(write_page(tmp_path, KBS / "wide").as_uri())
    browser.find_element(By.ID, "show-tree").click()
    entries = browser.find_elements(By.CSS_SELECTOR, "#tree .q")
    assert len(entries) > 3
    numbers = range(1, len(entries) + 1)
    assert [e.get_attribute("id") for e in entries] == [f"q{n}" for n in numbers]
    assert [e.find_element(By.TAG_NAME, "b").text.split(".")[0] for e in entries] == [
        f"Q{n}" for n in numbers
    ]
    for link in browser.find_elements(By.CSS_SELECTOR, "#tree a"):
        target = link.get_attribute("href").split("#")[1]
        assert link.text == target.upper() and 1 < int(target[1:]) <= len(entries)


def test_the_reasons_show_what_recommend_shows_beside_the_plan(
    browser: Any, tmp_path: Path
) -> None:
    """The walked outcome's reasons show advice and techniques only as `recommend` does beside
    that plan (`shown_with`, `shown_without`), and every effect in words. The first case is
    two gaps with a fine-tune in the plan, where the advice to tune the behaviour next (shown
    only without fine-tuning) fires but is not shown."""
    from selenium.webdriver.common.by import By

    kb = load_knowledge_base()
    page = write_page(tmp_path, None)
    rng = random.Random(29)
    given = {
        "problem_type": "both", "prompt_baseline": "falls_short", "budget": "$500",
        "timeline": "3d", "labeled_examples": "100", "ml_expertise": "some",
        "accuracy_need": "high",
    }  # fmt: skip
    first = sample(kb, rng)
    first.update((name, v) for name, v in make_case(kb, given).values if v is not None)
    hidden_once = False
    for case in [first] + [sample(kb, rng) for _ in range(5)]:
        result = evaluate(kb, full(kb, case))
        browser.get(page.as_uri())
        click_through(browser, kb, case)
        cells = [
            e.text for e in browser.find_elements(By.CSS_SELECTOR, "#reasons tr td:nth-child(3)")
        ]
        shown = "; ".join(cells)
        assert "undefined" not in shown, cells
        fired = {f.rule_id for f in result.firings}
        for rule in kb.rules:
            for e in rule.effects:
                if isinstance(e, Advise) and rule.id in fired and f"advice: {e.text}" in shown:
                    assert e.text in result.advice, (rule.id, case)
                if isinstance(e, Advise) and rule.id in fired and e.text not in result.advice:
                    hidden_once = True
    assert hidden_once, "no sampled case had advice that recommend leaves out"
