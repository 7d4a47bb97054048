"""Fact types: how a value of each kind of fact is read, shown and checked.

One small object per kind (`bool`, `enum`, `quantity`) instead of switches on a type name; click's
`ParamType` and its tiny subclasses are the model. A fact reaches its type through `Fact.kind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from llm_advisor.engine.language import quantity

if TYPE_CHECKING:
    from llm_advisor.engine.language.model import Fact, Value

_TRUE = {"yes", "y", "true", "1", "on"}
_FALSE = {"no", "n", "false", "0", "off"}


class FactType(ABC):
    """The behaviour shared by every fact of one kind."""

    name: ClassVar[str]
    continuous: ClassVar[bool] = False
    """Rules compare its values with thresholds, and the analysis splits them into bands."""
    ordered: ClassVar[bool] = True
    """Its values have an order, so "raising it" means something (invariants use this)."""

    @abstractmethod
    def parse(self, fact: Fact, raw: object) -> Value:
        """Normalise one value as a user gave it; `ValueError` says what is expected."""

    def display(self, fact: Fact, value: Value) -> str:
        """A normalised value the way a user would type it (quantities rounded)."""
        return str(value)

    def exact(self, fact: Fact, value: Value) -> str:
        """A value written exactly as a user can type it (no rounding)."""
        return self.display(fact, value)

    @abstractmethod
    def holds(self, fact: Fact, value: object) -> bool:
        """Whether a value stored earlier (JSON) is one this fact can take."""

    def domain(self, fact: Fact) -> tuple[Value, ...]:
        """Every value the fact can take, when there are finitely many."""
        return ()


class BoolType(FactType):
    name = "bool"
    ordered = False

    def parse(self, fact: Fact, raw: object) -> Value:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError("expected yes or no")

    def display(self, fact: Fact, value: Value) -> str:
        return "yes" if value else "no"

    def holds(self, fact: Fact, value: object) -> bool:
        return isinstance(value, bool)

    def domain(self, fact: Fact) -> tuple[Value, ...]:
        return (True, False)


class EnumType(FactType):
    name = "enum"

    def parse(self, fact: Fact, raw: object) -> Value:
        word = str(raw).strip().lower().replace("-", "_").replace(" ", "_")
        if isinstance(raw, str) and word in fact.values:
            return word
        raise ValueError(f"expected one of: {', '.join(fact.values)}")

    def holds(self, fact: Fact, value: object) -> bool:
        return isinstance(value, str) and value in fact.values

    def domain(self, fact: Fact) -> tuple[Value, ...]:
        return fact.values


class QuantityType(FactType):
    name = "quantity"
    continuous = True

    def parse(self, fact: Fact, raw: object) -> Value:
        unit = _unit(fact)
        if isinstance(raw, bool):
            raise ValueError(f"expected a quantity such as {quantity.EXAMPLES[unit]}")
        if isinstance(raw, int | float):
            if raw < 0 or raw != raw or raw > quantity.MAX_VALUE:
                raise ValueError(f"expected a quantity such as {quantity.EXAMPLES[unit]}")
            if unit == "duration" and raw != 0:
                raise ValueError(
                    f"expected a duration with a unit, such as {quantity.EXAMPLES['duration']}"
                )
            return quantity.checked(float(raw), unit)
        return quantity.parse(str(raw), unit)

    def display(self, fact: Fact, value: Value) -> str:
        return quantity.display(float(value), _unit(fact))

    def exact(self, fact: Fact, value: Value) -> str:
        from decimal import Decimal  # exact digits, only for the few callers that need them

        number = f"{Decimal(float(value)):f}"
        return {"usd": f"${number}", "duration": f"{number}d"}.get(_unit(fact), number)

    def holds(self, fact: Fact, value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)


def _unit(fact: Fact) -> str:
    assert fact.unit is not None, f"quantity fact {fact.name} has no unit"
    return fact.unit


TYPES: dict[str, FactType] = {kind.name: kind for kind in (BoolType(), EnumType(), QuantityType())}
"""Every fact type by the name a fact schema gives it."""
