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
from llm_advisor.engine.language.facts import Case
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
