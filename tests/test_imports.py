"""A command imports only what it uses: the modules that slow a cold start down stay out of the
commands that do not need them (read from `python -X importtime`, run after a warm-up)."""

from __future__ import annotations

import sys
from pathlib import Path

from cli_helpers import imported, top

FACTS = ["--fact", "problem_type=knowledge", "--fact", "budget=$50k", "--fact", "timeline=3w"]
FULL = [
    *FACTS,
    *("--fact", "change_frequency=weekly", "--fact", "labeled_examples=0"),
    *("--fact", "data_volume=2M", "--fact", "accuracy_need=high"),
]
"""Every fact without a default known: such a case is decided; the analysis only looks for the
assumed defaults it rests on."""
STATED = [
    *FULL,
    *("--fact", "needs_citations=no", "--fact", "ml_expertise=some"),
    *("--fact", "domain_distance=general", "--fact", "deployment=cloud"),
    *("--fact", "request_volume=low", "--fact", "provenance=flexible"),
    *("--fact", "prompt_baseline=untried"),
]
"""Every fact given: nothing is assumed, and no analysis is needed."""
NEVER_WARM = {"yaml", "tempfile", "secrets", "networkx", "graphviz", "psycopg"}
"""Reading YAML and writing caches happen only on a cold cache; the rest belong to other commands."""
if sys.platform == "linux":
    NEVER_WARM.add("platformdirs")  # the XDG variables are read directly


def test_recommend_without_recording() -> None:
    modules = imported(["recommend", "--no-audit", *FULL])
    assert "durable.engine" in modules  # inference runs
    assert not top(modules) & (NEVER_WARM | {"hashlib", "sqlite3", "cryptography"})
    assert not {m for m in modules if m.startswith("llm_advisor.engine.audit.")}
    analysis = {m for m in modules if m.startswith("llm_advisor.engine.analysis.")}
    assert "llm_advisor.engine.analysis.what_if" in analysis  # the defaults it rests on
    assert not analysis & {
        f"llm_advisor.engine.analysis.{m}" for m in ("dependence", "explanation")
    }
    assert "llm_advisor.engine.inference.codec" not in modules  # the encoding: --json or a record
    assert "unicodedata" not in modules  # only to show an error


def test_recommend_on_stated_facts_loads_no_analysis() -> None:
    modules = imported(["recommend", "--no-audit", *STATED])
    assert "durable.engine" in modules
    assert not {m for m in modules if m.startswith("llm_advisor.engine.analysis.")}


def test_recommend_on_a_partial_case() -> None:
    """With facts unknown, the analysis says whether the outcome is decided; nothing else."""
    modules = imported(["recommend", "--no-audit", *FACTS])
    assert "llm_advisor.engine.analysis.dependence" in modules
    assert "llm_advisor.engine.analysis.explanation" not in modules
    assert not top(modules) & (NEVER_WARM | {"hashlib", "sqlite3", "cryptography"})


def test_recommend_recording() -> None:
    modules = imported(["recommend", *FULL])
    assert {"sqlite3", "cryptography"} <= top(modules)
    assert not top(modules) & NEVER_WARM
    assert "llm_advisor.engine.audit.replay" not in modules
    assert "llm_advisor.engine.audit.postgres" not in modules  # a SQLite store


def test_consult_to_its_first_question() -> None:
    modules = imported(["consult", "--no-audit"])  # input ends at the first question
    assert "llm_advisor.engine.analysis.consultation" in modules
    assert not top(modules) & (NEVER_WARM | {"durable", "hashlib", "sqlite3", "cryptography"})


def test_consult_answering_runs_no_inference() -> None:
    """Each answer is saved (which may write a file), but inference waits for the result."""
    modules = imported(["consult", "--no-audit"], "1\n")
    assert "llm_advisor.engine.analysis.resume" in modules
    assert not top(modules) & {"durable", "sqlite3", "cryptography"}
    assert "llm_advisor.engine.inference.run" not in modules


def test_rules_check_and_diff_run_no_inference_unless_cross_checking() -> None:
    """`rules check` and `rules diff` need only the analysis; inference (durable_rules) loads
    when a cross-check runs it."""
    mini = str(Path(__file__).parent / "kbs" / "mini")
    assert "durable" not in top(imported(["rules", "check", "--rules", mini]))
    assert "durable" not in top(imported(["rules", "diff", mini, mini]))
    assert "durable" in top(imported(["rules", "check", "--rules", mini, "--cross-check", "3"]))
