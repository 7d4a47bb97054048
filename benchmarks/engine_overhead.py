"""Engine overhead: `Engine.evaluate` against raw durable_rules doing the same Rete work.

Subject: `engine.inference.Engine.evaluate` on pre-validated cases of the shipped rule base
(firing records, derived-fact chaining, closed-world negation, outcome, session clean-up).
Baseline: a bare durable_rules host (no timer threads, no-op actions) with the same compiled
ruleset, posting per case the same case fact and the same derived facts the engine posts (the
ones rules established, then the closed-world `false` ones), then deleting the session.
Before timing, both sides are checked to run the same number of rule actions. Both are timed in
CPU seconds of this process, in alternating rounds; the figure is the median of the per-round
ratios.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from durable.engine import Host, MessageObservedException

from benchmarks.common import Figure, Skipped, cpu_seconds_per_operation, interleaved, median
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.inference.compile import compile_ruleset, field
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.facts import Case, make_case
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase
from llm_advisor.engine.language.quantity import display

TARGET = 1.5
CASES = 300
ROUNDS = 15
SECONDS_PER_ROUND = 0.25
SEED = 20240601


def sample_cases(kb: KnowledgeBase, count: int, seed: int) -> list[Case]:
    """Cases over the whole fact space: every enum value, every quantity band, some unknowns."""
    rng = random.Random(seed)
    choices: dict[str, list[str]] = {}
    for fact in kb.facts:
        if fact.type == "quantity":
            assert fact.unit is not None
            thresholds = kb.thresholds(fact.name) or (1.0,)
            values = [thresholds[0] / 2, *thresholds, thresholds[-1] * 2]
            choices[fact.name] = [display(value, fact.unit) for value in values]
        else:
            choices[fact.name] = ["yes", "no"] if fact.type == "bool" else list(fact.values)
    cases = []
    for _ in range(count):
        raw = {name: rng.choice(values) for name, values in choices.items() if rng.random() >= 0.15}
        cases.append(make_case(kb, raw))
    return cases


class BareHost(Host):  # type: ignore[misc]
    """durable_rules as it comes, minus the background threads, with no-op actions."""

    def __init__(self) -> None:
        self.actions = 0
        super().__init__()

    def _run(self) -> None:
        """No dispatch or timer threads."""

    def get_action(self, action_name: str) -> Any:
        def action(c: Any) -> None:
            self.actions += 1

        return action


def engine_posts(kb: KnowledgeBase, engine: Engine, case: Case) -> list[dict[str, Any]]:
    """The facts the engine posts for a case, in the order it posts them (without `sid`)."""
    result = engine.evaluate(case)
    posts: list[dict[str, Any]] = [
        {"t": "case", **{field(n): v for n, v in case.values if v is not None}}
    ]
    posts += [{"t": "derived", "name": name, "value": True} for name in result.derived]
    posts += [
        {"t": "derived", "name": name, "value": False}
        for names in kb.strata
        for name in names
        if name not in result.derived
    ]
    return posts


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    cases = sample_cases(kb, CASES, SEED)

    engine = Engine(kb)
    engine_actions = 0
    real_act = engine._act

    def counting_act(action_name: str, c: Any) -> None:
        nonlocal engine_actions
        engine_actions += 1
        real_act(action_name, c)

    engine._act = counting_act  # type: ignore[method-assign]
    posts = [engine_posts(kb, engine, case) for case in cases]
    del engine._act  # back to the plain method for timing

    compiled = compile_ruleset(kb)
    host = BareHost()
    host.register_rulesets({compiled.name: compiled.definition})
    ruleset = host.get_ruleset(compiled.name)
    sids = itertools.count(1)
    repeats = 0

    def raw_pass() -> int:
        nonlocal repeats
        for case_posts in posts:
            sid = str(next(sids))
            for fact in case_posts:
                try:
                    host.assert_fact(compiled.name, {"sid": sid, **fact})
                except MessageObservedException:
                    repeats += 1
            ruleset.delete_state(sid)
        return len(posts)

    def engine_pass() -> int:
        for case in cases:
            engine.evaluate(case)
        return len(cases)

    raw_pass()  # the same actions must run: check before timing
    baseline_actions = host.actions
    if baseline_actions != engine_actions:
        raise AssertionError(
            f"baseline ran {baseline_actions} actions, the engine {engine_actions}: not like for like"
        )
    engine_pass()  # warm up
    engine_times, raw_times = interleaved(
        lambda: cpu_seconds_per_operation(engine_pass, min_seconds=SECONDS_PER_ROUND),
        lambda: cpu_seconds_per_operation(raw_pass, min_seconds=SECONDS_PER_ROUND),
        rounds=ROUNDS,
    )
    engine_s, raw_s = median(engine_times), median(raw_times)
    # Each round pairs an engine run with the raw run right after it; the median of the paired
    # ratios is steadier than the ratio of medians when the machine's speed drifts.
    ratio = median([e / r for e, r in zip(engine_times, raw_times, strict=True)])
    return [
        Figure(
            name="engine_overhead",
            description="Engine.evaluate vs raw durable_rules, same ruleset and facts",
            subject=f"{1 / engine_s:,.0f} recommendations/s",
            baseline=f"{1 / raw_s:,.0f} cases/s raw",
            ratio=ratio,
            target=TARGET,
            details={
                "rules": len(kb.rules),
                "durable_rules": len(compiled.actions),
                "facts": len(kb.facts),
                "strata": len(kb.strata),
                "cases": len(cases),
                "facts_posted_per_case": sum(map(len, posts)) / len(posts),
                "actions_per_case": engine_actions / len(cases),
                "rounds": ROUNDS,
                "engine_seconds_per_case": engine_times,
                "raw_seconds_per_case": raw_times,
                "ratio_of_medians": engine_s / raw_s,
                "engine_per_second": 1 / engine_s,
                "raw_per_second": 1 / raw_s,
                "raw_repeats_rejected": repeats,
                "fingerprint": kb.fingerprint,
            },
        )
    ]
