"""Derived facts in strata: each is evaluated after everything it depends on, so `not` is sound."""

from __future__ import annotations

from collections.abc import Iterator

from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.language.model import (
    All,
    Any_,
    Condition,
    DerivedTest,
    Not,
    Rule,
)


def strata_of(rules: list[Rule]) -> tuple[tuple[str, ...], ...]:
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


def check_derived_known(file: str, cond: Condition, produced: set[str]) -> None:
    """Every derived fact the condition tests is derived by some rule (else a RuleError)."""
    for test in derived_tests(cond):
        if test.name not in produced:
            raise RuleError(
                file, test.line, f"unknown derived fact {test.name!r}: no rule derives it"
            )


def derived_tests(cond: Condition) -> Iterator[DerivedTest]:
    """Every test on a derived fact in a condition, also inside `not`."""
    if isinstance(cond, DerivedTest):
        yield cond
    elif isinstance(cond, All | Any_):
        for item in cond.items:
            yield from derived_tests(item)
    elif isinstance(cond, Not):
        yield from derived_tests(cond.item)
