"""The typed, immutable knowledge base: facts, approaches, sources, rules and their parts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from llm_advisor.engine.language.types import TYPES, FactType

Value = str | bool | float
"""A normalised fact value: an enum value, a bool, or a quantity in its base unit."""


@dataclass(frozen=True)
class Fact:
    """One input fact of the schema (`facts.yaml`)."""

    name: str
    type: Literal["enum", "bool", "quantity"]
    question: str
    short: str
    help: str
    values: tuple[str, ...] = ()
    value_help: tuple[tuple[str, str], ...] = ()
    unit: str | None = None
    examples: tuple[str, ...] = ()
    default: Value | None = None
    line: int = 0
    actionable: bool = True
    """Whether a team can change the fact (its budget, its data) rather than it describing the
    situation (its problem, its domain): what-if explanations put changes it can make first."""
    reach: float | None = None
    """How many times its value one step of a team can raise a quantity (None: any; a value of
    zero counts as one unit); a larger rise describes another situation."""
    measured: bool = False
    """Whether the team learns the fact's value by measuring rather than choosing it (a prompt
    baseline falls short or not): a what-if setting it holds once the measurement shows it."""

    @property
    def kind(self) -> FactType:
        """The fact's type object: how its values are read, shown and checked."""
        return TYPES[self.type]

    @property
    def domain(self) -> tuple[Value, ...]:
        """The finite values of an enum or bool fact (empty for quantities)."""
        return self.kind.domain(self)


@dataclass(frozen=True)
class Caveat:
    """A drawback of an approach; `answered_by` the approaches that make up for it when they are
    in the same plan (retrieval does not change style; a fine-tune in the plan does)."""

    text: str
    answered_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approach:
    """One outcome (`approaches.yaml`)."""

    id: str
    name: str
    profile: tuple[tuple[str, int], ...]
    summary: str
    caveats: tuple[Caveat, ...]
    next_steps: tuple[str, ...]
    line: int = 0

    def rank(self, dimension: str) -> int:
        return dict(self.profile).get(dimension, 0)

    def caveats_in(self, plan: Collection[str]) -> tuple[Caveat, ...]:
        """Its caveats that no other approach of the plan makes up for."""
        others = set(plan)
        return tuple(c for c in self.caveats if not others.intersection(c.answered_by))


@dataclass(frozen=True)
class Source:
    """A reference rules may cite: who wrote or published it, its title and year, and its address
    where that is stable; `note` says what part of it is meant, or where else it is known from."""

    key: str
    title: str
    url: str | None = None
    author: str = ""
    year: int | None = None
    note: str | None = None

    @property
    def reference(self) -> str:
        """The reference as a reader looks it up: `Author (year), "Title", note, address`."""
        parts = [f"{self.author} ({self.year})" if self.year else self.author, f'"{self.title}"']
        parts += [p for p in (self.note, self.url) if p]
        return ", ".join(p for p in parts if p)


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactTest:
    """A test on an input fact: `op` is `in` (values), `lt` or `ge` (threshold)."""

    fact: str
    op: Literal["in", "lt", "ge"]
    values: tuple[Value, ...] = ()
    threshold: float = 0.0
    line: int = 0

    def holds(self, value: Value | None) -> bool:
        """Whether the test holds for a value; a test on an unknown value never holds."""
        if value is None:
            return False
        if self.op == "in":
            return value in self.values
        assert isinstance(value, float | int) and not isinstance(value, bool)
        return value < self.threshold if self.op == "lt" else value >= self.threshold


@dataclass(frozen=True)
class DerivedTest:
    """A test on a derived fact: true when `value` matches whether it was established."""

    name: str
    value: bool = True
    line: int = 0


@dataclass(frozen=True)
class All:
    """A conjunction: every item holds."""

    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True)
class Any_:
    """A disjunction: at least one item holds."""

    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True)
class Not:
    """A negation: the item does not hold."""

    item: Condition
    line: int = 0


Condition = FactTest | DerivedTest | All | Any_ | Not
Literal_ = FactTest | DerivedTest


