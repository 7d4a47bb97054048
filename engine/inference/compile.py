"""Compile a knowledge base into a durable_rules declarative ruleset.

Each input case is one fact `{"t": "case", "f_<name>": value, ...}`; each derived fact is a
fact `{"t": "derived", "name": ..., "value": true|false}`. A rule becomes one durable rule per
alternative of its condition's disjunctive normal form: a pattern on the case plus one joined
pattern per derived-fact test. Two anchor rules match every fact, so that no posted fact is
ever "not handled" (deleting such a session crashes durable_rules 2.0.28).

durable_rules keeps the links of each node of its network in fixed-size tables and, when one
overflows, fails or loops forever. Compiling counts what each node would hold and refuses a
rule base beyond those sizes with a `RuleError` naming the first rule that does not fit.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.language.model import DerivedTest, FactTest, KnowledgeBase, Literal_
from llm_advisor.engine.language.quantity import MIN_VALUE

ANCHOR = "anchor"
FIELD_PREFIX = "f_"
# Table sizes of durable_rules 2.0.28 (src/rules/rules.h, rete.h, state.h).
NEXT_BUCKET_LENGTH = 512
"""Different tests following one test; looking up one more in a full table never returns."""
NEXT_LIST_LENGTH = 128
"""One-of groups (`$or`) one test belongs to."""
BETA_LIST_LENGTH = 256
"""Patterns ending at one test."""
MAX_SEQUENCE_EXPRESSIONS = 32
"""`$and` / `$or` markers in one pattern (two per group, src/rules/rete.c)."""
MAX_OBJECT_PROPERTIES = 255
"""Fields of one fact: the case has one per input fact, plus `sid`, `t` and `nonce`."""
MAX_ACTIONS = 4096
"""Durable rules in one ruleset."""
MAX_STACK_SIZE = 64
"""Nodes waiting while a fact is matched (src/rules/events.c)."""


@dataclass(frozen=True)
class Compiled:
    """The ruleset definition and, per durable rule (action) name, its rule and alternative."""

    name: str
    definition: dict[str, Any]
    actions: dict[str, tuple[int, int]]


def field(fact: str) -> str:
    return FIELD_PREFIX + fact


def number(value: float) -> int | float:
    """A quantity as durable_rules can read it. Its JSON parser rejects exponent notation, which
    Python writes for floats from 1e16 up and below 1e-4: integral values go as integers (exact,
    quantities are at most 1e18), and no quantity is below `MIN_VALUE` = 1e-4 except 0."""
    if not math.isfinite(value) or (value != int(value) and abs(value) < MIN_VALUE):
        raise ValueError(f"durable_rules cannot read the number {value!r}")
    return int(value) if value == int(value) else value


def _expression(lit: FactTest) -> dict[str, Any]:
    name = field(lit.fact)
    if lit.op == "lt":
        return {"$lt": {name: number(lit.threshold)}}
    if lit.op == "ge":
        return {"$gte": {name: number(lit.threshold)}}
    if len(lit.values) == 1:
        return {name: lit.values[0]}
    # durable_rules has no `$in`: one-of is an `$or` of equalities.
    return {"$or": [{name: value} for value in lit.values]}


def _patterns(alternative: tuple[Literal_, ...]) -> list[dict[str, Any]]:
    case_terms: list[dict[str, Any]] = [{"t": "case"}]
    case_terms += [_expression(lit) for lit in alternative if isinstance(lit, FactTest)]
    case = {"m": {"$and": case_terms} if len(case_terms) > 1 else case_terms[0]}
    derived = [
        {f"d{i}": {"$and": [{"t": "derived"}, {"name": lit.name}, {"value": lit.value}]}}
        for i, lit in enumerate(x for x in alternative if isinstance(x, DerivedTest))
    ]
    return [case, *derived]


def compile_ruleset(kb: KnowledgeBase) -> Compiled:
    definition: dict[str, Any] = {
        f"{ANCHOR}_case": {"all": [{"m": {"t": "case"}}], "run": ANCHOR},
        f"{ANCHOR}_derived": {"all": [{"m": {"t": "derived"}}], "run": ANCHOR},
    }
    actions: dict[str, tuple[int, int]] = {}
    for r, rule in enumerate(kb.rules):
        for a, alternative in enumerate(rule.alternatives):
            name = f"r{r}_{a}"
            definition[name] = {"all": _patterns(alternative), "run": name}
            actions[name] = (r, a)
    if len(kb.facts) + 3 > MAX_OBJECT_PROPERTIES:
        fact = kb.facts[MAX_OBJECT_PROPERTIES - 3]
        raise RuleError(
            "facts.yaml",
            fact.line,
            f"the inference engine (durable_rules) takes at most {MAX_OBJECT_PROPERTIES - 3} "
            f"facts; {fact.name} is one too many",
        )
    _check_capacity(kb, definition, actions)
    return Compiled(f"kb_{kb.fingerprint[:16]}", definition, actions)


# --- what durable_rules can hold ----------------------------------------------------------------


def _check_capacity(
    kb: KnowledgeBase, definition: dict[str, Any], actions: dict[str, tuple[int, int]]
) -> None:
    """Raise a `RuleError` at the first rule from which durable_rules could not hold the
    ruleset (the problems only grow as rules are added, so a bisection finds it)."""
    rules = [spec["all"] for spec in definition.values()]
    if _problem(rules) is None:
        return
    anchors = len(definition) - len(actions)
    low, high = anchors, len(rules)  # the first `high` rules do not fit, the first `low` do
    while high - low > 1:
        middle = (low + high) // 2
        if _problem(rules[:middle]) is None:
            low = middle
        else:
            high = middle
    problem = _problem(rules[:high])
    rule = kb.rules[actions[list(definition)[high - 1]][0]]
    raise RuleError(
        rule.file,
        rule.line,
        f"the inference engine (durable_rules) cannot hold rule {rule.id}: {problem}; "
        "simplify or merge rules",
    )


def _problem(rules: list[list[dict[str, Any]]]) -> str | None:
    """Why durable_rules could not hold a ruleset with these rules' patterns, or None."""
    if len(rules) > MAX_ACTIONS:
        return f"more than {MAX_ACTIONS} alternatives in the whole rule base"
    network = _Network()
    for patterns in rules:
        for pattern in patterns:
            ((_, expression),) = pattern.items()
            network.markers = 0
            network.patterns[network.expression(0, expression)] += 1
            if network.markers > MAX_SEQUENCE_EXPRESSIONS:
                return f"a pattern would need more than {MAX_SEQUENCE_EXPRESSIONS} markers"
    return network.problem()


