"""Fact types: what a fact type writes exactly, it reads back; what it reads, it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_advisor.engine.language.loader import load_knowledge_base
from llm_advisor.engine.language.model import Fact
from llm_advisor.engine.language.quantity import WHOLE_UNITS
from llm_advisor.engine.language.types import TYPES

KBS = Path(__file__).parent / "kbs"
FACTS = [fact for name in ("mini", "wide") for fact in load_knowledge_base(KBS / name).facts]
FACTS += list(load_knowledge_base(None).facts)


def values_of(fact: Fact) -> st.SearchStrategy[object]:
    if fact.kind.continuous:
        digits = 0 if fact.unit in WHOLE_UNITS else 2
        return st.floats(min_value=0, max_value=1e15).map(lambda x: round(x, digits))
    return st.sampled_from(fact.domain)


@pytest.mark.parametrize("fact", FACTS, ids=lambda f: f.name)
@given(data=st.data())
def test_exact_text_reads_back_and_is_held(fact: Fact, data: st.DataObject) -> None:
    value = fact.kind.parse(fact, fact.kind.exact(fact, data.draw(values_of(fact))))
    assert fact.kind.parse(fact, fact.kind.exact(fact, value)) == value
    assert fact.kind.holds(fact, value)
    assert not fact.kind.holds(fact, None)


def test_every_kind_of_the_rule_language_has_a_type() -> None:
    assert set(TYPES) == {"bool", "enum", "quantity"}
    assert [name for name, kind in TYPES.items() if kind.continuous] == ["quantity"]
    assert [name for name, kind in TYPES.items() if not kind.ordered] == ["bool"]
