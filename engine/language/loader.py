"""Load and validate a rule base directory into a `KnowledgeBase`.

Every problem is a `RuleError` naming the file and line: YAML syntax, unknown keys, unknown facts
or values, type mismatches, bad quantities, duplicate ids, unknown sources, derivation cycles.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

from llm_advisor.engine.errors import InputError, RuleError
from llm_advisor.engine.language import quantity
from llm_advisor.engine.language.facts import parse_value
from llm_advisor.engine.language.model import (
    Advise,
    All,
    Any_,
    Approach,
    Combine,
    Condition,
    Derive,
    DerivedTest,
    Effect,
    Exclude,
    Fact,
    FactTest,
    Figure,
    Invariant,
    KnowledgeBase,
    Literal_,
    Not,
    Rule,
    RuleFile,
    Score,
    Source,
    Technique,
    Value,
)
from llm_advisor.engine.language.source import Mapping, Sequence, load_file, parse_bytes

SCHEMA_FILES = ("facts.yaml", "approaches.yaml", "sources.yaml")
INVARIANTS_FILE = "invariants.yaml"
"""Optional: the properties every case must satisfy, proven by `rules check`."""
FIGURE_UNITS = (*quantity.UNITS, "flops")
DIMENSIONS = ("accuracy", "complexity", "effort", "flexibility")
MAX_ALTERNATIVES = 256
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def default_rules_dir() -> Path:
    """The rule base shipped with the package: the folder of `llm_advisor.rules` (found without
    `importlib.resources`, whose zip support costs a tenth of a cold start)."""
    from llm_advisor import rules

    return Path(rules.__file__ or "").parent


def _line(node: Any, key: str | None = None, fallback: int = 1) -> int:
    if isinstance(node, Mapping):
        return node.key_lines.get(key, node.line) if key else node.line
    if isinstance(node, Sequence):
        return node.line
    return fallback


class _File:
    """Validation helpers bound to one file, so that every error names it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, line: int, message: str) -> RuleError:
        return RuleError(self.name, line, message)

    def mapping(
        self,
        node: Any,
        what: str,
        line: int,
        *,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
    ) -> Mapping:
        if not isinstance(node, Mapping):
            raise self.error(line, f"{what} must be a mapping")
        for key in node:
            if key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                raise self.error(
                    node.key_lines[key], f"unknown key {key!r} in {what} (allowed: {allowed})"
                )
        for key in required:
            if key not in node:
                raise self.error(node.line, f"{what} is missing {key!r}")
        return node

    def items(self, node: Any, what: str, line: int) -> list[tuple[Any, int]]:
        if not isinstance(node, Sequence):
            raise self.error(_line(node, fallback=line), f"{what} must be a list")
        return list(zip(node, node.item_lines, strict=True))

    def text(self, node: Mapping, key: str, *, default: str | None = None) -> str:
        value = node.get(key, default)
        if not isinstance(value, str) or (not value.strip() and default is None):
            raise self.error(_line(node, key), f"{key!r} must be a non-empty string")
        return value.strip()

    def texts(self, node: Mapping, key: str) -> tuple[str, ...]:
        if key not in node:
            return ()
        out = []
        for item, line in self.items(node[key], repr(key), _line(node, key)):
            if not isinstance(item, str) or not item.strip():
                raise self.error(line, f"items of {key!r} must be non-empty strings")
            out.append(item.strip())
        return tuple(out)

    def ident(self, node: Mapping, key: str, pattern: re.Pattern[str] = _NAME) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not pattern.match(value):
            raise self.error(
                _line(node, key), f"{key!r} must be an identifier such as my_name, got {value!r}"
            )
        return value

    def top(self, doc: Any, key: str) -> Any:
        if not isinstance(doc, Mapping) or set(doc) != {key}:
            raise self.error(_line(doc), f"expected a mapping with the single key {key!r}")
        return doc[key]


# --- schema files -----------------------------------------------------------------------------


