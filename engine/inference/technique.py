"""The technique within an approach: which declared technique applies, with its figures filled in.

Technique effects are ordinary rule effects; of those that fired for one approach, the one whose
rule is declared first in the rule base wins, so a rule file lists techniques most specific first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from llm_advisor.engine.language import quantity
from llm_advisor.engine.language.effects import Technique
from llm_advisor.engine.language.model import KnowledgeBase, Value

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class ChosenTechnique:
    """The technique for one approach: its rule, its text with figures filled in, the figures."""

    approach: str
    rule: str
    text: str
    figures: tuple[tuple[str, float | None], ...]


def choose(
    kb: KnowledgeBase, fired: Iterable[str], approach: str, values: Mapping[str, Value | None]
) -> ChosenTechnique | None:
    """The technique for `approach` among the rules that fired (by id), or None."""
    fired_ids = set(fired)
    for rule in kb.rules:
        if rule.id not in fired_ids:
            continue
        for effect in rule.effects:
            if isinstance(effect, Technique) and effect.approach == approach:
                return _fill(rule.id, effect, values)
    return None


def _fill(
    rule_id: str, technique: Technique, values: Mapping[str, Value | None]
) -> ChosenTechnique:
    figures = {f.name: (f, f.value(values)) for f in technique.figures}

    def shown(match: re.Match[str]) -> str:
        figure, value = figures[match.group(1)]
        return "an unknown number of" if value is None else format_figure(value, figure.unit)

    return ChosenTechnique(
        technique.approach,
        rule_id,
        _PLACEHOLDER.sub(shown, technique.name),
        tuple((name, value) for name, (_, value) in figures.items()),
    )


def format_figure(value: float, unit: str) -> str:
    """A computed figure the way people say it: `7B`, `$200k`, `8.4e21`."""
    if unit == "flops":
        return f"{value:.1e}".replace("e+", "e")
    return quantity.display(float(f"{value:.2g}"), unit)
