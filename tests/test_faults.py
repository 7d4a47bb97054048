"""Injected engine faults: each surfaces as a clear `EngineError`, the session is gone, and the
next evaluation works; over thousands of evaluations no session stays live and memory is flat.

Faults injected: an exception inside a rule action, a durable_rules error when a fact is
asserted (the case itself, or a derived fact asserted from inside an action), every fact
rejected as a duplicate ("already observed"), a fact no rule handles, and durable_rules failing
to read or delete a session's state. `tests/test_inference.py` covers action failures over
10,000 evaluations; here every kind is mixed over 10,000 more, and `python -m benchmarks
fault_memory` runs 100,000.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import durable_rules_engine
import pytest
from click.testing import CliRunner
from durable.engine import MessageNotHandledException, MessageObservedException, Ruleset
from measure import rss

from llm_advisor.cli.main import cli
from llm_advisor.engine.errors import EngineError
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.facts import Case, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase

KBS = Path(__file__).parent / "kbs"
SHIPPED = load_knowledge_base()
CASE = make_case(
    SHIPPED,
    {
        "problem_type": "both",
        "change_frequency": "weekly",
        "labeled_examples": "2k",
        "budget": "$50k",
    },
)

Fault = Callable[[Engine], Any]
"""Arms a fault on an engine (with monkeypatching); the next evaluation meets it."""


def durable_error(message: str) -> Exception:
    """The bare error durable_rules raises, with an error code."""
    return durable_rules_engine.error(message)  # type: ignore[no-any-return]


@contextmanager
def failing_asserts(which: Callable[[dict[str, Any]], bool], error: Exception) -> Iterator[None]:
    """Make durable_rules raise (a copy of) `error` when asserting a fact for which `which`
    holds. A new exception each time: raising one object again and again chains every
    traceback onto it, which would be a leak of the test's own making."""
    real = Ruleset.assert_fact

    def assert_fact(self: Ruleset, fact: dict[str, Any]) -> Any:
        if which(fact):
            raise type(error)(*error.args)
        return real(self, fact)

    Ruleset.assert_fact = assert_fact
    try:
        yield
    finally:
        Ruleset.assert_fact = real


def is_case(fact: dict[str, Any]) -> bool:
    return fact.get("t") == "case"


def is_derived_true(fact: dict[str, Any]) -> bool:
    return fact.get("t") == "derived" and fact.get("value") is True


def is_derived_false(fact: dict[str, Any]) -> bool:
    return fact.get("t") == "derived" and fact.get("value") is False


FAULTS: dict[str, tuple[Callable[[dict[str, Any]], bool], Exception, str]] = {
    "case rejected by durable_rules": (
        is_case,
        durable_error("Could not assert fact, error code: 204"),
        "durable_rules rejected the fact",
    ),
    "derived fact rejected inside an action": (
        is_derived_true,
        durable_error("Could not assert fact, error code: 303"),
        "a rule action failed",
    ),
    "closing a stratum rejected": (
        is_derived_false,
        durable_error("Could not assert fact, error code: 101"),
        "durable_rules rejected the fact",
    ),
    "every post a duplicate": (
        is_case,
        MessageObservedException("already observed"),
        "rejected a new fact as a repeat",
    ),
    "no rule handles the fact": (
        is_derived_false,
        MessageNotHandledException("not handled"),
        "no rule handles the fact",
    ),
}


def assert_clean(engine: Engine, evaluations: int) -> None:
    """No session is live, in the engine or in durable_rules (sessions are numbered from 1)."""
    assert engine.live_sessions == 0
    for sid in range(1, evaluations + 1):
        assert not engine.session_exists(str(sid)), sid


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_fault_is_an_engine_error_and_leaves_nothing(name: str) -> None:
    which, error, message = FAULTS[name]
    engine = Engine(SHIPPED)
    expected = engine.evaluate(CASE)
    with failing_asserts(which, error), pytest.raises(EngineError, match=message):
        engine.evaluate(CASE)
    assert_clean(engine, 2)
    assert engine.evaluate(CASE) == expected
    assert_clean(engine, 3)


