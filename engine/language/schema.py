"""A JSON Schema (draft 2020-12) for rule files, for editors that validate YAML as you type."""

from __future__ import annotations

from typing import Any

from llm_advisor.engine.language.checks import FIGURE_UNITS, NAME, RULE_ID
from llm_advisor.engine.language.effects import POWERS, STANCES
from llm_advisor.engine.language.quantity import UNITS
from llm_advisor.engine.language.types import TYPES

_TEXT = {"type": "string", "minLength": 1}
_IDENT = {"type": "string", "pattern": NAME.pattern}
_RULE_ID = {"type": "string", "pattern": RULE_ID.pattern}


def _object(properties: dict[str, Any], *required: str, **limits: Any) -> dict[str, Any]:
    """An object with these properties only, `required` among them."""
    return {
        "type": "object",
        "required": list(required),
        "additionalProperties": False,
        **limits,
        "properties": properties,
    }


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def json_schema() -> dict[str, Any]:
    """One schema that accepts any of the rule base's files (facts, approaches, sources,
    invariants, rules)."""
    quantity = {"type": ["string", "number"]}
    value = {"type": ["string", "boolean"]}
    condition = {
        "oneOf": [
            _object({"all": _list(_ref("condition"))}, "all"),
            _object({"any": _list(_ref("condition"))}, "any"),
            _object({"not": _ref("condition")}, "not"),
            _object({"derived": _IDENT}, "derived"),
            _object(
                {
                    "fact": _IDENT,
                    "is": value,
                    "in": {**_list(value), "minItems": 1},
                    "below": quantity,
                    "at_least": quantity,
                },
                "fact",
                minProperties=2,
                maxProperties=2,
            ),
        ]
    }
    formula = {
        "fact": _IDENT,
        "factor": {"type": "number", "exclusiveMinimum": 0},
        "power": {"enum": list(POWERS)},
    }
    figure = _object(
        {
            "name": _IDENT,
            **formula,
            "unit": {"enum": list(FIGURE_UNITS)},
            "at_most": _object(formula, "fact", "factor"),
        },
        "name",
        "fact",
        "factor",
    )
    approaches = {**_list(_IDENT), "minItems": 1}
    advice = _object({"text": _TEXT, **{stance: approaches for stance in STANCES}}, "text")
    effects = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "derive": {"oneOf": [_IDENT, _list(_IDENT)]},
            "score": {"type": "object", "additionalProperties": {"type": "integer"}},
            "exclude": {"type": "object", "additionalProperties": _TEXT},
            "combine": {
                "oneOf": [
                    {**_list(_IDENT), "minItems": 2, "maxItems": 2},
                    _object({"lead": _IDENT, "partner": _IDENT}, "lead", "partner"),
                ]
            },
            "advise": {"oneOf": [_TEXT, advice]},
            "technique": _object(
                {"approach": _IDENT, "name": _TEXT, "figures": _list(figure)}, "approach", "name"
            ),
        },
    }
    rule = _object(
        {
            "id": _RULE_ID,
            "title": _TEXT,
            "when": _ref("condition"),
            "then": effects,
            "because": _TEXT,
            "source": _TEXT,
        },
        "id",
        "title",
        "when",
        "then",
        "because",
        "source",
    )
    plan_condition = _object({"approach": _IDENT, "when": _ref("condition")}, "approach", "when")
    invariant = _object(
        {
            "id": _RULE_ID,
            "title": _TEXT,
            "partners_at_least": {"type": "integer"},
            "advice_agrees": {"const": True},
            "no_flip_back": _IDENT,
            "never": plan_condition,
            "always": plan_condition,
        },
        "id",
        "title",
        minProperties=3,
        maxProperties=3,
    )
    fact = _object(
        {
            "name": _IDENT,
            "type": {"enum": list(TYPES)},
            "values": {**_list(_IDENT), "minItems": 1, "uniqueItems": True},
            "unit": {"enum": list(UNITS)},
            "question": _TEXT,
            "short": _TEXT,
            "help": {"type": "string"},
            "value_help": {"type": "object", "additionalProperties": _TEXT},
            "examples": _list(_TEXT),
            "default": {"type": ["string", "number", "boolean"]},
            "actionable": {"type": "boolean"},
            "reach": {"type": "number", "exclusiveMinimum": 1},
            "measured": {"type": "boolean"},
        },
        "name",
        "type",
        "question",
    )
    approach = _object(
        {
            "id": _IDENT,
            "name": _TEXT,
            # required by the loader only where the rule base declares dimensions
            "profile": {"type": "object", "additionalProperties": {"type": "integer"}},
            "summary": {"type": "string"},
            "caveats": _list(
                {
                    "oneOf": [
                        _TEXT,
                        _object({"text": _TEXT, "answered_by": _list(_IDENT)}, "text"),
                    ]
                }
            ),
            "next_steps": _list(_TEXT),
        },
        "id",
        "name",
    )
    source = _object(
        {
            "title": _TEXT,
            "author": _TEXT,
            "year": {"type": "integer", "minimum": 1000, "maximum": 9999},
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "note": _TEXT,
        },
        "title",
        "author",
        "year",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Rule base file",
        "$defs": {
            "condition": condition,
            "rule": rule,
            "fact": fact,
            "approach": approach,
            "invariant": invariant,
        },
        "oneOf": [
            _object({"rules": _list(_ref("rule"))}, "rules"),
            _object({"facts": _list(_ref("fact"))}, "facts"),
            _object(
                {
                    "dimensions": _list(_IDENT),
                    "tie_break": _IDENT,
                    "approaches": _list(_ref("approach")),
                },
                "approaches",
            ),
            _object({"invariants": _list(_ref("invariant"))}, "invariants"),
            _object({"sources": {"type": "object", "additionalProperties": source}}, "sources"),
        ],
    }
