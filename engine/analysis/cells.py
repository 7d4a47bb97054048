"""The cells a fact's values split into for the analysis: its enum values, yes and no, or the
bands between the thresholds the rules compare a quantity with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llm_advisor.engine.language.facts import display_value
from llm_advisor.engine.language.model import Fact, KnowledgeBase, Value
from llm_advisor.engine.language.quantity import WHOLE_UNITS


@dataclass(frozen=True)
class Cell:
    """One branch of a fact: an enum value, yes/no, or a band `[low, high)` of a quantity."""

    label: str
    value: Value | None
    low: float | None = None
    high: float | None = None


def cells_for(fact: Fact, thresholds: Iterable[float]) -> tuple[Cell, ...]:
    """The cells a fact splits into, given the thresholds of a quantity."""
    if not fact.kind.continuous:
        return tuple(Cell(display_value(fact, v), v) for v in fact.domain)
    bounds = sorted({t for t in thresholds if t > 0})  # no value is below 0: no band there
    if not bounds:
        return (Cell("any", 0.0, 0.0, None),)
    cells = [Cell(below_label(fact, bounds[0]), 0.0, 0.0, bounds[0])]
    for low, high in zip(bounds, [*bounds[1:], None], strict=True):
        label = (
            f"≥ {display_value(fact, low)}"
            if high is None
            else f"{display_value(fact, low)}–{display_value(fact, high)}"
        )
        cells.append(Cell(label, low, low, high))
    return tuple(cells)


def below_label(fact: Fact, high: float) -> str:
    """The band of a quantity below `high`, as people read it: a count below one is none at all,
    so it reads as zero does ("none") rather than "< 1"."""
    if high <= 1 and fact.unit in WHOLE_UNITS:
        return display_value(fact, 0.0)
    return f"< {display_value(fact, high)}"


def union_thresholds(*kbs: KnowledgeBase) -> dict[str, list[float]]:
    """Every threshold of every quantity in any of the rule bases, so that analyzers of them
    share their cells."""
    out: dict[str, list[float]] = {}
    for kb in kbs:
        for fact in kb.facts:
            out.setdefault(fact.name, []).extend(kb.thresholds(fact.name))
    return out
