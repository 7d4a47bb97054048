"""`llm-advisor consult` in a real pseudo-terminal: reading the prompts and answering them the way
a person would, with `why`, `?`, `back` and `unknown`, and interrupting with Ctrl-C or Ctrl-D."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
from click.testing import CliRunner

from llm_advisor.cli.main import cli
from llm_advisor.engine import load_knowledge_base
from llm_advisor.engine.language.model import Fact

ROOT = Path(__file__).resolve().parent.parent
QUESTION = re.compile(r"Q(\d+)\. [^\r\n]*\[(\w+)\]")
TIMEOUT = 30

# The team's facts, typed as people answer. This case makes the consultation ask about facts
# with a documented default (ml_expertise, needs_citations), so that `unknown` assumes one.
CASE = {
    "problem_type": "behavior",
    "change_frequency": "weekly",
    "labeled_examples": "600",
    "data_volume": "5M",
    "accuracy_need": "high",
    "budget": "$50k",
    "timeline": "3w",
    "needs_citations": "yes",
    "ml_expertise": "some",
    "domain_distance": "specialized",
    "deployment": "cloud",
    "request_volume": "low",
    "provenance": "flexible",
    "prompt_baseline": "untried",
}
OTHER_QUANTITY = {"tokens": "300B", "count": "0", "usd": "$3M", "duration": "1y"}


def spawn() -> pexpect.spawn:
    """`llm-advisor consult --no-audit` on the shipped rule base, in a pseudo-terminal."""
    script = Path(sys.executable).parent / "llm-advisor"
    if script.exists():
        command, args = str(script), ["consult", "--no-audit"]
    else:
        command, args = sys.executable, ["-m", "llm_advisor", "consult", "--no-audit"]
    return pexpect.spawn(
        command,
        args,
        cwd=str(ROOT),
        env=dict(os.environ),
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 200),
    )


def next_question(child: pexpect.spawn) -> tuple[int, str]:
    """Wait for the next question and its prompt; returns its number and fact."""
    child.expect(QUESTION)
    number, fact = int(child.match.group(1)), child.match.group(2)
    child.expect("> ")
    return number, fact


def other_answer(fact: Fact, text: str) -> str:
    """A valid answer different from `text`."""
    if fact.kind.continuous:
        assert fact.unit is not None
        return OTHER_QUANTITY[fact.unit]
    values = [fact.kind.display(fact, value) for value in fact.domain]
    return next(v for v in values if v != text)


def finish(child: pexpect.spawn) -> str:
    """Everything printed until the process ends; the process must exit by itself."""
    child.expect(pexpect.EOF)
    output: str = child.before
    child.close()
    return output


def test_whole_consultation_with_why_back_and_unknown() -> None:
    kb = load_knowledge_base()
    assert set(CASE) == set(kb.fact_names), "CASE answers every question the consultation may ask"
    child = spawn()
    given: dict[str, str] = {}

    # Q1: ask why, ask for help, then answer.
    number, first = next_question(child)
    assert number == 1
    child.sendline("why")
    child.expect("Still open between: ")
    child.expect("Rules still waiting on this answer:")
    child.expect(r"\(([\w-]+), (\w+\.yaml:\d+)\)")
    rule_id, location = child.match.group(1), child.match.group(2)
    assert kb.rule(rule_id).location == location
    child.expect("> ")
    child.sendline("?")
    child.expect_exact(kb.fact(first).help[:40])
    child.expect("> ")
    child.sendline(CASE[first])
    given[first] = CASE[first]

    # Q2: a wrong answer, taken back at Q3 and corrected.
    number, second = next_question(child)
    assert number == 2
    assert second != first
    wrong = other_answer(kb.fact(second), CASE[second])
    child.sendline(wrong)
    number, _ = next_question(child)
    assert number == 3
    child.sendline("back")
    assert next_question(child) == (2, second)
    child.sendline(CASE[second])
    given[second] = CASE[second]

    # The rest: answer truthfully until the outcome is decided, except "don't know" to the first
    # question that has a documented default.
    unknown = None
    while True:
        index = child.expect([QUESTION, r"Decided after (\d+) questions; (\d+) of (\d+) questions"])
        if index == 1:
            break
        fact = child.match.group(2)
        assert fact not in given, f"{fact} asked twice"
        child.expect("> ")
        if unknown is None and kb.fact(fact).default is not None:
            child.sendline("unknown")
            child.expect(rf"Noted: {fact} unknown \(assuming [^)]+\)\.")
            unknown = given[fact] = "unknown"
        else:
            child.sendline(CASE[fact])
            given[fact] = CASE[fact]
    assert unknown is not None, "no question with a documented default came up: change CASE"
    asked, skipped, total = (int(child.match.group(i)) for i in (1, 2, 3))
    assert asked == len(given)
    assert (skipped, total) == (len(kb.facts) - asked, len(kb.facts))
    assert skipped > 0, "some questions should not have been needed"
    child.expect(r"(Recommendation: ([^\r\n\x1b]+)|No approach fits)")
    shown = child.match.group(2)
    output = finish(child)
    assert child.exitstatus == 0, output
    assert "Traceback" not in output

    # The same facts given to `recommend` give the same recommendation.
    argv = ["recommend", "--json", "--no-audit"]
    for name, value in given.items():
        argv += ["--fact", f"{name}={value}"]
    expected = json.loads(CliRunner().invoke(cli, argv).stdout)["recommendation"]
    names = {a.id: a.name for a in kb.approaches}
    assert shown == (names[expected] if expected else None)


def test_ctrl_c_exits_130_with_one_line() -> None:
    child = spawn()
    _, fact = next_question(child)
    child.sendline(CASE[fact])
    next_question(child)
    child.sendintr()
    output = finish(child)
    assert child.exitstatus == 130, output
    after = output.split("^C", 1)[-1]
    lines = [line for line in after.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output


CTRL_C_WHILE_LOADING = """
import builtins, os, signal
from llm_advisor import cli

load = builtins.__import__

def interrupted_import(name, *args, **kwargs):
    if name == "llm_advisor.cli.main":  # Ctrl-C while the command line's modules load
        os.kill(os.getpid(), signal.SIGINT)
    return load(name, *args, **kwargs)

builtins.__import__ = interrupted_import
cli.run()
"""


def test_ctrl_c_while_modules_load_exits_130_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_LOADING, "consult"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=TIMEOUT,
        check=False,
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "Interrupted.\n", "")


def test_ctrl_d_ends_the_consultation_with_one_line() -> None:
    child = spawn()
    next_question(child)
    child.sendeof()
    output = finish(child)
    assert child.exitstatus == 1, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "Input ended before the consultation finished; nothing was recorded."
    )
