"""The domain-neutral engine: it runs any rule base written in the rule language.

Rooms: `language` (rule files to a typed `KnowledgeBase`), `inference` (Rete inference with
durable_rules), `analysis` (three-valued partial evaluation and what is built on it), `audit`
(the hash-chained store) and `batch`. Submodules are imported on first use, so that
`import llm_advisor.engine.errors` stays cheap for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result
    from llm_advisor.engine.language.loader import load_knowledge_base
    from llm_advisor.engine.language.model import KnowledgeBase

__all__ = ["KnowledgeBase", "load_knowledge_base", "recommend"]


def recommend(kb: KnowledgeBase, raw: dict[str, object]) -> Result:
    """Validate raw facts and run inference on them (a convenience for callers and tests)."""
    from llm_advisor.engine.inference.run import evaluate
    from llm_advisor.engine.language.facts import make_case

    return evaluate(kb, make_case(kb, raw))


def __getattr__(name: str) -> Any:
    if name == "load_knowledge_base":
        from llm_advisor.engine.language.loader import load_knowledge_base

        return load_knowledge_base
    if name == "KnowledgeBase":
        from llm_advisor.engine.language.model import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(name)
