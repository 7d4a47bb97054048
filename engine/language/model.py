"""The typed, immutable knowledge base: facts, approaches, sources, rules and their parts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from llm_advisor.engine.language.effects import Derive, Effect
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
