"""What a rule does when it fires (derive, score, exclude, combine, advise, technique), and the
one JSON form of an effect that reports, rule listings and audit records share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from llm_advisor.engine.language.model import Value


@dataclass(frozen=True)
class Derive:
    """Establishes the derived fact `name`."""

    name: str


@dataclass(frozen=True)
class Score:
    """Adds `delta` to an approach's score."""

    approach: str
    delta: int


@dataclass(frozen=True)
class Exclude:
    """Rules an approach out, saying why."""

    approach: str
    reason: str


@dataclass(frozen=True)
class Combine:
    """Suggests the two approaches together: whichever is recommended takes the other as a
    partner, or, with `lead_only`, only when `first` is recommended."""

    first: str
    second: str
    lead_only: bool = False

    def partner_of(self, recommended: str | None) -> str | None:
        """The partner this pair gives the recommendation, if any."""
        if recommended == self.first:
            return self.second
        if recommended == self.second and not self.lead_only:
            return self.first
        return None


@dataclass(frozen=True)
class Advise:
    """Advice shown with the result; `favours` and `rules_out` declare which approaches it
    argues for or against, so that a check can prove it never contradicts the outcome.
    Advice `shown_with` approaches is about carrying them out: it is shown only when the
    recommendation and its partners include every one of them. Advice `shown_without`
    approaches says what to do while they are not in the plan: it is shown only then."""

    text: str
    favours: tuple[str, ...] = ()
    rules_out: tuple[str, ...] = ()
    shown_with: tuple[str, ...] = ()
    shown_without: tuple[str, ...] = ()

    def shown(self, plan: set[str]) -> bool:
        """Whether the advice is shown with a plan of these approaches."""
        return set(self.shown_with) <= plan and not plan & set(self.shown_without)


STANCES = ("favours", "rules_out", "shown_with", "shown_without")
"""The keys of advice that name approaches, in the order `Advise` takes them."""


POWERS = (0.5, 1, 2, 3)
"""The powers a figure's formula may raise its fact to (0.5 is the square root)."""


def _formula(fact_value: Value | None, factor: float, power: float) -> float | None:
    """`factor * fact_value ** power`, or None when the fact is unknown."""
    if fact_value is None or isinstance(fact_value, bool | str):
        return None
    return factor * math.pow(float(fact_value), power)


@dataclass(frozen=True)
class Bound:
    """An upper bound on a figure, `factor * fact ** power` of another quantity fact: the size
    the data calls for, say, but no more than the budget pays for."""

    fact: str
    factor: float
    power: float = 1


@dataclass(frozen=True)
class Figure:
    """A figure computed from a quantity fact by a declared formula, `factor * fact ** power`,
    and no larger than its bound where the bound's fact is known."""

    name: str
    fact: str
    factor: float
    power: float = 1
    unit: str = "count"
    at_most: Bound | None = None

    def value(self, values: Mapping[str, Value | None]) -> float | None:
        """The figure for these fact values, or None when its own fact is unknown."""
        figure = _formula(values.get(self.fact), self.factor, self.power)
        bound = self.at_most
        if figure is None or bound is None:
            return figure
        limit = _formula(values.get(bound.fact), bound.factor, bound.power)
        return figure if limit is None else min(figure, limit)


@dataclass(frozen=True)
class Technique:
    """How to carry out an approach: a name (with `{figure}` placeholders) and its figures.
    Of the technique effects that fire for one approach, the rule declared first wins."""

    approach: str
    name: str
    figures: tuple[Figure, ...] = ()


Effect = Derive | Score | Exclude | Combine | Advise | Technique


def effect_json(effect: Effect) -> dict[str, Any]:
    """An effect as plain JSON data, the form used in reports and audit records."""
    if isinstance(effect, Derive):
        return {"derive": effect.name}
    if isinstance(effect, Score):
        return {"score": {"approach": effect.approach, "delta": effect.delta}}
    if isinstance(effect, Exclude):
        return {"exclude": {"approach": effect.approach, "reason": effect.reason}}
    if isinstance(effect, Combine):
        if effect.lead_only:
            return {"combine": {"lead": effect.first, "partner": effect.second}}
        return {"combine": [effect.first, effect.second]}
    if isinstance(effect, Technique):
        return {
            "technique": {
                "approach": effect.approach,
                "name": effect.name,
                "figures": [_figure_json(figure) for figure in effect.figures],
            }
        }
    stance = {key: list(getattr(effect, key)) for key in STANCES if getattr(effect, key)}
    return {"advise": effect.text, **stance}


def effect_from_json(data: dict[str, Any]) -> Effect:
    """The inverse of `effect_json`."""
    if "derive" in data:
        return Derive(data["derive"])
    if "score" in data:
        return Score(data["score"]["approach"], data["score"]["delta"])
    if "exclude" in data:
        return Exclude(data["exclude"]["approach"], data["exclude"]["reason"])
    if "combine" in data:
        pair = data["combine"]
        if isinstance(pair, dict):
            return Combine(pair["lead"], pair["partner"], lead_only=True)
        return Combine(*pair)
    if "technique" in data:
        technique = data["technique"]
        figures = tuple(_figure_from_json(figure) for figure in technique.get("figures", ()))
        return Technique(technique["approach"], technique["name"], figures)
    return Advise(data["advise"], *(tuple(data.get(key, ())) for key in STANCES))


def _figure_json(figure: Figure) -> dict[str, Any]:
    """A figure as JSON data; one without a bound has no `at_most` key, as before bounds."""
    data = {key: value for key, value in vars(figure).items() if key != "at_most"}
    if figure.at_most is not None:
        data["at_most"] = dict(vars(figure.at_most))
    return data


def _figure_from_json(data: dict[str, Any]) -> Figure:
    bound = data.get("at_most")
    return Figure(**{**data, "at_most": None if bound is None else Bound(**bound)})
