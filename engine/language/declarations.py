"""The schema files of a rule base: facts, approaches and sources."""

from __future__ import annotations

import re
from typing import Any

from llm_advisor.engine.language import quantity
from llm_advisor.engine.language.checks import (
    NAME,
    RULE_ID,
    RuleFileChecker,
    line_of,
)
from llm_advisor.engine.language.facts import parse_value
from llm_advisor.engine.language.model import (
    Approach,
    Caveat,
    Fact,
    Source,
)
from llm_advisor.engine.language.source import Mapping
from llm_advisor.engine.language.types import TYPES

# --- schema files -----------------------------------------------------------------------------


DECLARED = ("dimensions", "tie_break")
"""Optional keys of approaches.yaml: the dimensions of every profile, and the one whose lowest
rank wins a tie in score (then file order)."""


def load_facts(f: RuleFileChecker, doc: Any) -> tuple[Fact, ...]:
    facts: dict[str, Fact] = {}
    for node, line in f.items(f.top(doc, "facts"), "'facts'", line_of(doc)):
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
                "reach",
                "measured",
            ),
        )
        name = f.ident(node, "name")
        if name in facts:
            raise f.error(line, f"duplicate fact {name!r} (first at line {facts[name].line})")
        kind = node["type"]
        if kind not in ("enum", "bool", "quantity"):
            raise f.error(
                line_of(node, "type"), f"fact type must be enum, bool or quantity, got {kind!r}"
            )
        values: tuple[str, ...] = ()
        unit = None
        if kind == "enum":
            raw_values = [
                v for v, _ in f.items(node.get("values"), "'values'", line_of(node, "values"))
            ]
            if not raw_values or not all(isinstance(v, str) and NAME.match(v) for v in raw_values):
                raise f.error(
                    line_of(node, "values"), "'values' must be a non-empty list of identifiers"
                )
            if len(set(raw_values)) != len(raw_values):
                raise f.error(line_of(node, "values"), "'values' has duplicates")
            values = tuple(raw_values)
        elif "values" in node:
            raise f.error(
                line_of(node, "values"), f"'values' is only for enum facts, {name} is {kind}"
            )
        if kind == "quantity":
            unit = node.get("unit")
            if unit not in quantity.UNITS:
                raise f.error(
                    line_of(node, "unit"),
                    f"quantity {name} needs a unit: one of {', '.join(quantity.UNITS)}",
                )
        elif "unit" in node:
            raise f.error(
                line_of(node, "unit"), f"'unit' is only for quantity facts, {name} is {kind}"
            )
        value_help: list[tuple[str, str]] = []
        if "value_help" in node:
            vh = f.mapping(
                node["value_help"],
                "'value_help'",
                line_of(node, "value_help"),
                optional=tuple(values) + (("yes", "no") if kind == "bool" else ()),
            )
            value_help = [(k, f.text(vh, k)) for k in vh]
        actionable = flag(f, node, "actionable", default=True)
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
            actionable=actionable,
            reach=reach(f, node, name, kind, actionable=actionable),
            measured=flag(f, node, "measured", default=False),
        )
        if "default" in node:
            try:
                default = parse_value(fact, node["default"])
            except ValueError as err:
                raise f.error(line_of(node, "default"), f"bad default for {name}: {err}") from None
            fact = Fact(**{**fact.__dict__, "default": default})
        facts[name] = fact
    if not facts:
        raise f.error(line_of(doc), "no facts defined")
    return tuple(facts.values())


