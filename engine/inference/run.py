"""Rete inference on durable_rules: the authoritative path for every recommendation.

One durable_rules host per knowledge-base fingerprint, without the stock host's background timer
threads (they can crash when sessions are deleted out of order). Every evaluation runs
synchronously in a session of its own that is always deleted, also on errors. Firings are
recorded from inside the rule actions, in the order durable_rules runs them.
"""

from __future__ import annotations

import itertools
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from durable.engine import Host, MessageNotHandledException, MessageObservedException

from llm_advisor.engine.errors import EngineError
from llm_advisor.engine.inference.compile import ANCHOR, Compiled, compile_ruleset, field, number
from llm_advisor.engine.inference.outcome import Outcome, Ranked, decide
from llm_advisor.engine.language.effects import Advise, Derive, Effect
from llm_advisor.engine.language.facts import Case
from llm_advisor.engine.language.model import DerivedTest, FactTest, KnowledgeBase, Value

# durable_rules detects repeated facts by a 32-bit hash, so a distinct fact can be rejected as
# "already observed"; such a fact is re-posted with a different nonce this many times.
_NONCE_RETRIES = 4


@dataclass(frozen=True)
class Firing:
    """One rule firing: its position, the facts its condition matched, and its effects."""

    order: int
    rule_id: str
    matched: tuple[tuple[str, Value], ...]
    matched_derived: tuple[tuple[str, bool], ...]
    effects: tuple[Effect, ...]


@dataclass(frozen=True)
class Result:
    """Everything inference produced for one case."""

    case: Case
    outcome: Outcome
    firings: tuple[Firing, ...]
    derived: tuple[str, ...]
    fingerprint: str

    @property
    def recommendation(self) -> str | None:
        return self.outcome.recommendation

    @property
    def combine_with(self) -> tuple[str, ...]:
        return self.outcome.combine_with

    @property
    def ranking(self) -> tuple[Ranked, ...]:
        return self.outcome.ranking

    @property
    def plan(self) -> tuple[str, ...]:
        return self.outcome.plan

    @property
    def advice(self) -> tuple[str, ...]:
        """The advice of the rules that fired, less advice about approaches outside the plan."""
        plan = set(self.plan)
        return tuple(
            e.text
            for f in self.firings
            for e in f.effects
            if isinstance(e, Advise) and e.shown(plan)
        )


class _Evaluation:
    """The mutable record of one evaluation, filled in by the rule actions."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}  # the case's known facts
        self.fired: dict[str, Firing] = {}
        self.derived: dict[str, None] = {}
        self.error: BaseException | None = None
        self.opened = False


class _Host(Host):  # type: ignore[misc]
    """A durable_rules host without background threads whose actions call back into Python."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        super().__init__()

    def _run(self) -> None:
        """Start no dispatch or timer threads: every evaluation is synchronous."""

    def get_action(self, action_name: str) -> Any:
        engine = self._engine
        return lambda c: engine._act(action_name, c)


