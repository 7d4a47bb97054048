"""The documents a design review reads against the exact diagram they summarise.

Subject: building the overview (`engine.overview.summarize`, which picks its question budget to
fit a page) from the compiled exact diagram, in CPU seconds, the median of a few runs.
Baseline: compiling the exact diagram itself (`compile_diagram`, cold) in the same run. The
figure is overview ÷ detail (lower is better; target: at most 0.5, so the default document
costs less than the diagram it reads). Page counts per format are reported beside it: the
overview PDF, each approach's PDF and the detail PDF on A4, and the Mermaid text's length.

A second figure compares the documents themselves: the overview's PDF pages ÷ the detail's PDF
pages (target: at most 0.05; the overview is one page), with the Mermaid lengths of both.
"""

from __future__ import annotations

import shutil
import time

from benchmarks.common import Figure, Skipped, median
from llm_advisor.diagrams.export import Request, render
from llm_advisor.engine.analysis.diagram import Question, compile_diagram
from llm_advisor.engine.analysis.overview import drawn_leaves, summarize
from llm_advisor.engine.errors import AdvisorError
from llm_advisor.engine.language.loader import load_knowledge_base

TARGET = 0.5
PAGES_TARGET = 0.05
RUNS = 3


def run() -> list[Figure]:
    try:
        kb = load_knowledge_base()
    except AdvisorError as err:
        raise Skipped(f"the shipped rule base does not load: {err}") from None
    details = []
    overviews = []
    for _ in range(RUNS):
        start = time.process_time()
        detail = compile_diagram(kb)
        details.append(time.process_time() - start)
        start = time.process_time()
        overview = summarize(detail)
        overviews.append(time.process_time() - start)
    detail_cpu, overview_cpu = median(details), median(overviews)
    pages: dict[str, int] = {}
    if shutil.which("dot") and shutil.which("pdfunite"):
        pages["overview_pdf"] = render(kb, Request("pdf", view="overview")).pages
        for approach in kb.approach_ids:
            request = Request("pdf", view="approach", approach=approach)
            pages[f"{approach}_pdf"] = render(kb, request).pages
        pages["detail_pdf"] = render(kb, Request("pdf", view="detail")).pages
    mermaid = len(render(kb, Request("mermaid", view="overview")).data)
    mermaid_detail = len(render(kb, Request("mermaid", view="detail")).data)
    figures = [
        Figure(
            name="diagram_documents",
            description="build the one-page overview vs compile the exact diagram",
            subject=f"overview {overview_cpu:.2f} s CPU",
            baseline=f"detail {detail_cpu:.2f} s CPU",
            ratio=overview_cpu / detail_cpu,
            target=TARGET,
            lower_is_better=True,
            details={
                "overview_cpu_seconds": overviews,
                "detail_cpu_seconds": details,
                "pages": pages,
                "overview_mermaid_characters": mermaid,
                "overview_questions": sum(
                    isinstance(overview.nodes[n], Question) for n in overview.reachable()
                ),
                "overview_leaves_drawn": drawn_leaves(overview),
                "fingerprint": kb.fingerprint,
            },
        ),
    ]
    if pages:
        figures.append(
            Figure(
                name="diagram_pages",
                description="pages of the overview PDF vs pages of the exact diagram's PDF (A4)",
                subject=f"overview {pages['overview_pdf']} page(s)",
                baseline=f"detail {pages['detail_pdf']} pages",
                ratio=pages["overview_pdf"] / pages["detail_pdf"],
                target=PAGES_TARGET,
                lower_is_better=True,
                details={
                    "pages": pages,
                    "mermaid_characters": {"overview": mermaid, "detail": mermaid_detail},
                },
            )
        )
    return figures