def _load_facts(f: _File, doc: Any) -> tuple[Fact, ...]:
    facts: dict[str, Fact] = {}
    for node, line in f.items(f.top(doc, "facts"), "'facts'", _line(doc)):
        node = f.mapping(
            node,
            "a fact",
            line,
            required=("name", "type", "question"),
            optional=(
                "short",
                "help",
                "values",
                "value_help",
                "unit",
                "examples",
                "default",
                "actionable",
            ),
        )
        name = f.ident(node, "name")
        if name in facts:
            raise f.error(line, f"duplicate fact {name!r} (first at line {facts[name].line})")
        kind = node["type"]
        if kind not in ("enum", "bool", "quantity"):
            raise f.error(
                _line(node, "type"), f"fact type must be enum, bool or quantity, got {kind!r}"
            )
        values: tuple[str, ...] = ()
        unit = None
        if kind == "enum":
            raw_values = [
                v for v, _ in f.items(node.get("values"), "'values'", _line(node, "values"))
            ]
            if not raw_values or not all(isinstance(v, str) and _NAME.match(v) for v in raw_values):
                raise f.error(
                    _line(node, "values"), "'values' must be a non-empty list of identifiers"
                )
            if len(set(raw_values)) != len(raw_values):
                raise f.error(_line(node, "values"), "'values' has duplicates")
            values = tuple(raw_values)
        elif "values" in node:
            raise f.error(
                _line(node, "values"), f"'values' is only for enum facts, {name} is {kind}"
            )
        if kind == "quantity":
            unit = node.get("unit")
            if unit not in quantity.UNITS:
                raise f.error(
                    _line(node, "unit"),
                    f"quantity {name} needs a unit: one of {', '.join(quantity.UNITS)}",
                )
        elif "unit" in node:
            raise f.error(
                _line(node, "unit"), f"'unit' is only for quantity facts, {name} is {kind}"
            )
        value_help: list[tuple[str, str]] = []
        if "value_help" in node:
            vh = f.mapping(
                node["value_help"],
                "'value_help'",
                _line(node, "value_help"),
                optional=tuple(values) + (("yes", "no") if kind == "bool" else ()),
            )
            value_help = [(k, f.text(vh, k)) for k in vh]
        fact = Fact(
            name=name,
            type=kind,
            question=f.text(node, "question"),
            short=f.text(node, "short", default=name),
            help=f.text(node, "help", default=""),
            values=values,
            value_help=tuple(value_help),
            unit=unit,
            examples=f.texts(node, "examples"),
            line=line,
            actionable=_flag(f, node, "actionable", default=True),
        )
        if "default" in node:
            try:
                default = parse_value(fact, node["default"])
            except ValueError as err:
                raise f.error(_line(node, "default"), f"bad default for {name}: {err}") from None
            fact = Fact(**{**fact.__dict__, "default": default})
        facts[name] = fact
    if not facts:
        raise f.error(_line(doc), "no facts defined")
    return tuple(facts.values())


def _load_approaches(f: _File, doc: Any) -> tuple[Approach, ...]:
    approaches: dict[str, Approach] = {}
    for node, line in f.items(f.top(doc, "approaches"), "'approaches'", _line(doc)):
        node = f.mapping(
            node,
            "an approach",
            line,
            required=("id", "name", "profile"),
            optional=("summary", "caveats", "next_steps"),
        )
        approach_id = f.ident(node, "id")
        if approach_id in approaches:
            raise f.error(line, f"duplicate approach {approach_id!r}")
        profile = f.mapping(
            node["profile"], "'profile'", _line(node, "profile"), required=DIMENSIONS
        )
        for dim in DIMENSIONS:
            if not isinstance(profile[dim], int) or isinstance(profile[dim], bool):
                raise f.error(profile.key_lines[dim], f"profile {dim} must be an integer rank")
        approaches[approach_id] = Approach(
            id=approach_id,
            name=f.text(node, "name"),
            profile=tuple((d, int(profile[d])) for d in DIMENSIONS),
            summary=f.text(node, "summary", default=""),
            caveats=f.texts(node, "caveats"),
            next_steps=f.texts(node, "next_steps"),
            line=line,
        )
    if not approaches:
        raise f.error(_line(doc), "no approaches defined")
    return tuple(approaches.values())


def _load_sources(f: _File, doc: Any) -> tuple[Source, ...]:
    table = f.top(doc, "sources")
    if not isinstance(table, Mapping):
        raise f.error(_line(doc), "'sources' must be a mapping of key to title and url")
    sources = []
    for key in table:
        if not _RULE_ID.match(key):
            raise f.error(table.key_lines[key], f"source key {key!r} must be an identifier")
        node = f.mapping(
            table[key],
            f"source {key!r}",
            table.key_lines[key],
            required=("title", "author", "year"),
            optional=("url", "note"),
        )
        year = node["year"]
        if not isinstance(year, int) or isinstance(year, bool) or not 1000 <= year <= 9999:
            raise f.error(
                _line(node, "year"), f"source {key!r}: 'year' must be a year, got {year!r}"
            )
        url = f.text(node, "url") if "url" in node else None
        if url is not None and not re.match(r"https?://\S+$", url):
            raise f.error(_line(node, "url"), f"source {key!r}: 'url' must be an http(s) address")
        sources.append(
            Source(
                key=key,
                title=f.text(node, "title"),
                url=url,
                author=f.text(node, "author"),
                year=year,
                note=f.text(node, "note") if "note" in node else None,
            )
        )
    return tuple(sources)