class Engine:
    """Runs one knowledge base on its own durable_rules host."""

    def __init__(self, kb: KnowledgeBase, compiled: Compiled | None = None) -> None:
        self.kb = kb
        self.compiled = compiled or compile_ruleset(kb)
        self._host = _Host(self)
        # durable_rules deletes each rule's `run` from the definition it registers (and nothing
        # else), so it gets copies of the rules' top-level dicts.
        definition = {name: dict(rule) for name, rule in self.compiled.definition.items()}
        try:
            self._host.register_rulesets({self.compiled.name: definition})
        except Exception as err:  # durable_rules raises bare errors with a code
            raise EngineError(f"durable_rules cannot compile the rule base: {err}") from None
        self._ruleset = self._host.get_ruleset(self.compiled.name)
        self._sids = itertools.count(1)
        self._live: dict[str, _Evaluation] = {}

    @property
    def live_sessions(self) -> int:
        """Sessions currently open (0 between evaluations unless something leaked)."""
        return len(self._live)

    def session_exists(self, sid: str) -> bool:
        """Ask durable_rules itself whether a session's state is still stored."""
        try:
            self._ruleset.get_state(sid)
        except Exception:
            return False
        return True

    def evaluate(self, case: Case) -> Result:
        """Run inference on a case in a fresh session and delete the session afterwards."""
        with _interrupts_held(), _durable_deprecation_filtered():
            return self._evaluate(case)

    def _evaluate(self, case: Case) -> Result:
        sid = str(next(self._sids))
        ev = _Evaluation()
        ev.values = case.known()
        self._live[sid] = ev
        try:
            fact = {field(name): _engine_value(v) for name, v in case.values if v is not None}
            self._post(ev, {"sid": sid, "t": "case", **fact})
            for names in self.kb.strata:
                for name in names:
                    if name not in ev.derived:
                        self._post(ev, {"sid": sid, "t": "derived", "name": name, "value": False})
            try:
                state = self._ruleset.get_state(sid)
            except Exception as err:  # durable_rules raises bare errors with a code
                raise EngineError(f"durable_rules cannot read session {sid}: {err}") from None
            if "exception" in state:
                raise EngineError(f"a rule action failed: {_action_error(state['exception'])}")
        finally:
            del self._live[sid]
            if ev.opened:
                try:
                    self._ruleset.delete_state(sid)
                except Exception as err:
                    raise EngineError(f"durable_rules cannot delete session {sid}: {err}") from None
        firings = tuple(sorted(ev.fired.values(), key=lambda f: f.order))
        # Effects in rule order, as the analysis reads them: several reasons to exclude an
        # approach are then listed alike, whatever order the rules fired in.
        in_rule_order = [ev.fired[r.id] for r in self.kb.rules if r.id in ev.fired]
        outcome = decide(self.kb, (e for f in in_rule_order for e in f.effects))
        return Result(case, outcome, firings, tuple(ev.derived), self.kb.fingerprint)

    def _post(self, ev: _Evaluation, fact: dict[str, Any], assert_fact: Any = None) -> None:
        """Assert a fact, retrying under a new nonce if durable_rules mistakes it for a repeat."""
        for nonce in range(_NONCE_RETRIES):
            try:
                if assert_fact is None:
                    self._host.assert_fact(self.compiled.name, fact)
                else:
                    assert_fact(fact)
                break
            except MessageObservedException:
                fact = {**fact, "nonce": nonce + 1}
            except MessageNotHandledException:
                raise EngineError(f"no rule handles the fact {fact!r}") from None
            except Exception as err:  # durable_rules raises bare errors with a code
                raise EngineError(f"durable_rules rejected the fact {fact!r}: {err}") from None
        else:
            raise EngineError(f"durable_rules rejected a new fact as a repeat: {fact!r}")
        ev.opened = True
        if ev.error is not None:
            error, ev.error = ev.error, None
            raise EngineError(f"a rule action failed: {error}") from error

    def _act(self, action_name: str, c: Any) -> None:
        """The action of every compiled rule: record the firing, assert what it derives."""
        ev = self._live.get(str(c.s.sid))
        if ev is None or action_name == ANCHOR:
            return
        try:
            r, a = self.compiled.actions[action_name]
            rule = self.kb.rules[r]
            if rule.id in ev.fired:
                return  # another alternative of the same rule fired already
            alternative = rule.alternatives[a]
            ev.fired[rule.id] = Firing(
                order=len(ev.fired) + 1,
                rule_id=rule.id,
                matched=tuple(
                    (lit.fact, ev.values[lit.fact])
                    for lit in alternative
                    if isinstance(lit, FactTest)
                ),
                matched_derived=tuple(
                    (lit.name, lit.value) for lit in alternative if isinstance(lit, DerivedTest)
                ),
                effects=rule.effects,
            )
            for effect in rule.effects:
                if isinstance(effect, Derive) and effect.name not in ev.derived:
                    ev.derived[effect.name] = None
                    derived = {"sid": c.s.sid, "t": "derived", "name": effect.name, "value": True}
                    self._post(ev, derived, c.assert_fact)
        except BaseException as err:  # durable_rules would swallow it: keep it for evaluate()
            ev.error = ev.error or err


@contextmanager
def _durable_deprecation_filtered() -> Iterator[None]:
    """durable_rules 2.0.28 calls `datetime.utcfromtimestamp`, deprecated since Python 3.12, for
    every fact it is given; that one warning is dropped here, where the engine calls it."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"datetime\.datetime\.utcfromtimestamp", DeprecationWarning, r"durable\."
        )
        yield


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it: durable_rules catches a
    KeyboardInterrupt met inside its action machinery, logs a traceback and reports it as a
    failed action. Only where Python's own handler is in place (the main thread)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if held:
            raise KeyboardInterrupt


def _action_error(stored: object) -> str:
    """The message of an exception durable_rules caught in an action, without the traceback
    it stores with it ("exception caught MESSAGE, traceback [...]")."""
    text = str(stored).removeprefix("exception caught ")
    return text.split(", traceback [", 1)[0][:300]


def _engine_value(value: Value) -> Value | int:
    """A fact value as posted to durable_rules (quantities in a form its parser reads)."""
    if isinstance(value, float):
        try:
            return number(value)
        except ValueError as err:
            raise EngineError(str(err)) from None
    return value


_ENGINES: dict[str, Engine] = {}


def engine_for(kb: KnowledgeBase) -> Engine:
    """The one engine (and durable_rules host) for a knowledge base's fingerprint."""
    engine = _ENGINES.get(kb.fingerprint)
    if engine is None:
        engine = _ENGINES[kb.fingerprint] = Engine(kb)
    return engine


def evaluate(kb: KnowledgeBase, case: Case) -> Result:
    """Run Rete inference on a validated case."""
    return engine_for(kb).evaluate(case)


def evaluate_many(kb: KnowledgeBase, cases: Iterator[Case]) -> Iterator[Result]:
    engine = engine_for(kb)
    for case in cases:
        yield engine.evaluate(case)
