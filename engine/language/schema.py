"""A JSON Schema (draft 2020-12) for rule files, for editors that validate YAML as you type."""

from __future__ import annotations

from typing import Any

from llm_advisor.engine.language.quantity import UNITS

_TEXT = {"type": "string", "minLength": 1}
_IDENT = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}


def json_schema() -> dict[str, Any]:
    """One schema that accepts any of the rule base's files (facts, approaches, sources,
    invariants, rules)."""
    quantity = {"type": ["string", "number"]}
    condition: dict[str, Any] = {
        "oneOf": [
            {
                "type": "object",
                "required": ["all"],
                "additionalProperties": False,
                "properties": {"all": {"type": "array", "items": {"$ref": "#/$defs/condition"}}},
            },
            {
                "type": "object",
                "required": ["any"],
                "additionalProperties": False,
                "properties": {"any": {"type": "array", "items": {"$ref": "#/$defs/condition"}}},
            },
            {
                "type": "object",
                "required": ["not"],
                "additionalProperties": False,
                "properties": {"not": {"$ref": "#/$defs/condition"}},
            },
            {
                "type": "object",
                "required": ["derived"],
                "additionalProperties": False,
                "properties": {"derived": _IDENT},
            },
            {
                "type": "object",
                "required": ["fact"],
                "additionalProperties": False,
                "minProperties": 2,
                "maxProperties": 2,
                "properties": {
                    "fact": _IDENT,
                    "is": {"type": ["string", "boolean"]},
                    "in": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": ["string", "boolean"]},
                    },
                    "below": quantity,
                    "at_least": quantity,
                },
            },
        ]
    }
    figure = {
        "type": "object",
        "required": ["name", "fact", "factor"],
        "additionalProperties": False,
        "properties": {
            "name": _IDENT,
            "fact": _IDENT,
            "factor": {"type": "number", "exclusiveMinimum": 0},
            "power": {"enum": [1, 2, 3]},
            "unit": {"enum": [*UNITS, "flops"]},
        },
    }
    rule = {
        "type": "object",
        "required": ["id", "title", "when", "then", "because", "source"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$"},
            "title": _TEXT,
            "when": {"$ref": "#/$defs/condition"},
            "then": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "derive": {"oneOf": [_IDENT, {"type": "array", "items": _IDENT}]},
                    "score": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "exclude": {"type": "object", "additionalProperties": _TEXT},
                    "combine": {"type": "array", "items": _IDENT, "minItems": 2, "maxItems": 2},
                    "advise": {
                        "oneOf": [
                            _TEXT,
                            {
                                "type": "object",
                                "required": ["text"],
                                "additionalProperties": False,
                                "properties": {
                                    "text": _TEXT,
                                    "favours": {"type": "array", "items": _IDENT},
                                    "rules_out": {"type": "array", "items": _IDENT},
                                },
                            },
                        ]
                    },
                    "technique": {
                        "type": "object",
                        "required": ["approach", "name"],
                        "additionalProperties": False,
                        "properties": {
                            "approach": _IDENT,
                            "name": _TEXT,
                            "figures": {"type": "array", "items": figure},
                        },
                    },
                },
            },
            "because": _TEXT,
            "source": _TEXT,
        },
    }
    invariant = {
        "type": "object",
        "required": ["id", "title"],
        "minProperties": 3,
        "maxProperties": 3,
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$"},
            "title": _TEXT,
            "partners_at_least": {"type": "integer"},
            "advice_agrees": {"const": True},
            "no_flip_back": _IDENT,
            "never": {
                "type": "object",
                "required": ["approach", "when"],
                "additionalProperties": False,
                "properties": {"approach": _IDENT, "when": {"$ref": "#/$defs/condition"}},
            },
        },
    }
    fact = {
        "type": "object",
        "required": ["name", "type", "question"],
        "additionalProperties": False,
        "properties": {
            "name": _IDENT,
            "type": {"enum": ["enum", "bool", "quantity"]},
            "values": {"type": "array", "items": _IDENT, "minItems": 1, "uniqueItems": True},
            "unit": {"enum": list(UNITS)},
            "question": _TEXT,
            "short": _TEXT,
            "help": {"type": "string"},
            "value_help": {"type": "object", "additionalProperties": _TEXT},
            "examples": {"type": "array", "items": _TEXT},
            "default": {"type": ["string", "number", "boolean"]},
            "actionable": {"type": "boolean"},
        },
    }
    approach = {
        "type": "object",
        "required": ["id", "name", "profile"],
        "additionalProperties": False,
        "properties": {
            "id": _IDENT,
            "name": _TEXT,
            "profile": {"type": "object", "additionalProperties": {"type": "integer"}},
            "summary": {"type": "string"},
            "caveats": {"type": "array", "items": _TEXT},
            "next_steps": {"type": "array", "items": _TEXT},
        },
    }
    source = {
        "type": "object",
        "required": ["title", "author", "year"],
        "additionalProperties": False,
        "properties": {
            "title": _TEXT,
            "author": _TEXT,
            "year": {"type": "integer", "minimum": 1000, "maximum": 9999},
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "note": _TEXT,
        },
    }
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
            {
                "type": "object",
                "required": ["rules"],
                "additionalProperties": False,
                "properties": {"rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}}},
            },
            {
                "type": "object",
                "required": ["facts"],
                "additionalProperties": False,
                "properties": {"facts": {"type": "array", "items": {"$ref": "#/$defs/fact"}}},
            },
            {
                "type": "object",
                "required": ["approaches"],
                "additionalProperties": False,
                "properties": {
                    "dimensions": {"type": "array", "items": _IDENT},
                    "tie_break": _IDENT,
                    "approaches": {"type": "array", "items": {"$ref": "#/$defs/approach"}},
                },
            },
            {
                "type": "object",
                "required": ["invariants"],
                "additionalProperties": False,
                "properties": {
                    "invariants": {"type": "array", "items": {"$ref": "#/$defs/invariant"}}
                },
            },
            {
                "type": "object",
                "required": ["sources"],
                "additionalProperties": False,
                "properties": {"sources": {"type": "object", "additionalProperties": source}},
            },
        ],
    }
