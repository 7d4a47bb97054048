"""Resumable consultations: answers saved as they are given, `consult --resume` after `quit`,
Ctrl-D or Ctrl-C (in a real pseudo-terminal), and a rule base that changed in between."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest
from cli_helpers import bad_input
from click.testing import CliRunner, Result

from llm_advisor.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
CONSULT = str(Path(__file__).parent / "kbs" / "consult")
QUESTION = re.compile(r"Q(\d+)\. [^\r\n]*\[(\w+)\]")
TIMEOUT = 30
# Answers to the consultation rule base's questions, typed as people answer: with these, all
# five are asked.
ANSWERS = {
    "change_frequency": "static",
    "budget": "$50k",
    "timeline": "6mo",
    "citations": "no",
    "team": "none",
}


def saved_file() -> Path:
    return Path(os.environ["LLM_ADVISOR_STATE_DIR"]) / "consultation.json"


def saved_answers() -> dict[str, str | None]:
    data = json.loads(saved_file().read_text("utf-8"))
    return {a["fact"]: a["answer"] for a in data["answers"]}


def consult(*answers: str, args: tuple[str, ...] = (), rules: str | None = CONSULT) -> Result:
    argv = ["consult", "--no-audit", *(("--rules", rules) if rules else ()), *args]
    return CliRunner().invoke(cli, argv, input="".join(f"{a}\n" for a in answers))


def asked(output: str) -> list[str]:
    return [m.group(2) for m in QUESTION.finditer(output)]


def spawn(*args: str) -> pexpect.spawn:
    script = Path(sys.executable).parent / "llm-advisor"
    command, argv = (
        (str(script), ["consult", "--no-audit", "--rules", CONSULT, *args])
        if script.exists()
        else (
            sys.executable,
            ["-m", "llm_advisor", "consult", "--no-audit", "--rules", CONSULT, *args],
        )
    )
    return pexpect.spawn(
        command, argv, cwd=str(ROOT), env=dict(os.environ), encoding="utf-8", timeout=TIMEOUT
    )


def next_question(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(QUESTION)
    number, fact = int(child.match.group(1)), child.match.group(2)
    child.expect("> ")
    return number, fact


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    output: str = child.before
    child.close()
    return output


def last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


def answer_to_the_end(child: pexpect.spawn, given: set[str]) -> str:
    """Answer every question until the outcome is decided; no question may be asked twice."""
    while child.expect([QUESTION, r"Decided after|Stopped after"]) == 0:
        fact = child.match.group(2)
        assert fact not in given, f"{fact} asked again"
        child.expect("> ")
        child.sendline(ANSWERS[fact])
        given.add(fact)
    return finish(child)


# --- in a terminal ------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", ["ctrl-d", "ctrl-c", "quit"])
def test_stopped_consultation_resumes_where_it_stopped(stop: str) -> None:
    """Two answers, then Ctrl-D, Ctrl-C or `quit`: the exit code of each, one line saying how to
    go on; `--resume` asks neither question again and goes on at Q3; the finished consultation
    clears what it saved, so a second `--resume` is bad input."""
    child = spawn()
    given: set[str] = set()
    for number in (1, 2):
        shown, fact = next_question(child)
        assert shown == number
        child.sendline(ANSWERS[fact])
        given.add(fact)
    next_question(child)
    if stop == "ctrl-d":
        child.sendeof()
    elif stop == "ctrl-c":
        child.sendintr()
    else:
        child.sendline("quit")
    output = finish(child)
    assert child.exitstatus == (130 if stop == "ctrl-c" else 1), output
    assert "Traceback" not in output
    line = last_line(output)
    assert "2 answers are saved" in line and "llm-advisor consult --resume" in line, line
    if stop == "ctrl-c":
        after = output.split("^C", 1)[-1]
        assert len([x for x in after.splitlines() if x.strip()]) == 1, output
    assert set(saved_answers()) == given

    child = spawn("--resume")
    child.expect(r"Resuming the unfinished consultation: 2 answers restored")
    number, fact = next_question(child)
    assert number == 3 and fact not in given
    child.sendline(ANSWERS[fact])
    given.add(fact)
    output = answer_to_the_end(child, given)
    assert child.exitstatus == 0, output
    assert not saved_file().exists()  # a finished consultation clears what it saved
    bad_input(CliRunner().invoke(cli, ["consult", "--resume"]), "no unfinished consultation")


# --- piped answers ------------------------------------------------------------------------------


def test_answers_are_saved_as_they_are_given_and_replaced_whole() -> None:
    first = consult("static")
    assert first.exit_code == 1
    assert saved_answers() == {"change_frequency": "static"}
    second = consult("back", args=("--resume",))  # withdraw it: saved at once
    assert second.exit_code == 1, second.output
    assert saved_answers() == {}
    assert sorted(p.name for p in saved_file().parent.iterdir()) == ["consultation.json"]


def test_a_new_consultation_says_one_is_saved() -> None:
    consult("static")
    result = consult()
    assert "An unfinished consultation is saved" in result.stdout
    assert "llm-advisor consult --resume" in result.stdout


def test_resume_with_nothing_saved_is_bad_input() -> None:
    line = bad_input(consult(args=("--resume",)), "no unfinished consultation")
    assert str(saved_file()) in line


def test_a_damaged_saved_consultation_is_bad_input() -> None:
    saved_file().parent.mkdir(parents=True)
    saved_file().write_text('{"format": 1, "answers": [')
    bad_input(consult(args=("--resume",)), str(saved_file()), "damaged")


def test_resume_on_a_changed_rule_base_drops_what_it_no_longer_takes(tmp_path: Path) -> None:
    """The saved answers go with the rule base they were given on; when it has changed since,
    an answer it no longer takes is dropped (and asked again), the others are kept."""
    rules = tmp_path / "rules"
    shutil.copytree(CONSULT, rules)
    stopped = consult("static", "6mo", rules=str(rules))
    assert stopped.exit_code == 1
    assert saved_answers() == {"change_frequency": "static", "timeline": "180d"}
    for path in rules.glob("*.yaml"):  # `static` is now called `fixed`
        path.write_text(re.sub(r"\bstatic\b", "fixed", path.read_text()))
    result = consult("quit", args=("--resume",), rules=None)  # on the rules it was started with
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "Resuming the unfinished consultation: 1 answer restored (timeline=6mo)" in out
    assert "The rule base has changed since" in out
    assert "dropped change_frequency: 'static' is no longer a valid answer" in out
    assert asked(out) == ["change_frequency"]
    assert "1 answer is saved" in result.stderr
    assert saved_answers() == {"timeline": "180d"}
