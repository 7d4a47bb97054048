"""The wording of a scene's labels: text made safe and wrapped, the answers an edge stands for,
and what a leaf says about its outcomes (names, partners, what they depend on).

Renderers use `visible` and `wrap` on any text they draw; the scene's node builders and the
documents' subtitles use the rest.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TypeVar

from llm_advisor.engine.analysis.diagram import DecisionDiagram
from llm_advisor.engine.analysis.status import Decision, in_approach_order
from llm_advisor.engine.language.model import KnowledgeBase

WRAP = 26
LEAF_WRAP = 24
OPEN_WRAP = 64
"""Characters per line of node text before it wraps."""
MAINLY_SHOWN = 3
"""Facts a leaf that lists several outcomes names as what it depends on."""


@functools.cache
def visible(text: str) -> str:
    """Text for a label: control characters (C0 and C1), line and paragraph separators and the
    non-characters U+FFFE and U+FFFF, which could break a line or the syntax, become spaces."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in "\ufffe\uffff" else ch
        for ch in text
    )


def wrap(text: str, width: int = WRAP) -> tuple[str, ...]:
    """Split text into lines of about `width` characters (never an empty tuple)."""
    flat = " ".join(text.split())
    lines = textwrap.wrap(flat, width, break_long_words=False, break_on_hyphens=False)
    return tuple(lines) or ("",)


# --- edges ------------------------------------------------------------------------------------


def consecutive_runs(numbers: Iterable[int]) -> list[list[int]]:
    """The numbers in order, grouped into runs of consecutive ones: [1, 2, 3], [5], [7, 8]."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def edge_labels(diagram: DecisionDiagram, fact: int, cells: Sequence[int]) -> list[str]:
    """One label per edge to draw for a branch: the values of an enum or bool together, the
    bands of a quantity merged into one range per run of adjacent bands."""
    labels = diagram.cell_labels[fact]
    if not all(_band(label) for label in labels):
        return [", ".join(labels[c] for c in cells)]
    return [
        _merged(labels[run[0]], labels[run[-1]]) if len(run) > 1 else labels[run[0]]
        for run in consecutive_runs(cells)
    ]


def _band(label: str) -> tuple[str, str] | None:
    """The (low, high) ends of a quantity band's label ("" when open), None for other labels."""
    if label == "none":
        return "", "1"
    if label.startswith("< "):
        return "", label[2:]
    if label.startswith("≥ "):
        return label[2:], ""
    if "–" in label:
        low, high = label.split("–", 1)
        return low, high
    if label == "any":
        return "", ""
    return None


def _merged(first: str, last: str) -> str:
    """The label of adjacent bands from `first` to `last`."""
    low = (_band(first) or ("", ""))[0]
    high = (_band(last) or ("", ""))[1]
    if not low and not high:
        return "any"
    if not low:
        return f"< {high}"
    if not high:
        return f"≥ {low}"
    return f"{low}–{high}"


# --- leaves -----------------------------------------------------------------------------------


def decision_text(kb: KnowledgeBase, decision: Decision) -> tuple[str, tuple[str, ...]]:
    """A leaf's main text and detail lines: the approach's name and any combination."""
    if decision.recommendation is None:
        return "No approach fits", ("every approach is excluded",)
    names = {a.id: a.name for a in kb.approaches}
    return names[decision.recommendation], tuple(f"+ {names[a]}" for a in decision.combine_with)


def outcome_names(kb: KnowledgeBase, outcomes: Sequence[Decision]) -> list[str]:
    """Each outcome as one phrase ("RAG + Fine-tuning"), in order."""
    names = {a.id: short_name(a.name) for a in kb.approaches}
    return [
        " + ".join([names[d.recommendation], *(names[a] for a in d.combine_with)])
        if d.recommendation is not None
        else "No approach fits"
        for d in in_approach_order(kb.approach_ids, outcomes)
    ]


def short_name(name: str) -> str:
    """An approach's name for tight spaces: the abbreviation it ends in, as in "Retrieval-augmented
    generation (RAG)", else the name."""
    if name.endswith(")") and "(" in name:
        inner = name[name.rindex("(") + 1 : -1].strip()
        if inner:
            return inner
    return name


Id = TypeVar("Id", bound=str | None)


def approaches_in_order(kb: KnowledgeBase, ids: Iterable[Id]) -> list[Id]:
    """Approach ids each once, in the rule base's order; None ("no approach fits") last."""
    rank: dict[str | None, int] = {a: i for i, a in enumerate(kb.approach_ids)}
    return sorted(set(ids), key=lambda a: rank.get(a, len(rank)))


def approach_short_name(kb: KnowledgeBase, approach: str | None) -> str:
    """An approach's short name; "No approach fits" for None."""
    return "No approach fits" if approach is None else short_name(kb.approach_name(approach))


def compact_text(kb: KnowledgeBase, outcomes: Sequence[Decision]) -> str:
    """Outcomes on one line, each as its exact phrase: "Prompt engineering · RAG + Fine-tuning"."""
    return " · ".join(dict.fromkeys(outcome_names(kb, outcomes)))


def partner_text(kb: KnowledgeBase, focus: str, outcomes: Sequence[Decision]) -> str:
    """What a leaf where `focus` is never the recommendation says about it: "Not recommended",
    and the recommendations it may still be combined with ("may be a partner of RAG")."""
    leads = approaches_in_order(kb, (d.recommendation for d in outcomes if focus in d.combine_with))
    if not leads:
        return "Not recommended"
    return "Not recommended; may be a partner of " + ", ".join(
        approach_short_name(kb, a) for a in leads
    )


def depends_text(kb: KnowledgeBase, diagram: DecisionDiagram, depends: Sequence[int]) -> str:
    """What a leaf's outcome depends on: the facts that separate its outcomes most (the summary
    lists them first), "mainly" when there are more than `MAINLY_SHOWN`."""
    shown = [(kb.fact(diagram.facts[f]).short or diagram.facts[f]) for f in depends]
    shown = [name[:1].lower() + name[1:] if name[1:2].islower() else name for name in shown]
    if len(shown) > MAINLY_SHOWN:
        return f"depends mainly on {', '.join(shown[:MAINLY_SHOWN])}"
    return f"depends on {', '.join(shown)}"
