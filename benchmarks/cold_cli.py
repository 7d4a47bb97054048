"""Cold start: one `llm-advisor recommend --fact ...` process against a plain `python -c pass`.

The baseline is the same interpreter started plainly (`-I`: no environment variables, no user
site; the project is installed as a plain path, with no start-up hook). Both run as fresh
processes, alternately, each timed from spawn to exit,
after one untimed run of each to warm the operating system's file cache. The figure is the ratio
of the median wall-clock times; the ratio of CPU times is recorded beside it. The recommendation
is recorded in a throw-away audit database, as a user's would be. Bytecode is cached (in a
throw-away directory, filled by the untimed runs) even where PYTHONDONTWRITEBYTECODE is set, since
an installed package always has its bytecode compiled.

Two floors are timed beside them, in the same rounds, as plain `python -I -c` scripts that import
nothing of this project: the libraries a recorded recommendation cannot do without, and those
libraries running the shipped rule base's ruleset on the same case (the same facts posted as the
engine posts them, with no-op actions). What is above the second is this project's own work.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, Skipped, cold_start_env, console_script, median
from benchmarks.engine_overhead import engine_posts
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.inference.run import Engine
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base

TARGET = 6.0
RUNS = 7
FLOOR = (
    "import click, durable.engine, sqlite3, cryptography.hazmat.primitives.asymmetric.ed25519\n"
    "host = durable.engine.Host()\n"
    "host.register_rulesets({'r': {'a': {'all': [{'m': {'x': 1}}], 'run': lambda c: None}}})\n"
    "host.assert_fact('r', {'x': 1})"
)
"""The libraries a recorded recommendation cannot do without: importing them, and one fact
through a one-rule ruleset (durable_rules' first ruleset in a process fills a 2 MB handle table,
whatever its size), is the floor."""
ENGINE_FLOOR = (
    "import json, sys, click, durable.engine, sqlite3\n"
    "import cryptography.hazmat.primitives.asymmetric.ed25519\n"
    "rules, posts = json.load(open(sys.argv[1]))\n"
    "host = durable.engine.Host()\n"
    "host.register_rulesets({'r': {n: {**r, 'run': lambda c: None} for n, r in rules.items()}})\n"
    "for post in posts:\n"
    "    host.assert_fact('r', {'sid': '1', **post})"
)
"""The floor with the rule base: the same libraries, the shipped rule base's compiled ruleset
registered, and the facts the engine posts for the benchmark's case asserted."""
FACTS = (
    "problem_type=knowledge",
    "change_frequency=weekly",
    "accuracy_need=high",
    "budget=$50k",
    "timeline=3w",
)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds from spawn to exit, and the CPU seconds the process used."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:  # a crash would be timed as a run
        raise Skipped(f"{' '.join(argv[:2])} exited with {done.returncode}: {done.stderr.strip()}")
    return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run() -> list[Figure]:
    command = [
        str(console_script()),
        "recommend",
        *(arg for fact in FACTS for arg in ("--fact", fact)),
    ]
    baseline = [sys.executable, "-I", "-c", "pass"]
    floor = [sys.executable, "-I", "-c", FLOOR]
    with tempfile.TemporaryDirectory() as tmp:
        ruleset_file = Path(tmp) / "ruleset.json"
        ruleset_file.write_text(json.dumps(_ruleset_and_posts()))
        engine_floor = [sys.executable, "-I", "-c", ENGINE_FLOOR, str(ruleset_file)]
        env = cold_start_env(Path(tmp))
        for argv in (command, baseline, floor, engine_floor):
            timed(argv, env)
        cli_runs = []
        python_runs = []
        floor_runs = []
        engine_floor_runs = []
        for _ in range(RUNS):
            cli_runs.append(timed(command, env))
            python_runs.append(timed(baseline, env))
            floor_runs.append(timed(floor, env)[0])
            engine_floor_runs.append(timed(engine_floor, env)[0])
    cli_times, cli_cpu = (list(column) for column in zip(*cli_runs, strict=True))
    python_times, python_cpu = (list(column) for column in zip(*python_runs, strict=True))
    cli_s, python_s = median(cli_times), median(python_times)
    return [
        Figure(
            name="cold_cli",
            description="cold `llm-advisor recommend --fact ...` vs `python -c pass`",
            subject=f"{cli_s * 1000:.0f} ms per recommend",
            baseline=f"{python_s * 1000:.0f} ms per python -c pass",
            ratio=cli_s / python_s,
            target=TARGET,
            details={
                "runs": RUNS,
                "facts": list(FACTS),
                "recommend_seconds": cli_times,
                "python_seconds": python_times,
                "recommend_cpu_seconds": cli_cpu,
                "python_cpu_seconds": python_cpu,
                # The same ratio in CPU time, which other load on the machine does not inflate.
                "cpu_ratio": median(cli_cpu) / median(python_cpu),
                # FLOOR against the same baseline: what no change to this project's own code
                # can go below.
                "floor_seconds": floor_runs,
                "floor_ratio": median(floor_runs) / python_s,
                # ENGINE_FLOOR against the same baseline: the floor with the rule base run.
                "engine_floor_seconds": engine_floor_runs,
                "engine_floor_ratio": median(engine_floor_runs) / python_s,
            },
        )
    ]


def _ruleset_and_posts() -> tuple[dict[str, object], list[dict[str, object]]]:
    """The shipped rule base's compiled rules (without their actions) and the facts the engine
    posts for the benchmark's case."""
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    case = make_case(kb, dict(fact.split("=", 1) for fact in FACTS))
    engine = Engine(kb)
    rules = {name: {"all": rule["all"]} for name, rule in engine.compiled.definition.items()}
    return rules, engine_posts(kb, engine, case)
