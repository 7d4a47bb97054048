"""Compiling the decision diagram against enumerating the fact space through inference.

Subject: `engine.diagram.compile_diagram` on the shipped rule base, cold (a fresh `Analyzer`, no
disk cache), in CPU seconds of this process, the median of a few compilations.
Baseline: naive enumeration, running inference once per cell combination of the fact space (each
fact's values or quantity bands, multiplied out). That would take hours, so it is extrapolated:
inference's CPU time per case, measured here on sampled full cases, times the fact-space size.
The figure is naive ÷ compile (higher is better). The absolute compile time is reported beside it
(target: well under 2 s), with the fact-space size and the diagram's node count. Before timing,
the diagram is checked to agree with inference on the sampled cases.
"""

from __future__ import annotations

import math
import time

from benchmarks.common import Figure, Skipped, cpu_seconds_per_operation, median
from llm_advisor.engine.analysis.diagram import compile_diagram
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.verification import full_case, sample_cases
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.inference.run import engine_for
from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import KnowledgeBase

TARGET = 100.0
COMPILE_TARGET_SECONDS = 2.0
COMPILES = 3
CASES = 300
SEED = 20240603


def timed_compile(kb: KnowledgeBase) -> tuple[float, float, int]:
    """CPU and wall seconds of one cold compilation, and the diagram's reachable node count."""
    cpu, wall = time.process_time(), time.perf_counter()
    diagram = compile_diagram(kb)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, len(diagram.reachable())


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    an = Analyzer(kb)
    cells = [len(c) for c in an.cells]
    space = math.prod(cells)

    compiles = [timed_compile(kb) for _ in range(COMPILES)]
    compile_cpu = median([c for c, _, _ in compiles])
    compile_wall = median([w for _, w, _ in compiles])
    nodes = compiles[0][2]

    engine = engine_for(kb)
    cases = [full_case(kb, known) for known in sample_cases(kb, CASES, SEED)]
    diagram = compile_diagram(kb)
    for case in cases:  # like for like: the diagram decides as inference does
        result = engine.evaluate(case)
        _, decision = diagram.walk(an, case.known())
        if (decision.recommendation, decision.combine_with) != (
            result.recommendation,
            result.combine_with,
        ):
            raise AssertionError(f"diagram and inference disagree on {case.known()}")

    def infer_all() -> int:
        for case in cases:
            engine.evaluate(case)
        return len(cases)

    per_case = cpu_seconds_per_operation(infer_all, min_seconds=1.0)
    naive = per_case * space
    return [
        Figure(
            name="diagram_compile",
            description="compile the decision diagram vs inference on every cell of the fact space",
            subject=f"compile {compile_cpu:.2f} s CPU ({nodes} nodes)",
            baseline=f"naive {naive / 3600:.1f} h ({space:,} cases x {per_case * 1e3:.2f} ms)",
            ratio=naive / compile_cpu,
            target=TARGET,
            lower_is_better=False,
            details={
                "facts": len(kb.facts),
                "rules": len(kb.rules),
                "cells_per_fact": dict(zip(kb.fact_names, cells, strict=True)),
                "fact_space": space,
                "diagram_nodes": nodes,
                "compile_cpu_seconds": [c for c, _, _ in compiles],
                "compile_wall_seconds": [w for _, w, _ in compiles],
                "compile_seconds": compile_cpu,
                "compile_wall_seconds_median": compile_wall,
                "compile_target_seconds": COMPILE_TARGET_SECONDS,
                "compile_within_target": compile_cpu <= COMPILE_TARGET_SECONDS,
                "inference_cpu_seconds_per_case": per_case,
                "sampled_cases": len(cases),
                "naive_seconds": naive,
                "fingerprint": kb.fingerprint,
            },
        )
    ]
