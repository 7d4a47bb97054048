"""The console script as a process: it skips the interpreter's teardown at exit, and loses nothing
by it (output through a pipe, exit codes, exit handlers, threads still running)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from llm_advisor.cli.main import cli

SCRIPT = Path(sys.executable).parent / "llm-advisor"
FACTS = ["--fact", "problem_type=knowledge", "--fact", "budget=$50k", "--fact", "timeline=3w"]


def run(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)


def in_process(code: str, *args: str) -> list[str]:
    """A Python process that runs `code`, then the console script's entry point with `args`."""
    entry = f"import sys\nsys.argv = ['llm-advisor', *{list(args)!r}]\nfrom llm_advisor.cli import run\nrun()"
    return [sys.executable, "-c", f"{code}\n{entry}"]


def test_output_through_a_pipe_is_complete() -> None:
    args = ["recommend", "--no-audit", "--json", "--explain", *FACTS]
    done = run([str(SCRIPT), *args])
    assert done.returncode == 0, done.stderr
    expected = CliRunner().invoke(cli, args)
    assert len(done.stdout) > 10_000  # more than a pipe holds at once, compared whole
    assert json.loads(done.stdout) == json.loads(expected.stdout)


def test_exit_codes_are_kept() -> None:
    assert run([str(SCRIPT), "recommend", "--no-audit", *FACTS]).returncode == 0
    unfinished = run([str(SCRIPT), "consult", "--no-audit"])
    assert unfinished.returncode == 1
    assert "nothing was recorded" in unfinished.stderr
    bad = run([str(SCRIPT), "recommend", "--no-audit", "--fact", "budget=lots"])
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "budget" in bad.stderr


def test_exit_handlers_still_run() -> None:
    """And what they print is flushed: to a pipe, print() only fills a buffer."""
    code = "import atexit\natexit.register(lambda: print('exit handler ran'))"
    done = run(in_process(code, "recommend", "--no-audit", *FACTS))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("exit handler ran")


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    mark = tmp_path / "thread-finished"
    code = (
        "import threading, time\n"
        f"threading.Thread(target=lambda: (time.sleep(0.5), open({str(mark)!r}, 'w').close()))"
        ".start()"
    )
    done = run(in_process(code, "recommend", "--no-audit", "--fact", "budget=lots"))
    assert done.returncode == 2
    assert mark.exists(), "the process ended before its thread finished"


def test_a_closed_pipe_ends_quietly() -> None:
    args = [str(SCRIPT), "recommend", "--no-audit", "--json", "--explain", *FACTS]
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write fails with a broken pipe
    with os.fdopen(writer, "w") as closed:
        done = subprocess.run(args, stdout=closed, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def test_a_stream_closed_from_the_start_is_no_error() -> None:
    """Started with standard output or error closed (`>&-`), Python has no stream to flush."""
    for redirect in (">&-", "2>&-"):
        shell = f'"$0" recommend --no-audit --fact budget=50k {redirect}; echo "exit $?" >&3'
        done = subprocess.run(
            ["sh", "-c", f"exec 3>&1; {shell}", str(SCRIPT)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip().endswith("exit 0"), (redirect, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr


def test_the_garbage_collector_waits_for_start_up() -> None:
    """Paused while the modules load; then running (start-up's objects frozen out of its passes)
    for a command that may run long, from the first question on for `consult`, never for
    `recommend`'s one case; in-process, the command line leaves it alone."""
    code = (
        "import atexit, gc\n"
        "start = gc.get_freeze_count()\n"
        "atexit.register(lambda: print('gc', gc.isenabled(), gc.get_freeze_count() > start))"
    )
    rules = run(in_process(code, "rules", "list"))
    assert rules.returncode == 0, rules.stderr
    assert rules.stdout.splitlines()[-1] == "gc True True"
    recommend = run(in_process(code, "recommend", "--no-audit", *FACTS))
    assert recommend.returncode == 0, recommend.stderr
    assert recommend.stdout.splitlines()[-1] == "gc False False"
    consult = run(in_process(code, "consult", "--no-audit"))  # input ends at the first question
    assert "Q1. " in consult.stdout
    assert consult.stdout.splitlines()[-1].endswith("gc True True")
    frozen = gc.get_freeze_count()
    for args in (["rules", "list"], ["recommend", "--no-audit", *FACTS]):
        assert CliRunner().invoke(cli, args).exit_code == 0
        assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()  # a program that turned it off itself keeps it off
    try:
        assert CliRunner().invoke(cli, ["rules", "list"]).exit_code == 0
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_a_consultation_decided_before_any_question_runs_the_collector(tmp_path: Path) -> None:
    """Answers that decide the case before a question is asked (here: a rule base whose every
    case has one outcome) still end start-up: explaining the result runs many inferences."""
    kb = tmp_path / "kb"
    shutil.copytree(Path(__file__).parent / "kbs" / "mini", kb)
    (kb / "rules.yaml").write_text(
        "rules:\n  - id: base\n    title: Cheap always\n    when: {all: []}\n"
        "    then: {score: {cheap: 1}}\n    because: Cheap.\n    source: test\n"
    )
    code = (
        "import atexit, gc\n"
        "start = gc.get_freeze_count()\n"
        "atexit.register(lambda: print('gc', gc.isenabled(), gc.get_freeze_count() > start))"
    )
    consult = run(in_process(code, "consult", "--no-audit", "--rules", str(kb)))
    assert consult.returncode == 0, consult.stderr
    assert "Q1. " not in consult.stdout
    assert consult.stdout.splitlines()[-1].endswith("gc True True")