# --- effects ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Figure:
    """A figure computed from a quantity fact by a declared formula: `factor * fact ** power`."""

    name: str
    fact: str
    factor: float
    power: int = 1
    unit: str = "count"

    def value(self, fact_value: Value | None) -> float | None:
        if fact_value is None or isinstance(fact_value, bool | str):
            return None
        return self.factor * float(fact_value) ** self.power


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
                "figures": [dict(vars(figure)) for figure in effect.figures],
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
        figures = tuple(Figure(**figure) for figure in technique.get("figures", ()))
        return Technique(technique["approach"], technique["name"], figures)
    return Advise(data["advise"], *(tuple(data.get(key, ())) for key in STANCES))


@dataclass(frozen=True)
class Rule:
    """A declarative rule; `alternatives` is `when` in disjunctive normal form."""

    id: str
    title: str
    when: Condition
    effects: tuple[Effect, ...]
    because: str
    source: str
    file: str
    line: int
    alternatives: tuple[tuple[Literal_, ...], ...] = ()
    stratum: int = 0

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def facts_used(self) -> frozenset[str]:
        return frozenset(
            lit.fact for alt in self.alternatives for lit in alt if isinstance(lit, FactTest)
        )

    @property
    def derived_used(self) -> frozenset[str]:
        return frozenset(
            lit.name for alt in self.alternatives for lit in alt if isinstance(lit, DerivedTest)
        )

    @property
    def derives(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.effects if isinstance(e, Derive))


InvariantKind = Literal["partners_at_least", "advice_agrees", "no_flip_back", "never", "always"]
PLAN_KINDS: tuple[InvariantKind, ...] = ("never", "always")
"""The kinds that say whether an approach is in the plan where a condition holds."""


@dataclass(frozen=True)
class Invariant:
    """A property every case must satisfy (`invariants.yaml`), proven by `rules check`.

    * `partners_at_least`: every suggested partner is not excluded and scores at least `bound`;
    * `advice_agrees`: no advice that fires rules out the recommendation or a partner, and
      advice that favours approaches names the recommendation or a partner;
    * `no_flip_back`: raising `fact` alone never makes the recommendation go A -> B -> A;
    * `never`: `approach` is neither recommended nor suggested as a partner where `when` holds;
    * `always`: `approach` is recommended or suggested as a partner wherever `when` holds.
    """

    id: str
    title: str
    kind: InvariantKind
    bound: int = 0
    fact: str = ""
    approach: str = ""
    when: tuple[tuple[Literal_, ...], ...] = ()
    file: str = "invariants.yaml"
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class RuleFile:
    """A file of the rule base, kept verbatim so that a record can be replayed later."""

    name: str
    content: bytes


@dataclass(frozen=True)
class KnowledgeBase:
    """A loaded, validated rule base. `fingerprint` is a SHA-256 over its files."""

    facts: tuple[Fact, ...]
    approaches: tuple[Approach, ...]
    sources: tuple[Source, ...]
    rules: tuple[Rule, ...]
    files: tuple[RuleFile, ...]
    fingerprint: str
    directory: str
    derived: tuple[str, ...] = ()
    strata: tuple[tuple[str, ...], ...] = ()
    invariants: tuple[Invariant, ...] = ()
    tie_break: str | None = None
    """The profile dimension whose lowest rank wins a tie in score (then file order)."""

    def fact(self, name: str) -> Fact:
        return next(f for f in self.facts if f.name == name)

    def approach(self, approach_id: str) -> Approach:
        return next(a for a in self.approaches if a.id == approach_id)

    def approach_name(self, approach_id: str) -> str:
        """An approach's name, or the id itself for one this rule base does not have (a stored
        record can name approaches a later rule base dropped)."""
        return next((a.name for a in self.approaches if a.id == approach_id), approach_id)

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def source(self, key: str) -> Source:
        return next(s for s in self.sources if s.key == key)

    @property
    def fact_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.facts)

    @property
    def approach_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.approaches)

    @property
    def tie_order(self) -> tuple[str, ...]:
        """Approaches in tie-break order: lowest rank on the `tie_break` dimension first, then
        file order."""
        dim = self.tie_break
        order = sorted(
            enumerate(self.approaches), key=lambda p: (p[1].rank(dim) if dim else 0, p[0])
        )
        return tuple(a.id for _, a in order)

    def thresholds(self, fact: str) -> tuple[float, ...]:
        """Sorted distinct thresholds the rules compare a quantity fact against."""
        found = {
            lit.threshold
            for rule in self.rules
            for alt in rule.alternatives
            for lit in alt
            if isinstance(lit, FactTest) and lit.fact == fact and lit.op != "in"
        }
        return tuple(sorted(found))
