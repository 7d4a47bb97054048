"""Memory over 100,000 evaluations with injected engine faults: no session leaks, flat RSS.

Subject: the resident set size after 100,000 `Engine.evaluate` calls on the shipped rule base,
one in seven of which meets an injected fault, in turn: a durable_rules error asserting the
case, a durable_rules error asserting a derived fact from inside a rule action, a durable_rules
error closing a stratum, every post rejected as a duplicate, and an exception inside an action.
Baseline: the resident set size after 1,000 warm-up evaluations. Every fault must surface as an
`EngineError`, every other evaluation must give the result it gave without faults, and no
session may stay live (checked in the engine and, for a sample of session ids, in
durable_rules itself). The figure is RSS after ÷ RSS before.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import durable_rules_engine
from durable.engine import MessageObservedException, Ruleset

from benchmarks.common import Figure, Skipped, rss
from benchmarks.engine_overhead import sample_cases
from llm_advisor.engine.errors import AdvisorError, EngineError
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.loader import load_knowledge_base

TARGET = 1.05
EVALUATIONS = int(os.environ.get("FAULT_EVALUATIONS", "100000"))
WARM_UP = 1_000
FAULT_EVERY = 7
CASES = 200
SEED = 20240502

Which = Callable[[dict[str, Any]], bool]
Make = Callable[[], Exception]
FAULTS: dict[str, tuple[Which, Make | None]] = {
    "case rejected": (
        lambda f: f.get("t") == "case",
        lambda: durable_rules_engine.error("Could not assert fact, error code: 204"),
    ),
    "derived rejected in an action": (
        lambda f: f.get("t") == "derived" and f.get("value") is True,
        lambda: durable_rules_engine.error("Could not assert fact, error code: 303"),
    ),
    "stratum rejected": (
        lambda f: f.get("t") == "derived" and f.get("value") is False,
        lambda: durable_rules_engine.error("Could not assert fact, error code: 101"),
    ),
    "duplicate": (lambda f: f.get("t") == "case", lambda: MessageObservedException("observed")),
    "action raises": (lambda f: False, None),  # see `failing_act` below
}
"""Per kind: which posted facts fail, and the error (a new one each time: raising one
exception object again and again chains every traceback onto it, which is a leak of its own)."""


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    cases = sample_cases(kb, CASES, SEED)
    engine = Engine(kb)
    expected = [engine.evaluate(case) for case in cases]
    kinds = sorted(FAULTS)
    armed: list[str | None] = [None]

    real_assert = Ruleset.assert_fact
    real_act = Engine._act

    def assert_fact(self: Ruleset, fact: dict[str, Any]) -> Any:
        kind = armed[0]
        if kind is not None:
            which, make = FAULTS[kind]
            if make is not None and which(fact):
                raise make()
        return real_assert(self, fact)

    def failing_act(self: Engine, action_name: str, c: Any) -> None:
        if armed[0] == "action raises":
            raise RuntimeError("injected")
        real_act(self, action_name, c)

    Ruleset.assert_fact = assert_fact
    Engine._act = failing_act  # type: ignore[method-assign]
    failures: Counter[str] = Counter()
    wrong = 0
    sessions = 0
    start = time.perf_counter()
    try:
        for i in range(WARM_UP + EVALUATIONS):
            if i == WARM_UP:
                before = rss()
                start = time.perf_counter()
            armed[0] = kinds[(i // FAULT_EVERY) % len(kinds)] if i % FAULT_EVERY == 0 else None
            sessions += 1
            try:
                result = engine.evaluate(cases[i % len(cases)])
            except EngineError:
                if i >= WARM_UP:
                    failures[armed[0] or "unexpected"] += 1
                continue
            wrong += result != expected[i % len(cases)]
    finally:
        Ruleset.assert_fact = real_assert
        Engine._act = real_act  # type: ignore[method-assign]
    seconds = time.perf_counter() - start
    after = rss()
    first_sid = len(cases) + 1
    sampled = range(first_sid, first_sid + sessions, 997)
    leaked = engine.live_sessions + sum(engine.session_exists(str(s)) for s in sampled)
    if wrong or leaked or failures["unexpected"]:
        raise AssertionError(
            f"{wrong} wrong results, {leaked} sessions left, {failures['unexpected']} "
            "unexpected failures"
        )
    return [
        Figure(
            name="fault_memory",
            description=f"RSS after {EVALUATIONS:,} evaluations with injected faults",
            subject=f"{after / 2**20:.1f} MB after",
            baseline=f"{before / 2**20:.1f} MB after {WARM_UP:,} warm-up evaluations",
            ratio=after / before,
            target=TARGET,
            details={
                "evaluations": EVALUATIONS,
                "faults_injected": sum(failures.values()),
                "failures_by_kind": dict(failures),
                "wrong_results": wrong,
                "sessions_left": leaked,
                "sessions_sampled": len(sampled),
                "rss_before_bytes": before,
                "rss_after_bytes": after,
                "rss_growth_bytes": after - before,
                "seconds": seconds,
                "evaluations_per_second": EVALUATIONS / seconds,
                "fingerprint": kb.fingerprint,
            },
        )
    ]
