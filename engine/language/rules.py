"""Rule files: each rule's condition, effects, rationale and source, validated."""

from __future__ import annotations

import re
from typing import Any

from llm_advisor.engine.language.checks import FIGURE_UNITS, NAME, RULE_ID, RuleFileChecker, line_of
from llm_advisor.engine.language.effects import (
    POWERS,
    STANCES,
    Advise,
    Bound,
    Combine,
    Derive,
    Effect,
    Exclude,
    Figure,
    Score,
    Technique,
)
from llm_advisor.engine.language.facts import parse_value
from llm_advisor.engine.language.model import (
    All,
    Any_,
    Condition,
    DerivedTest,
    Fact,
    FactTest,
    Not,
    Rule,
    Value,
)
from llm_advisor.engine.language.normal_form import MAX_ALTERNATIVES, TooComplex, bounded_dnf
from llm_advisor.engine.language.source import Mapping

# --- rules ------------------------------------------------------------------------------------


class RuleReader:
    def __init__(
        self,
        f: RuleFileChecker,
        facts: dict[str, Fact],
        approaches: tuple[str, ...],
        sources: set[str],
    ) -> None:
        self.f = f
        self.facts = facts
        self.approaches = approaches
        self.sources = sources

    def condition(self, node: Any, line: int) -> Condition:
        f = self.f
        if not isinstance(node, Mapping):
            raise f.error(line_of(node, fallback=line), "a condition must be a mapping")
        line = node.line
        for combinator in ("all", "any"):
            if combinator in node:
                f.mapping(node, f"an {combinator!r} condition", line, required=(combinator,))
                parts = tuple(
                    self.condition(item, ln)
                    for item, ln in f.items(node[combinator], repr(combinator), line)
                )
                return All(parts, line) if combinator == "all" else Any_(parts, line)
        if "not" in node:
            f.mapping(node, "a 'not' condition", line, required=("not",))
            return Not(self.condition(node["not"], line), line)
        if "derived" in node:
            f.mapping(node, "a 'derived' condition", line, required=("derived",))
            name = f.ident(node, "derived")
            if name in self.facts:
                raise f.error(line, f"{name!r} is an input fact; test it with 'fact:'")
            return DerivedTest(name, True, line)
        if "fact" not in node:
            raise f.error(
                line, f"unknown condition {sorted(node)}: use fact, derived, all, any or not"
            )
        ops = [k for k in node if k != "fact"]
        for key in ops:
            if key not in ("is", "in", "below", "at_least"):
                raise f.error(
                    node.key_lines[key],
                    f"unknown key {key!r} in a fact condition (allowed: fact, is, in, below, at_least)",
                )
        if len(ops) != 1:
            raise f.error(line, "a fact condition needs exactly one of: is, in, below, at_least")
        op = ops[0]
        name = node["fact"]
        fact = self.facts.get(name) if isinstance(name, str) else None
        if fact is None:
            raise f.error(node.key_lines["fact"], f"unknown fact {name!r}")
        oline = node.key_lines[op]
        if op in ("below", "at_least"):
            if not fact.kind.continuous:
                raise f.error(oline, f"{op!r} needs a quantity fact; {name} is {fact.type}")
            try:
                threshold = parse_value(fact, node[op])
            except ValueError as err:
                raise f.error(oline, f"bad quantity {node[op]!r} for {name}: {err}") from None
            assert isinstance(threshold, float)
            return FactTest(name, "lt" if op == "below" else "ge", threshold=threshold, line=line)
        if fact.kind.continuous:
            raise f.error(oline, f"{name} is a quantity: compare it with below or at_least")
        raw = [node[op]] if op == "is" else [v for v, _ in f.items(node[op], "'in'", oline)]
        if not raw:
            raise f.error(oline, "'in' needs at least one value")
        values: list[Value] = []
        for item in raw:
            try:
                values.append(parse_value(fact, item))
            except ValueError as err:
                raise f.error(oline, f"bad value {item!r} for {name}: {err}") from None
        return FactTest(name, "in", values=tuple(dict.fromkeys(values)), line=line)

    def effects(self, node: Mapping, line: int) -> tuple[Effect, ...]:
        f = self.f
        node = f.mapping(
            node,
            "'then'",
            line,
            optional=("derive", "score", "exclude", "combine", "advise", "technique"),
        )
        if not node:
            raise f.error(line, "'then' needs at least one effect")
        out: list[Effect] = []
        if "derive" in node:
            names = node["derive"] if isinstance(node["derive"], list) else [node["derive"]]
            for name in names:
                if not isinstance(name, str) or not NAME.match(name):
                    raise f.error(
                        node.key_lines["derive"],
                        f"derived fact name must be an identifier, got {name!r}",
                    )
                if name in self.facts:
                    raise f.error(
                        node.key_lines["derive"], f"cannot derive {name!r}: it is an input fact"
                    )
                out.append(Derive(name))
        if "score" in node:
            table = f.mapping(
                node["score"], "'score'", node.key_lines["score"], optional=self.approaches
            )
            for approach, delta in table.items():
                if not isinstance(delta, int) or isinstance(delta, bool) or abs(delta) > 1000:
                    raise f.error(
                        table.key_lines[approach],
                        f"score for {approach} must be an integer from -1000 to 1000",
                    )
                out.append(Score(approach, delta))
        if "exclude" in node:
            table = f.mapping(
                node["exclude"], "'exclude'", node.key_lines["exclude"], optional=self.approaches
            )
            for approach in table:
                out.append(Exclude(approach, f.text(table, approach)))
        if "combine" in node:
            out.append(self.combine(node["combine"], node.key_lines["combine"]))
        if "advise" in node:
            out.append(self.advice(node))
        if "technique" in node:
            out.append(self.technique(node["technique"], node.key_lines["technique"]))
        return tuple(out)

    def combine(self, value: object, line: int) -> Combine:
        """`combine: [a, b]` (either may lead), or `combine: {lead: a, partner: b}` (b is a's
        partner, never the other way round)."""
        lead_only = isinstance(value, Mapping)
        if lead_only:
            table = self.f.mapping(value, "'combine'", line, required=("lead", "partner"))
            pair: object = [table["lead"], table["partner"]]
        else:
            pair = value
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or pair[0] == pair[1]
            or not all(p in self.approaches for p in pair)
        ):
            raise self.f.error(
                line,
                f"'combine' needs two different approaches from: {', '.join(self.approaches)}",
            )
        return Combine(pair[0], pair[1], lead_only=lead_only)

    def approach(self, value: object, line: int, where: str = "") -> str:
        """A declared approach's id (else a RuleError naming the known ones)."""
        if value not in self.approaches:
            known = ", ".join(self.approaches)
            raise self.f.error(line, f"unknown approach {value!r}{where} (one of: {known})")
        return str(value)

    def approach_list(self, node: Mapping, key: str) -> tuple[str, ...]:
        """A non-empty list of approaches (an empty one would say nothing, and read as if it
        did)."""
        line = line_of(node, key)
        items = [
            self.approach(v, line, f" in {key!r}")
            for v, _ in self.f.items(node[key], repr(key), line)
        ]
        if not items:
            raise self.f.error(line, f"{key!r} needs at least one approach")
        return tuple(dict.fromkeys(items))

    def advice(self, node: Mapping) -> Advise:
        """`advise: text`, or `advise: {text, favours, rules_out, shown_with, shown_without}`
        declaring its stance and the plans it is shown with."""
        f = self.f
        if not isinstance(node["advise"], Mapping):
            return Advise(f.text(node, "advise"))
        table = f.mapping(
            node["advise"],
            "'advise'",
            node.key_lines["advise"],
            required=("text",),
            optional=STANCES,
        )
        favours, rules_out, shown_with, shown_without = (
            self.approach_list(table, key) if key in table else () for key in STANCES
        )
        if set(favours) & set(rules_out):
            raise f.error(table.line, "advice cannot both favour and rule out an approach")
        if both := set(shown_with) & set(rules_out):
            raise f.error(table.line, f"advice shown only with {min(both)} cannot rule it out")
        if both := set(shown_without) & (set(shown_with) | set(favours)):
            raise f.error(
                table.line,
                f"advice shown only without {min(both)} cannot be shown with or favour it",
            )
        return Advise(f.text(table, "text"), favours, rules_out, shown_with, shown_without)

    def formula(self, node: Mapping) -> tuple[str, float, float]:
        """The quantity fact, factor and power of `factor * fact ** power`, checked."""
        f = self.f
        fact = self.facts.get(node["fact"]) if isinstance(node["fact"], str) else None
        if fact is None or not fact.kind.continuous:
            raise f.error(
                line_of(node, "fact"), f"a figure needs a quantity fact, got {node['fact']!r}"
            )
        factor, power = node["factor"], node.get("power", 1)
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
            raise f.error(line_of(node, "factor"), "'factor' must be a positive number")
        if isinstance(power, bool) or power not in POWERS:
            raise f.error(
                line_of(node, "power"), f"'power' must be one of {', '.join(map(str, POWERS))}"
            )
        return fact.name, float(factor), power

    def technique(self, node: Any, line: int) -> Technique:
        """`technique: {approach, name, figures: [{name, fact, factor, power, unit, at_most}]}`,
        `at_most` being `{fact, factor, power}`."""
        f = self.f
        table = f.mapping(
            node, "'technique'", line, required=("approach", "name"), optional=("figures",)
        )
        approach = self.approach(table["approach"], line_of(table, "approach"))
        figures: list[Figure] = []
        listed = f.items(table["figures"], "'figures'", line) if "figures" in table else []
        for item, iline in listed:
            fig = f.mapping(
                item,
                "a figure",
                iline,
                required=("name", "fact", "factor"),
                optional=("power", "unit", "at_most"),
            )
            fact, factor, power = self.formula(fig)
            unit = fig.get("unit", "count")
            if unit not in FIGURE_UNITS:
                raise f.error(
                    line_of(fig, "unit"), f"'unit' must be one of: {', '.join(FIGURE_UNITS)}"
                )
            bound = None
            if "at_most" in fig:
                limit = f.mapping(
                    fig["at_most"],
                    "'at_most'",
                    line_of(fig, "at_most"),
                    required=("fact", "factor"),
                    optional=("power",),
                )
                bound = Bound(*self.formula(limit))
            figures.append(Figure(f.ident(fig, "name"), fact, factor, power, unit, bound))
        name = f.text(table, "name")
        names = {fig.name for fig in figures}
        if len(names) != len(figures):
            raise f.error(line_of(table, "figures"), "figure names must be distinct")
        for placeholder in re.findall(r"\{([^{}]*)\}", name):
            if placeholder not in names:
                raise f.error(
                    line_of(table, "name"), f"{{{placeholder}}} in 'name' is not one of its figures"
                )
        return Technique(approach, name, tuple(figures))

    def rule(self, node: Any, line: int) -> Rule:
        f = self.f
        node = f.mapping(
            node,
            "a rule",
            line,
            required=("id", "title", "when", "then"),
            optional=("because", "source"),
        )
        rule_id = f.ident(node, "id", RULE_ID)
        source = ""
        if "source" in node:
            source = f.text(node, "source")
            if source not in self.sources:
                raise f.error(
                    node.key_lines["source"],
                    f"unknown source {source!r} (define it in sources.yaml)",
                )
        when = self.condition(node["when"], node.key_lines["when"])
        try:
            alternatives = bounded_dnf(when, self.facts)
        except TooComplex:
            raise f.error(
                node.key_lines["when"],
                f"condition too complex: more than {MAX_ALTERNATIVES} alternatives",
            ) from None
        return Rule(
            id=rule_id,
            title=f.text(node, "title"),
            when=when,
            effects=self.effects(node["then"], node.key_lines["then"]),
            because=f.text(node, "because") if "because" in node else "",
            source=source,
            file=f.name,
            line=line,
            alternatives=alternatives,
        )
