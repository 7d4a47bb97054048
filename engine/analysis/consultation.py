"""A guided consultation: which question to ask next, when to stop, and what the answers give.

The analysis picks each question and says when the outcome is decided; the final recommendation
always comes from inference on the answers given, exactly as `recommend` would compute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from llm_advisor.engine.analysis.cells import Cell
from llm_advisor.engine.analysis.partial import Analyzer
from llm_advisor.engine.analysis.questions import next_question, open_rules, split
from llm_advisor.engine.analysis.status import Decision, Partial
from llm_advisor.engine.language.facts import make_case, parse_value
from llm_advisor.engine.language.model import Fact, KnowledgeBase, Value

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result


@dataclass(frozen=True)
class Prompt:
    """What to ask: the fact, its answers (cells) and why it is asked now."""

    fact: Fact
    cells: tuple[Cell, ...]
    contenders: tuple[str, ...]
    rules: tuple[str, ...]
    deciding: int


@dataclass(frozen=True)
class Dependency:
    """Part of the answer that depends on facts left open: an outcome and when it holds."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    decision: Decision


@dataclass(frozen=True)
class Answer:
    """One answer given in a consultation."""

    fact: str
    value: Value | None  # None: "don't know"


class Consultation:
    """The state of one consultation; methods return new information, the answers are a stack."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.an = Analyzer(kb, outcome_only=True)
        self.answers: list[Answer] = []

    # --- state ----------------------------------------------------------------------------

    def known(self) -> dict[str, Value]:
        """Answered facts, plus the documented default of each fact answered "don't know"."""
        known: dict[str, Value] = {}
        for answer in self.answers:
            if answer.value is not None:
                known[answer.fact] = answer.value
            elif (default := self.kb.fact(answer.fact).default) is not None:
                known[answer.fact] = default
        return known

    def left_open(self) -> frozenset[int]:
        """Facts answered "don't know" that have no default: never asked again."""
        return frozenset(
            self.an.index[a.fact]
            for a in self.answers
            if a.value is None and self.kb.fact(a.fact).default is None
        )

    def _analysis(self) -> tuple[Partial, int | None]:
        state = self.an.state_of(self.known())
        partial = self.an.evaluate(state)
        return partial, next_question(self.an, state, partial, self.left_open())

    def next_prompt(self) -> Prompt | None:
        """The next question, or None when nothing left to ask can change the outcome."""
        partial, fact = self._analysis()
        if fact is None and partial.decision is not None:
            # The analysis covers every value of the open facts; inference on what was given
            # also covers facts left without any value. Keep asking until both agree.
            result = self.result()
            if (result.recommendation, result.combine_with) != (
                partial.decision.recommendation,
                partial.decision.combine_with,
            ):
                fact = self._first_unasked_relevant()
        if fact is None:
            return None
        state = self.an.state_of(self.known())
        children = split(self.an, state, fact)
        return Prompt(
            fact=self.kb.facts[fact],
            cells=self.an.cells[fact],
            contenders=partial.contenders(self.an.order),
            rules=tuple(self.kb.rules[r].id for r in open_rules(partial, fact)),
            deciding=sum(child.decision is not None for _, child in children),
        )

    def _first_unasked_relevant(self) -> int | None:
        asked = {a.fact for a in self.answers}
        for i, fact in enumerate(self.kb.facts):
            used = any(fact.name in rule.facts_used for rule in self.kb.rules)
            if used and fact.name not in asked:
                return i
        return None

    # --- answers --------------------------------------------------------------------------

    def answer(self, fact: str, raw: object) -> Value:
        """Record an answer; raises ValueError with the allowed values when it is invalid."""
        value = parse_value(self.kb.fact(fact), raw)
        self.answers.append(Answer(fact, value))
        return value

    def answer_value(self, fact: str, value: Value) -> None:
        """Record an answer that is already a normalised value (e.g. from a stored case)."""
        self.answers.append(Answer(fact, value))

    def dont_know(self, fact: str) -> Value | None:
        """Record "don't know"; returns the default that will be assumed, if any."""
        self.answers.append(Answer(fact, None))
        return self.kb.fact(fact).default

    def back(self) -> Answer | None:
        """Withdraw the last answer (None when there is none)."""
        return self.answers.pop() if self.answers else None

    # --- results --------------------------------------------------------------------------

    def raw_facts(self) -> dict[str, object]:
        # make_case re-parses the answers; a duration needs its unit (days, written exactly).
        return {
            a.fact: "unknown"
            if a.value is None
            else f"{Decimal(a.value):f}d"
            if self.kb.fact(a.fact).unit == "duration"
            else a.value
            for a in self.answers
        }

    def result(self) -> Result:
        """Inference on the answers, exactly as `recommend` computes it for the same facts."""
        from llm_advisor.engine.inference.run import evaluate  # durable_rules loads only now

        return evaluate(self.kb, make_case(self.kb, self.raw_facts()))

    def dependencies(self) -> tuple[Dependency, ...]:
        """When the outcome still depends on facts left open: each outcome and its conditions,
        those covering the most combinations of answers first."""
        from llm_advisor.engine.analysis.diagram import compile_diagram
        from llm_advisor.engine.analysis.regions import (
            conditions,
            diagram_paths,
            merge_regions,
            size,
        )

        # The facts as the result assumes them: a fact never asked takes its default too.
        assumed = dict(make_case(self.kb, self.raw_facts()).values)
        state = self.an.state_of(assumed)
        if self.an.evaluate(state).decision is not None:
            return ()
        diagram = compile_diagram(self.kb, assumed)
        paths = [(s, d, d) for s, d in diagram_paths(diagram, self.an, state)]
        regions = merge_regions(paths)  # fewer, wider conditions, the widest first
        if len({decision for _, decision, _ in regions}) < 2:
            return ()  # the partial evaluation was cautious: every open case ends alike
        regions.sort(key=lambda region: -size(region[0]))
        return tuple(
            Dependency(conditions(self.an, path_state, within=state), decision)
            for path_state, decision, _ in regions
        )

    @property
    def questions_asked(self) -> int:
        return len(self.answers)