class _Network:
    """durable_rules' alpha network for a ruleset, as far as its table sizes are concerned.

    Equal tests after the same node share one node; every `$or` group adds a fresh node that
    the group's tests link to, and the rest of the pattern follows that node. Matching a fact
    walks the network depth first with a stack of `MAX_STACK_SIZE` nodes.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)  # 0 is the root
        self._nodes: dict[tuple[int, str, str, str], int] = {}
        self.tests: dict[int, list[tuple[str, str, Any]]] = {}  # different tests after a node
        self.next: dict[int, list[int]] = {}  # the nodes a matching node leads to
        self.groups: Counter[int] = Counter()  # `$or` groups a node belongs to
        self.patterns: Counter[int] = Counter()  # patterns ending at a node
        self.markers = 0  # `$and` / `$or` markers of the pattern being added, two per group

    def expression(self, parent: int, expression: dict[str, Any]) -> int:
        """Add an expression after `parent`; the node the rest of its pattern follows."""
        ((key, value),) = expression.items()
        if key in ("$and", "$or"):
            self.markers += 2
        if key == "$and":
            node = parent
            for term in value:
                node = self.expression(node, term)
            return node
        if key == "$or":
            group = next(self._ids)
            for term in value:
                member = self.expression(parent, term)
                self.groups[member] += 1
                self.next.setdefault(member, []).append(group)
            return group
        if key in ("$lt", "$gte"):
            ((name, operand),) = value.items()
            return self._test(parent, key, name, operand)
        return self._test(parent, "$eq", key, value)

    def _test(self, parent: int, op: str, name: str, operand: Any) -> int:
        key = (parent, op, name, json.dumps(operand))
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = next(self._ids)
            self.tests.setdefault(parent, []).append((op, name, operand))
            self.next.setdefault(parent, []).append(node)
        return node

    def problem(self) -> str | None:
        if max(map(len, self.tests.values()), default=0) >= NEXT_BUCKET_LENGTH:
            return f"{NEXT_BUCKET_LENGTH} different tests would follow one test"
        if max(self.groups.values(), default=0) >= NEXT_LIST_LENGTH:
            return f"one test would be in {NEXT_LIST_LENGTH} one-of groups"
        if max(self.patterns.values(), default=0) >= BETA_LIST_LENGTH:
            return f"{BETA_LIST_LENGTH} patterns would end at one test"
        if max(1, self._stack(0, {})) > MAX_STACK_SIZE:
            return f"more than {MAX_STACK_SIZE} tests could match one fact at once"
        return None

    def _stack(self, node: int, memo: dict[int, int]) -> int:
        """At most how many nodes the stack holds while the nodes after `node` are matched,
        `node` itself taken off: its matching successors, then, one by one, theirs."""
        if node not in memo:
            pushed = self._matching(node) + self.groups[node]
            below = max((self._stack(n, memo) for n in self.next.get(node, ())), default=0)
            memo[node] = max(pushed, pushed - 1 + below) if pushed else 0
        return memo[node]

    def _matching(self, node: int) -> int:
        """At most how many of the tests after `node` one fact can pass."""
        equal: set[str] = set()
        below: dict[str, list[float]] = {}
        at_least: dict[str, list[float]] = {}
        for op, name, operand in self.tests.get(node, ()):
            if op == "$eq":
                equal.add(name)  # one value per field: one test at most
            else:
                (below if op == "$lt" else at_least).setdefault(name, []).append(operand)
        most = len(equal)
        for name in below.keys() | at_least.keys():
            lows, highs = sorted(below.get(name, [])), sorted(at_least.get(name, []))
            most += max(
                len(lows) - bisect.bisect_right(lows, v) + bisect.bisect_right(highs, v)
                for v in (-math.inf, *lows, *highs)
            )
        return most
