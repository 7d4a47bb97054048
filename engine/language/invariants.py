"""`invariants.yaml`: the properties every case must satisfy, proven by `rules check`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, get_args

from llm_advisor.engine.language.checks import RULE_ID, RuleFileChecker, line_of
from llm_advisor.engine.language.model import Invariant, InvariantKind
from llm_advisor.engine.language.normal_form import TooComplex, bounded_dnf
from llm_advisor.engine.language.rules import RuleReader
from llm_advisor.engine.language.strata import check_derived_known

# --- invariants -------------------------------------------------------------------------------

INVARIANT_KINDS: tuple[InvariantKind, ...] = get_args(InvariantKind)


def load_invariants(
    f: RuleFileChecker, doc: Any, reader: RuleReader, produced: set[str]
) -> tuple[Invariant, ...]:
    """The declared invariants; each names exactly one property (see `model.Invariant`)."""
    out: dict[str, Invariant] = {}
    for node, line in f.items(f.top(doc, "invariants"), "'invariants'", line_of(doc)):
        node = f.mapping(
            node, "an invariant", line, required=("id", "title"), optional=INVARIANT_KINDS
        )
        ident = f.ident(node, "id", RULE_ID)
        if ident in out:
            raise f.error(
                line, f"duplicate invariant id {ident!r} (first at line {out[ident].line})"
            )
        kinds = [k for k in INVARIANT_KINDS if k in node]
        if len(kinds) != 1:
            raise f.error(line, f"an invariant needs exactly one of: {', '.join(INVARIANT_KINDS)}")
        kind = kinds[0]
        value, vline = node[kind], node.key_lines[kind]
        inv = Invariant(ident, f.text(node, "title"), kind, file=f.name, line=line)
        if kind == "partners_at_least":
            if isinstance(value, bool) or not isinstance(value, int):
                raise f.error(vline, "'partners_at_least' must be an integer score")
            inv = replace(inv, bound=value)
        elif kind == "advice_agrees":
            if value is not True:
                raise f.error(vline, "'advice_agrees' takes the value true")
        elif kind == "no_flip_back":
            fact = reader.facts.get(value) if isinstance(value, str) else None
            if fact is None or not fact.kind.ordered:
                raise f.error(
                    vline, f"'no_flip_back' needs an enum or quantity fact, got {value!r}"
                )
            inv = replace(inv, fact=fact.name)
        else:
            table = f.mapping(value, f"'{kind}'", vline, required=("approach", "when"))
            approach = reader.approach(table["approach"], line_of(table, "approach"))
            when = reader.condition(table["when"], line_of(table, "when"))
            check_derived_known(f.name, when, produced)
            try:
                alternatives = bounded_dnf(when, reader.facts)
            except TooComplex:
                alternatives = ()
            if not alternatives:
                raise f.error(line_of(table, "when"), "condition never holds or is too complex")
            inv = replace(inv, approach=approach, when=alternatives)
        out[ident] = inv
    return tuple(out.values())
