"""Questions a consultation asks, against the number of facts it could ask about.

Subject: `engine.consultation.Consultation` on the shipped rule base, answering every question
truthfully from a sampled full case, until it stops; the number of questions asked.
Baseline: the number of facts in the schema (what a fixed questionnaire would ask).
Cases are drawn uniformly over the cells of the fact space (each enum value or quantity band of
every fact equally likely, quantities anywhere inside their band), the way the fact-space size
counts them. The figure is the mean number of questions ÷ the number of facts; the maximum and
the distribution are recorded beside it.
"""

from __future__ import annotations

import collections
import statistics
import time

from benchmarks.common import Figure, Skipped
from llm_advisor.engine.analysis.consultation import Consultation
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.verification import sample_cases
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.facts import exact_text
from llm_advisor.engine.language.loader import load_knowledge_base

TARGET = 0.6
CASES = 2000
SEED = 20240605


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    # One analyzer for all consultations: its cache of analysed states only saves time, the
    # questions chosen are the same as with a fresh one.
    analyzer = Analyzer(kb)
    asked: list[int] = []
    per_fact: collections.Counter[str] = collections.Counter()
    start = time.process_time()
    for case in sample_cases(kb, CASES, SEED):
        session = Consultation(kb)
        session.an = analyzer
        while (prompt := session.next_prompt()) is not None:
            fact = prompt.fact
            session.answer(fact.name, exact_text(fact, case[fact.name]))
            per_fact[fact.name] += 1
        asked.append(session.questions_asked)
    seconds = time.process_time() - start
    facts = len(kb.facts)
    mean = statistics.fmean(asked)
    return [
        Figure(
            name="consult_questions",
            description="questions asked per consultation (truthful answers) vs facts in schema",
            subject=f"mean {mean:.2f}, max {max(asked)} questions",
            baseline=f"{facts} facts",
            ratio=mean / facts,
            target=TARGET,
            details={
                "cases": CASES,
                "seed": SEED,
                "facts": facts,
                "mean": mean,
                "median": statistics.median(asked),
                "max": max(asked),
                "min": min(asked),
                "distribution": dict(sorted(collections.Counter(asked).items())),
                "asked_share_per_fact": {name: per_fact[name] / CASES for name in kb.fact_names},
                "cpu_seconds_per_consultation": seconds / CASES,
                "fingerprint": kb.fingerprint,
            },
        )
    ]
