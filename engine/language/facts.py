"""Turning what a user typed into normalised fact values, and the case they make up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.model import Fact, KnowledgeBase, Value

Status = Literal["given", "defaulted", "unknown"]

UNKNOWN_WORDS = {"unknown", "dont_know", "don't know", "?", ""}


def parse_value(fact: Fact, raw: object) -> Value:
    """Normalise one value for `fact`; raises `ValueError` with the allowed values."""
    return fact.kind.parse(fact, raw)


def display_value(fact: Fact, value: Value) -> str:
    """Render a normalised value the way a user would type it."""
    return fact.kind.display(fact, value)


def exact_text(fact: Fact, value: Value) -> str:
    """A value written exactly as a user can type it, without the rounding of `display_value`."""
    return fact.kind.exact(fact, value)


@dataclass(frozen=True)
class Case:
    """Every fact of a knowledge base with its value (None when unknown) and where it came from."""

    values: tuple[tuple[str, Value | None], ...]
    status: tuple[tuple[str, Status], ...]

    def get(self, name: str) -> Value | None:
        return dict(self.values).get(name)

    def known(self) -> dict[str, Value]:
        return {name: value for name, value in self.values if value is not None}

    def status_of(self, name: str) -> Status:
        return dict(self.status)[name]


def make_case(kb: KnowledgeBase, raw: Mapping[str, object], *, use_defaults: bool = True) -> Case:
    """Validate user input (fact name → typed string or value) into a `Case`.

    Facts left out take their documented default (status `defaulted`) or stay unknown; an
    explicit `unknown` answer counts as left out.
    """
    known = set(kb.fact_names)
    for name in raw:
        if name not in known:
            raise unknown_fact(kb, str(name))
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for fact in kb.facts:
        given = raw.get(fact.name)
        if given is not None and not (
            isinstance(given, str) and given.strip().lower() in UNKNOWN_WORDS
        ):
            try:
                value: Value | None = parse_value(fact, given)
            except ValueError as err:
                raise InputError(
                    f"bad value {_as_written(given)!r} for {fact.name}: {err}", item=fact.name
                ) from None
            values.append((fact.name, value))
            status.append((fact.name, "given"))
        elif use_defaults and fact.default is not None:
            values.append((fact.name, fact.default))
            status.append((fact.name, "defaulted"))
        else:
            values.append((fact.name, None))
            status.append((fact.name, "unknown"))
    return Case(tuple(values), tuple(status))


def unknown_fact(kb: KnowledgeBase, name: str, why: str = "") -> InputError:
    """The error for a name that is not one of the rule base's facts, listing those that are;
    `why` replaces the opening "unknown fact 'name'" where more can be said."""
    why = why or f"unknown fact {name!r}"
    return InputError(f"{why} (known facts: {', '.join(kb.fact_names)})", item=name)


def _as_written(value: object) -> str:
    """A value from a facts file or a JSON row as JSON and YAML spell a yes/no value (`true`,
    not Python's `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def is_empty(value: object) -> bool:
    """Whether a value given explicitly is empty (`NAME=`, `NAME: ""`, `NAME:`): bad input where
    a user types facts one by one, since it may be a value lost on the way (`$50k` expanded
    away by the shell); where a blank cell is the usual way to say "don't know" (a batch survey),
    it counts as unknown."""
    return value is None or (isinstance(value, str) and not value.strip())


def dont_know_hint(name: str, unknown: str) -> str:
    """How to say "don't know" instead of giving an empty value (`unknown` as it is written)."""
    return f"leave {name} out or give {unknown} to say you don't know"
