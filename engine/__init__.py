"""llm-advisor's engine: rule loading and validation, Rete inference, analysis and audit.

The engine is domain-neutral: it runs any rule base written in the rule language.
"""

from .errors import AdvisorError, EngineError, InputError, RuleError
from .loader import load_knowledge_base
from .model import KnowledgeBase

__all__ = [
    "AdvisorError",
    "EngineError",
    "InputError",
    "KnowledgeBase",
    "RuleError",
    "load_knowledge_base",
    "recommend",
]


def recommend(kb: KnowledgeBase, raw: dict[str, object]) -> "Result":  # noqa: F821
    """Validate raw facts and run inference on them (a convenience for callers and tests)."""
    from .facts import make_case
    from .inference import evaluate

    return evaluate(kb, make_case(kb, raw))