def _flag(f: _File, node: Mapping, key: str, *, default: bool) -> bool:
    """An optional `true`/`false` key."""
    value = node.get(key, default)
    if not isinstance(value, bool):
        raise f.error(_line(node, key), f"'{key}' must be true or false, got {value!r}")
    return value


# --- rules ------------------------------------------------------------------------------------


class _RuleReader:
    def __init__(
        self, f: _File, facts: dict[str, Fact], approaches: tuple[str, ...], sources: set[str]
    ) -> None:
        self.f = f
        self.facts = facts
        self.approaches = approaches
        self.sources = sources

    def condition(self, node: Any, line: int) -> Condition:
        f = self.f
        if not isinstance(node, Mapping):
            raise f.error(_line(node, fallback=line), "a condition must be a mapping")
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
            if fact.type != "quantity" or fact.unit is None:
                raise f.error(oline, f"{op!r} needs a quantity fact; {name} is {fact.type}")
            try:
                threshold = parse_value(fact, node[op])
            except ValueError as err:
                raise f.error(oline, f"bad quantity {node[op]!r} for {name}: {err}") from None
            assert isinstance(threshold, float)
            return FactTest(name, "lt" if op == "below" else "ge", threshold=threshold, line=line)
        if fact.type == "quantity":
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
                if not isinstance(name, str) or not _NAME.match(name):
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
            pair = node["combine"]
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or pair[0] == pair[1]
                or not all(p in self.approaches for p in pair)
            ):
                raise f.error(
                    node.key_lines["combine"],
                    f"'combine' needs two different approaches from: {', '.join(self.approaches)}",
                )
            out.append(Combine(pair[0], pair[1]))
        if "advise" in node:
            out.append(self.advice(node))
        if "technique" in node:
            out.append(self.technique(node["technique"], node.key_lines["technique"]))
        return tuple(out)

    def approach_list(self, node: Mapping, key: str) -> tuple[str, ...]:
        items = [v for v, _ in self.f.items(node[key], repr(key), _line(node, key))]
        for item in items:
            if item not in self.approaches:
                raise self.f.error(
                    _line(node, key),
                    f"unknown approach {item!r} in {key!r} (one of: {', '.join(self.approaches)})",
                )
        return tuple(dict.fromkeys(items))

    def advice(self, node: Mapping) -> Advise:
        """`advise: text`, or `advise: {text, favours, rules_out}` declaring its stance."""
        f = self.f
        if not isinstance(node["advise"], Mapping):
            return Advise(f.text(node, "advise"))
        table = f.mapping(
            node["advise"],
            "'advise'",
            node.key_lines["advise"],
            required=("text",),
            optional=("favours", "rules_out"),
        )
        favours = self.approach_list(table, "favours") if "favours" in table else ()
        rules_out = self.approach_list(table, "rules_out") if "rules_out" in table else ()
        if set(favours) & set(rules_out):
            raise f.error(table.line, "advice cannot both favour and rule out an approach")
        return Advise(f.text(table, "text"), favours, rules_out)

    def technique(self, node: Any, line: int) -> Technique:
        """`technique: {approach, name, figures: [{name, fact, factor, power, unit}]}`."""
        f = self.f
        table = f.mapping(
            node, "'technique'", line, required=("approach", "name"), optional=("figures",)
        )
        approach = table["approach"]
        if approach not in self.approaches:
            raise f.error(
                _line(table, "approach"),
                f"unknown approach {approach!r} (one of: {', '.join(self.approaches)})",
            )
        figures: list[Figure] = []
        listed = f.items(table["figures"], "'figures'", line) if "figures" in table else []
        for item, iline in listed:
            fig = f.mapping(
                item,
                "a figure",
                iline,
                required=("name", "fact", "factor"),
                optional=("power", "unit"),
            )
            fact = self.facts.get(fig["fact"]) if isinstance(fig["fact"], str) else None
            if fact is None or fact.type != "quantity":
                raise f.error(
                    _line(fig, "fact"), f"a figure needs a quantity fact, got {fig['fact']!r}"
                )
            factor, power = fig["factor"], fig.get("power", 1)
            if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
                raise f.error(_line(fig, "factor"), "'factor' must be a positive number")
            if isinstance(power, bool) or power not in (1, 2, 3):
                raise f.error(_line(fig, "power"), "'power' must be 1, 2 or 3")
            unit = fig.get("unit", "count")
            if unit not in FIGURE_UNITS:
                raise f.error(
                    _line(fig, "unit"), f"'unit' must be one of: {', '.join(FIGURE_UNITS)}"
                )
            figures.append(Figure(f.ident(fig, "name"), fact.name, float(factor), power, unit))
        name = f.text(table, "name")
        names = {fig.name for fig in figures}
        for placeholder in re.findall(r"\{([^{}]*)\}", name):
            if placeholder not in names:
                raise f.error(
                    _line(table, "name"), f"{{{placeholder}}} in 'name' is not one of its figures"
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
        rule_id = f.ident(node, "id", _RULE_ID)
        source = ""
        if "source" in node:
            source = f.text(node, "source")
            if source not in self.sources:
                raise f.error(
                    node.key_lines["source"],
                    f"unknown source {source!r} (define it in sources.yaml)",
                )
        when = self.condition(node["when"], node.key_lines["when"])
        too_complex = f.error(
            node.key_lines["when"],
            f"condition too complex: more than {MAX_ALTERNATIVES} alternatives",
        )
        try:
            alternatives = dnf(when, self.facts)
        except TooComplex:
            raise too_complex from None
        if len(alternatives) > MAX_ALTERNATIVES:
            raise too_complex
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


# --- invariants -------------------------------------------------------------------------------

_INVARIANT_KINDS = ("partners_at_least", "advice_agrees", "no_flip_back", "never")


def _load_invariants(
    f: _File, doc: Any, reader: _RuleReader, produced: set[str]
) -> tuple[Invariant, ...]:
    """The declared invariants; each names exactly one property (see `model.Invariant`)."""
    out: dict[str, Invariant] = {}
    for node, line in f.items(f.top(doc, "invariants"), "'invariants'", _line(doc)):
        node = f.mapping(
            node, "an invariant", line, required=("id", "title"), optional=_INVARIANT_KINDS
        )
        ident = f.ident(node, "id", _RULE_ID)
        if ident in out:
            raise f.error(
                line, f"duplicate invariant id {ident!r} (first at line {out[ident].line})"
            )
        kinds = [k for k in _INVARIANT_KINDS if k in node]
        if len(kinds) != 1:
            raise f.error(line, f"an invariant needs exactly one of: {', '.join(_INVARIANT_KINDS)}")
        kind = kinds[0]
        value, vline = node[kind], node.key_lines[kind]
        inv = Invariant(ident, f.text(node, "title"), kind, file=f.name, line=line)  # type: ignore[arg-type]
        if kind == "partners_at_least":
            if isinstance(value, bool) or not isinstance(value, int):
                raise f.error(vline, "'partners_at_least' must be an integer score")
            inv = replace(inv, bound=value)
        elif kind == "advice_agrees":
            if value is not True:
                raise f.error(vline, "'advice_agrees' takes the value true")
        elif kind == "no_flip_back":
            fact = reader.facts.get(value) if isinstance(value, str) else None
            if fact is None or fact.type == "bool":
                raise f.error(
                    vline, f"'no_flip_back' needs an enum or quantity fact, got {value!r}"
                )
            inv = replace(inv, fact=fact.name)
        else:
            table = f.mapping(value, "'never'", vline, required=("approach", "when"))
            approach = table["approach"]
            if approach not in reader.approaches:
                raise f.error(
                    _line(table, "approach"),
                    f"unknown approach {approach!r} (one of: {', '.join(reader.approaches)})",
                )
            when = reader.condition(table["when"], _line(table, "when"))
            for test in _derived_tests(when):
                if test.name not in produced:
                    raise f.error(
                        test.line, f"unknown derived fact {test.name!r}: no rule derives it"
                    )
            try:
                alternatives = dnf(when, reader.facts)
            except TooComplex:
                alternatives = ()
            if not alternatives or len(alternatives) > MAX_ALTERNATIVES:
                raise f.error(_line(table, "when"), "condition never holds or is too complex")
            inv = replace(inv, approach=approach, when=alternatives)
        out[ident] = inv
    return tuple(out.values())


# --- disjunctive normal form ------------------------------------------------------------------


def _negate(lit: Literal_, facts: dict[str, Fact]) -> Literal_ | None:
    """The complementary literal (None when it can never hold)."""
    if isinstance(lit, DerivedTest):
        return DerivedTest(lit.name, not lit.value, lit.line)
    if lit.op == "lt":
        return FactTest(lit.fact, "ge", threshold=lit.threshold, line=lit.line)
    if lit.op == "ge":
        return FactTest(lit.fact, "lt", threshold=lit.threshold, line=lit.line)
    rest = tuple(v for v in facts[lit.fact].domain if v not in lit.values)
    return FactTest(lit.fact, "in", values=rest, line=lit.line) if rest else None


def _conj(alt: tuple[Literal_, ...]) -> tuple[Literal_, ...] | None:
    """Simplify a conjunction: merge tests on one fact; None when it is contradictory."""
    derived: dict[str, DerivedTest] = {}
    sets: dict[str, FactTest] = {}
    low: dict[str, FactTest] = {}
    high: dict[str, FactTest] = {}
    for lit in alt:
        if isinstance(lit, DerivedTest):
            if lit.name in derived and derived[lit.name].value != lit.value:
                return None
            derived[lit.name] = lit
        elif lit.op == "in":
            prev = sets.get(lit.fact)
            values = (
                lit.values if prev is None else tuple(v for v in prev.values if v in lit.values)
            )
            if not values:
                return None
            sets[lit.fact] = FactTest(lit.fact, "in", values=values, line=lit.line)
        elif lit.op == "ge":
            if lit.fact not in low or lit.threshold > low[lit.fact].threshold:
                low[lit.fact] = lit
        elif lit.fact not in high or lit.threshold < high[lit.fact].threshold:
            high[lit.fact] = lit
    for name, lo in low.items():
        if name in high and lo.threshold >= high[name].threshold:
            return None
    out: list[Literal_] = [*sets.values(), *low.values(), *high.values(), *derived.values()]
    return tuple(out)


class TooComplex(Exception):
    """A condition whose disjunctive normal form grows beyond what the loader accepts."""


def dnf(
    cond: Condition, facts: dict[str, Fact], negated: bool = False
) -> tuple[tuple[Literal_, ...], ...]:
    """`cond` (or its negation) as a disjunction of simplified conjunctions of literals."""
    if isinstance(cond, Not):
        return dnf(cond.item, facts, not negated)
    if isinstance(cond, FactTest | DerivedTest):
        lit = _negate(cond, facts) if negated else cond
        return ((lit,),) if lit is not None else ()
    conjunctive = isinstance(cond, All) != negated
    parts = [dnf(item, facts, negated) for item in cond.items]
    if not conjunctive:
        alts = [alt for part in parts for alt in part]
    else:
        alts = [()]
        for part in parts:
            # Simplify as we go, and never drop a conjunct: a truncated product is wrong.
            step = (_conj(a + b) for a, b in product(alts, part))
            alts = list(dict.fromkeys(alt for alt in step if alt is not None))
            if len(alts) > MAX_ALTERNATIVES * 4:
                raise TooComplex
    out: dict[tuple[Literal_, ...], None] = {}
    for alt in alts:
        simple = _conj(alt)
        if simple is not None:
            out[simple] = None
    return tuple(out)


# --- the whole directory ----------------------------------------------------------------------


def _strata(rules: list[Rule]) -> tuple[tuple[str, ...], ...]:
    """Group derived facts by evaluation stratum; a derivation cycle is a `RuleError`."""
    producers: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.derives:
            producers.setdefault(name, []).append(rule)
    level: dict[str, int] = {}
    visiting: list[str] = []

    def visit(name: str) -> int:
        if name in level:
            return level[name]
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            rule = producers[name][0]
            raise RuleError(rule.file, rule.line, f"derivation cycle: {' -> '.join(cycle)}")
        visiting.append(name)
        deps = [d for rule in producers.get(name, []) for d in rule.derived_used]
        level[name] = 1 + max((visit(d) for d in deps), default=-1)
        visiting.pop()
        return level[name]

    for name in sorted(producers):
        visit(name)
    depth = max(level.values(), default=-1) + 1
    return tuple(tuple(sorted(n for n in producers if level[n] == s)) for s in range(depth))


def _derived_tests(cond: Condition) -> Iterator[DerivedTest]:
    """Every test on a derived fact in a condition, also inside `not`."""
    if isinstance(cond, DerivedTest):
        yield cond
    elif isinstance(cond, All | Any_):
        for item in cond.items:
            yield from _derived_tests(item)
    elif isinstance(cond, Not):
        yield from _derived_tests(cond.item)


def fingerprint(files: tuple[RuleFile, ...]) -> str:
    digest = hashlib.sha256()
    for rule_file in sorted(files, key=lambda rf: rf.name):
        digest.update(rule_file.name.encode() + b"\0" + rule_file.content + b"\0")
    return digest.hexdigest()


def load_knowledge_base(directory: Path | str | None = None) -> KnowledgeBase:
    """Load, validate and index the rule base in `directory` (default: the shipped one)."""
    root = Path(directory) if directory is not None else default_rules_dir()
    if not root.is_dir():
        why = "a file, not a directory" if root.exists() else "no such directory"
        raise InputError(f"{root}: not a rule base directory ({why})", item=str(root))
    docs: dict[str, Any] = {}
    files: list[RuleFile] = []
    paths = sorted(root.glob("*.yaml"))
    for name in SCHEMA_FILES:
        if not (root / name).is_file():
            raise InputError(
                f"{root / name}: missing (every rule base needs {', '.join(SCHEMA_FILES)})",
                item=name,
            )
    for path in paths:
        doc, raw = load_file(path)
        docs[path.name] = doc
        files.append(RuleFile(path.name, raw))
    return _knowledge_base(docs, files, str(root))


def load_rule_files(files: tuple[RuleFile, ...], where: str) -> KnowledgeBase:
    """Load, validate and index a rule base held in memory (a stored one, for replay);
    `where` names it in place of a directory."""
    docs: dict[str, Any] = {}
    for name in SCHEMA_FILES:
        if name not in {f.name for f in files}:
            raise InputError(
                f"{where}: {name} missing (every rule base needs {', '.join(SCHEMA_FILES)})",
                item=name,
            )
    ordered = sorted(files, key=lambda f: f.name)
    for rule_file in ordered:
        docs[rule_file.name] = parse_bytes(rule_file.content, rule_file.name)
    return _knowledge_base(docs, ordered, where)


def _knowledge_base(docs: dict[str, Any], files: list[RuleFile], where: str) -> KnowledgeBase:
    """A knowledge base from the parsed documents of its files, by file name."""
    names = sorted(docs)
    facts = _load_facts(_File("facts.yaml"), docs["facts.yaml"])
    approaches = _load_approaches(_File("approaches.yaml"), docs["approaches.yaml"])
    sources = _load_sources(_File("sources.yaml"), docs["sources.yaml"])
    fact_map = {fact.name: fact for fact in facts}
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for name in names:
        if name in SCHEMA_FILES or name == INVARIANTS_FILE:
            continue
        f = _File(name)
        reader = _RuleReader(f, fact_map, tuple(a.id for a in approaches), {s.key for s in sources})
        for node, line in f.items(f.top(docs[name], "rules"), "'rules'", 1):
            rule = reader.rule(node, line)
            if rule.id in seen:
                raise f.error(
                    line, f"duplicate rule id {rule.id!r} (first at {seen[rule.id].location})"
                )
            seen[rule.id] = rule
            rules.append(rule)
    produced = {name for rule in rules for name in rule.derives}
    for rule in rules:
        for test in _derived_tests(rule.when):
            if test.name not in produced:
                raise RuleError(
                    rule.file, test.line, f"unknown derived fact {test.name!r}: no rule derives it"
                )
    invariants: tuple[Invariant, ...] = ()
    if INVARIANTS_FILE in docs:
        f = _File(INVARIANTS_FILE)
        reader = _RuleReader(f, fact_map, tuple(a.id for a in approaches), {s.key for s in sources})
        invariants = _load_invariants(f, docs[INVARIANTS_FILE], reader, produced)
    strata = _strata(rules)
    level = {name: s for s, names in enumerate(strata) for name in names}
    ranked = [
        Rule(
            **{
                **rule.__dict__,
                "stratum": 1 + max((level.get(d, -1) for d in rule.derived_used), default=-1),
            }
        )
        for rule in rules
    ]
    return KnowledgeBase(
        facts=facts,
        approaches=approaches,
        sources=sources,
        rules=tuple(ranked),
        files=tuple(files),
        fingerprint=fingerprint(tuple(files)),
        directory=where,
        derived=tuple(name for names in strata for name in names),
        strata=strata,
        invariants=invariants,
    )