def load_approaches(f: RuleFileChecker, doc: Any) -> tuple[tuple[Approach, ...], str | None]:
    """The approaches, and the dimension whose lowest rank wins a tie in score (if declared)."""
    doc = f.mapping(
        doc, "approaches.yaml", line_of(doc), required=("approaches",), optional=DECLARED
    )
    dimensions = f.texts(doc, "dimensions")
    for dim in dimensions:
        if not NAME.match(dim) or dimensions.count(dim) > 1:
            raise f.error(
                line_of(doc, "dimensions"), f"dimension {dim!r}: not a distinct identifier"
            )
    tie_break = doc.get("tie_break")
    if tie_break is not None and tie_break not in dimensions:
        raise f.error(
            line_of(doc, "tie_break"),
            f"tie_break {tie_break!r} is not one of the dimensions ({', '.join(dimensions) or 'none declared'})",
        )
    approaches: dict[str, Approach] = {}
    listed = f.items(doc["approaches"], "'approaches'", line_of(doc))
    # the ids that a caveat's answered_by may name, read ahead of the approaches themselves
    ids = {n["id"] for n, _ in listed if isinstance(n, Mapping) and isinstance(n.get("id"), str)}
    for node, line in listed:
        node = f.mapping(
            node,
            "an approach",
            line,
            required=("id", "name", *(("profile",) if dimensions else ())),
            optional=("summary", "caveats", "next_steps"),
        )
        approach_id = f.ident(node, "id")
        if approach_id in approaches:
            raise f.error(line, f"duplicate approach {approach_id!r}")
        profile: tuple[tuple[str, int], ...] = ()
        if dimensions:
            ranks = f.mapping(
                node["profile"], "'profile'", line_of(node, "profile"), required=dimensions
            )
            for dim in dimensions:
                if not isinstance(ranks[dim], int) or isinstance(ranks[dim], bool):
                    raise f.error(ranks.key_lines[dim], f"profile {dim} must be an integer rank")
            profile = tuple((d, int(ranks[d])) for d in dimensions)
        approaches[approach_id] = Approach(
            id=approach_id,
            name=f.text(node, "name"),
            profile=profile,
            summary=f.text(node, "summary", default=""),
            caveats=_caveats(f, node, approach_id, ids),
            next_steps=f.texts(node, "next_steps"),
            line=line,
        )
    if not approaches:
        raise f.error(line_of(doc), "no approaches defined")
    return tuple(approaches.values()), tie_break


def _caveats(f: RuleFileChecker, node: Mapping, own: str, ids: set[str]) -> tuple[Caveat, ...]:
    """`caveats`: each a text, or `{text, answered_by: [approach, ...]}` naming the other
    approaches that make up for it in a plan with them."""
    if "caveats" not in node:
        return ()
    out = []
    for item, line in f.items(node["caveats"], "'caveats'", line_of(node, "caveats")):
        if isinstance(item, str) and item.strip():
            out.append(Caveat(item.strip()))
            continue
        table = f.mapping(item, "a caveat", line, required=("text",), optional=("answered_by",))
        answered = (
            [a for a, _ in f.items(table["answered_by"], "'answered_by'", line)]
            if "answered_by" in table
            else []
        )
        for name in answered:
            if not isinstance(name, str) or name == own or name not in ids:
                what = "the approach itself" if name == own else "not an approach"
                raise f.error(line, f"answered_by {name!r}: {what}")
        out.append(Caveat(f.text(table, "text"), tuple(answered)))
    return tuple(out)


def load_sources(f: RuleFileChecker, doc: Any) -> tuple[Source, ...]:
    table = f.top(doc, "sources")
    if not isinstance(table, Mapping):
        raise f.error(line_of(doc), "'sources' must be a mapping of key to title and url")
    sources = []
    for key in table:
        if not RULE_ID.match(key):
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
                line_of(node, "year"), f"source {key!r}: 'year' must be a year, got {year!r}"
            )
        url = f.text(node, "url") if "url" in node else None
        if url is not None and not re.match(r"https?://\S+$", url):
            raise f.error(line_of(node, "url"), f"source {key!r}: 'url' must be an http(s) address")
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


def reach(
    f: RuleFileChecker, node: Mapping, name: str, kind: str, *, actionable: bool
) -> float | None:
    """The optional `reach` of an actionable quantity: a factor greater than 1."""
    if "reach" not in node:
        return None
    value, line = node["reach"], line_of(node, "reach")
    if not TYPES[kind].continuous:
        raise f.error(line, f"'reach' is only for quantity facts, {name} is {kind}")
    if not actionable:
        raise f.error(line, f"'reach' is only for actionable facts, {name} is not")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 1:
        raise f.error(line, f"'reach' of {name} must be a number greater than 1, got {value!r}")
    return float(value)


def flag(f: RuleFileChecker, node: Mapping, key: str, *, default: bool) -> bool:
    """An optional `true`/`false` key."""
    value = node.get(key, default)
    if not isinstance(value, bool):
        raise f.error(line_of(node, key), f"'{key}' must be true or false, got {value!r}")
    return value
