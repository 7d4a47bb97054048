"""Interactive HTML: placeholder."""
from __future__ import annotations
from llm_advisor.engine.diagram import DecisionDiagram
from llm_advisor.engine.model import KnowledgeBase
def to_html(kb: KnowledgeBase, detail: DecisionDiagram, title: str) -> str:
    return "<html></html>"