def test_ctrl_c_inside_an_action_is_held_until_the_session_is_deleted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real SIGINT in the middle of inference: KeyboardInterrupt after the evaluation, not
    "a rule action failed", and nothing left behind."""
    engine = Engine(SHIPPED)
    expected = engine.evaluate(CASE)
    act = Engine._act

    def interrupted(self: Engine, action_name: str, c: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        act(self, action_name, c)

    monkeypatch.setattr(Engine, "_act", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.evaluate(CASE)
    monkeypatch.undo()
    assert_clean(engine, 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert engine.evaluate(CASE) == expected


def test_an_action_that_raises_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(SHIPPED)
    expected = engine.evaluate(CASE)

    def broken(self: Engine, action_name: str, c: Any) -> None:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(Engine, "_act", broken)
    with pytest.raises(EngineError, match="a rule action failed: injected"):
        engine.evaluate(CASE)
    monkeypatch.undo()
    assert_clean(engine, 2)
    assert engine.evaluate(CASE) == expected


@pytest.mark.parametrize("method", ["get_state", "delete_state"])
def test_durable_rules_failing_on_session_state(
    monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    engine = Engine(SHIPPED)
    expected = engine.evaluate(CASE)
    real = getattr(engine._ruleset, method)
    calls: list[str] = []

    def failing(sid: str) -> Any:
        calls.append(sid)
        if len(calls) == 1:
            raise durable_error(f"Could not {method}, error code: 309")
        return real(sid)

    monkeypatch.setattr(engine._ruleset, method, failing)
    with pytest.raises(EngineError, match="error code: 309"):
        engine.evaluate(CASE)
    monkeypatch.undo()
    assert engine.live_sessions == 0
    if method == "delete_state":  # deleting failed once: delete it now, as a retry would
        engine._ruleset.delete_state(calls[0])
    assert_clean(engine, 2)
    assert engine.evaluate(CASE) == expected


# --- many evaluations with every kind of fault -------------------------------------------------


def mixed_faults(kb: KnowledgeBase, cases: list[Case], count: int) -> tuple[int, int, int]:
    """`count` evaluations; every seventh meets one of the faults in turn. Returns the
    evaluations that failed, the live sessions left, and how much the RSS grew (bytes)."""
    engine = Engine(kb)
    expected = [engine.evaluate(case) for case in cases]
    kinds = sorted(FAULTS)
    armed: list[str | None] = [None]

    def which(fact: dict[str, Any]) -> bool:
        return armed[0] is not None and FAULTS[armed[0]][0](fact)

    real = Ruleset.assert_fact

    def assert_fact(self: Ruleset, fact: dict[str, Any]) -> Any:
        if which(fact):
            error = FAULTS[armed[0] or ""][1]
            raise type(error)(*error.args)
        return real(self, fact)

    Ruleset.assert_fact = assert_fact
    failed = 0
    try:
        for i in range(count + 500):
            if i == 500:  # warmed up: allocators and caches are settled
                start = rss()
            armed[0] = kinds[(i // 7) % len(kinds)] if i % 7 == 6 else None
            try:
                result = engine.evaluate(cases[i % len(cases)])
            except EngineError:
                failed += i >= 500
                continue
            assert result == expected[i % len(cases)]
    finally:
        Ruleset.assert_fact = real
    growth = rss() - start if start else 0
    sids = range(1, len(cases) + count + 501)
    live = engine.live_sessions + sum(engine.session_exists(str(sid)) for sid in sids[::50])
    return failed, live, growth


def test_ten_thousand_evaluations_with_faults_leave_no_session_and_flat_memory() -> None:
    kb = load_knowledge_base(KBS / "chain")
    raws: list[dict[str, object]] = [
        {"a": "yes", "b": "yes"},
        {"a": "yes", "b": "no", "kind": "x"},
        {"kind": "y", "n": "500"},
        {"kind": "z", "n": "2M", "a": "yes", "b": "yes"},
        {"blocked": "yes"},
        {},
    ]
    failed, live, growth = mixed_faults(kb, [make_case(kb, raw) for raw in raws], 10_000)
    # Every seventh evaluation is armed; an armed fault only fires when its kind of fact is
    # posted, so at least the case and stratum faults (three of the five kinds) fail.
    assert failed >= 10_000 // 7 * 3 // 5
    assert live == 0
    assert growth < 20 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB"


# --- through the command line -------------------------------------------------------------------


def test_a_fault_during_recommend_is_one_line_and_the_store_is_intact(tmp_path: Path) -> None:
    store = str(tmp_path / "audit.db")
    runner = CliRunner()
    facts = ["--fact", "budget=5k", "--fact", "problem_type=knowledge"]
    first = runner.invoke(cli, ["recommend", "--audit-db", store, "--json", *facts])
    assert first.exit_code == 0, first.output
    with failing_asserts(is_case, durable_error("Could not assert fact, error code: 204")):
        failed = runner.invoke(cli, ["recommend", "--audit-db", store, *facts])
    assert failed.exit_code == 1
    assert failed.stdout == ""
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: durable_rules rejected the fact")
    assert "Traceback" not in failed.output
    verify = runner.invoke(cli, ["audit", "verify", "--json", "--audit-db", store])
    assert verify.exit_code == 0
    assert json.loads(verify.stdout)["records"] == 1  # nothing recorded, nothing lost
    again = runner.invoke(cli, ["recommend", "--audit-db", store, "--json", *facts])
    assert again.exit_code == 0
    assert json.loads(again.stdout)["recommendation"] == json.loads(first.stdout)["recommendation"]
