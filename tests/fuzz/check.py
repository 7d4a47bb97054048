"""What loading a (mutated) rule base must do, and what a rule base that loads must then do.

Loading either gives a valid `KnowledgeBase` or fails with a `RuleError` whose message is one
line starting with `file:line:` (a file of the rule base, a line inside it), or an `InputError`
naming a missing schema file, within `MAX_SECONDS`. A rule base that loads must evaluate random
complete cases without any error but `AdvisorError`, and the analysis must agree with
inference on them.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Literal

import durable_rules_engine

from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.errors import AdvisorError, InputError, RuleError
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.facts import Case
from llm_advisor.engine.language.loader import SCHEMA_FILES, load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase, Value

from .rulebase import Files, Mutant, mutants

MAX_SECONDS = 5.0
"""The most CPU time a load may take (CPU time of this process, so that other work on the
machine does not count; the largest valid mutants take about a second)."""
HANG_SECONDS = 30
"""A load still running after this long is stopped and reported as a hang."""
_LOCATION = re.compile(r"^(?P<file>[^:/\\]+\.yaml):(?P<line>\d+): \S")


class Hang(Exception):
    """A load or an evaluation ran for longer than `HANG_SECONDS`."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise `Hang` in the main thread when the block runs longer than `seconds`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_rule_base(directory: Path, files: Files) -> None:
    """Make `directory` hold exactly `files` (None: a directory of that name)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, data in files.items():
        if data is None:
            (directory / name).mkdir()
        else:
            (directory / name).write_bytes(data)


@dataclass(frozen=True)
class Loaded:
    kind: Literal["loaded", "rejected"]
    message: str
    seconds: float
    kb: KnowledgeBase | None = None


def error_problem(err: InputError, files: Files) -> str | None:
    """Why an error from loading breaks the contract (None when it is fine)."""
    message = str(err)
    if "\n" in message or "\r" in message:
        return f"message is not one line: {message!r}"
    if "Traceback" in message:
        return f"message holds a traceback: {message!r}"
    if not isinstance(err, RuleError):
        missing = [n for n in SCHEMA_FILES if files.get(n, None) is None and n in message]
        if missing and "missing" in message:
            return None
        return f"an InputError that is not a RuleError: {message!r}"
    found = _LOCATION.match(message)
    if found is None:
        return f"message does not start with file:line: {message!r}"
    name, line = found["file"], int(found["line"])
    if name not in files:
        return f"message names a file that is not in the rule base: {message!r}"
    data = files[name]
    lines = 1 if data is None else data.count(b"\n") + data.count(b"\r") + 1
    if not 1 <= line <= lines:
        return f"line {line} is outside {name} ({lines} lines): {message!r}"
    return None


def load(directory: Path, mutant: Mutant) -> Loaded:
    """Load a mutant's rule base from `directory`; `ContractBroken` when it breaks the contract."""
    write_rule_base(directory, mutant.files)
    start = time.process_time()
    try:
        with deadline(HANG_SECONDS):
            kb = load_knowledge_base(directory)
    except InputError as err:
        seconds = time.process_time() - start
        problem = error_problem(err, mutant.files)
        if problem is not None:
            raise ContractBroken(mutant, problem) from err
        return Loaded("rejected", str(err), seconds)
    except Exception as err:
        raise ContractBroken(mutant, f"load raised {type(err).__name__}: {err}") from err
    return Loaded("loaded", "", time.process_time() - start, kb)


class ContractBroken(AssertionError):
    """A mutant made the loader (or the engine on what it loaded) break its contract."""

    def __init__(self, mutant: Mutant, problem: str) -> None:
        super().__init__(f"mutant {mutant.index} ({mutant.description}): {problem}")
        self.mutant = mutant
        self.problem = problem


def random_case(kb: KnowledgeBase, rng: random.Random) -> dict[str, Value]:
    """A complete case: every fact gets a value (quantities: one in a random band, or a bound)."""
    known: dict[str, Value] = {}
    for fact in kb.facts:
        if fact.type != "quantity":
            known[fact.name] = rng.choice(fact.domain)
            continue
        cuts = kb.thresholds(fact.name)
        points = [0.0, *cuts, *(c / 2 for c in cuts), *(c * 3 for c in cuts), 1e18]
        known[fact.name] = float(rng.choice(points))
    return known


def exercise(kb: KnowledgeBase, mutant: Mutant, cases: int = 2) -> bool:
    """Evaluate random complete cases on a fresh engine; the analysis must agree with it.
    Returns False when the engine refuses the rule base (with a `file:line:` error).

    The engine's durable_rules ruleset is deleted afterwards, so that thousands of mutants do
    not keep thousands of rulesets alive.
    """
    rng = random.Random(f"cases:{mutant.index}")
    engine = None
    try:
        with deadline(HANG_SECONDS):
            try:
                engine = Engine(kb)
            except RuleError as err:  # a rule base too large for durable_rules
                problem = error_problem(err, mutant.files)
                if problem is not None:
                    raise ContractBroken(mutant, problem) from err
                return False
            analyzers = (Analyzer(kb), Analyzer(kb, outcome_only=True))
            for _ in range(cases):
                known = random_case(kb, rng)
                case = Case(
                    tuple((f.name, known[f.name]) for f in kb.facts),
                    tuple((f.name, "given") for f in kb.facts),
                )
                try:
                    result = engine.evaluate(case)
                except AdvisorError:
                    continue
                inferred = (result.recommendation, result.combine_with)
                for analyzer in analyzers:
                    decision = analyzer.evaluate(analyzer.state_of(known)).decision
                    if (
                        decision is None
                        or (
                            decision.recommendation,
                            decision.combine_with,
                        )
                        != inferred
                    ):
                        raise ContractBroken(
                            mutant, f"analysis says {decision}, inference {inferred} for {known}"
                        )
                if engine.live_sessions != 0:
                    raise ContractBroken(mutant, "a session was left live")
    except ContractBroken:
        raise
    except Exception as err:
        raise ContractBroken(mutant, f"evaluation raised {type(err).__name__}: {err}") from err
    finally:
        if engine is not None:
            durable_rules_engine.delete_ruleset(engine._ruleset._handle)
    return True


@dataclass
class Stats:
    """What a run of mutants did."""

    mutants: int = 0
    rejected: int = 0
    loaded: int = 0
    refused: int = 0  # loaded, but too large for durable_rules (a `file:line:` error)
    slowest: float = 0.0
    slowest_mutant: str = ""
    problems: list[ContractBroken] = field(default_factory=list)
    loaded_examples: list[Mutant] = field(default_factory=list)


def campaign(
    base: dict[str, bytes],
    seed: int,
    count: int,
    directory: Path,
    *,
    start: int = 0,
    keep_loaded: int = 0,
) -> Stats:
    """Load (and where it loads, exercise) mutants `start` .. `start + count - 1` of `seed`."""
    stats = Stats()
    for mutant in mutants(base, seed, count, start):
        stats.mutants += 1
        try:
            loaded = load(directory, mutant)
            if loaded.seconds > stats.slowest:
                stats.slowest, stats.slowest_mutant = loaded.seconds, mutant.description
            if loaded.seconds > MAX_SECONDS:
                raise ContractBroken(mutant, f"loading took {loaded.seconds:.1f} s")
            if loaded.kb is None:
                stats.rejected += 1
                continue
            stats.loaded += 1
            if not exercise(loaded.kb, mutant):
                stats.refused += 1
            elif len(stats.loaded_examples) < keep_loaded:
                stats.loaded_examples.append(mutant)
        except ContractBroken as broken:
            stats.problems.append(broken)
    return stats
