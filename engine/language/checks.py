"""Validation helpers shared by the rule-language readers: every error names its file and line."""

from __future__ import annotations

import re
from typing import Any

from llm_advisor.engine.errors import RuleError
from llm_advisor.engine.language import quantity
from llm_advisor.engine.language.source import Mapping, Sequence

FIGURE_UNITS = (*quantity.UNITS, "flops")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def line_of(node: Any, key: str | None = None, fallback: int = 1) -> int:
    if isinstance(node, Mapping):
        return node.key_lines.get(key, node.line) if key else node.line
    if isinstance(node, Sequence):
        return node.line
    return fallback


class RuleFileChecker:
    """Validation helpers bound to one file, so that every error names it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, line: int, message: str) -> RuleError:
        return RuleError(self.name, line, message)

    def mapping(
        self,
        node: Any,
        what: str,
        line: int,
        *,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
    ) -> Mapping:
        if not isinstance(node, Mapping):
            raise self.error(line, f"{what} must be a mapping")
        for key in node:
            if key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                raise self.error(
                    node.key_lines[key], f"unknown key {key!r} in {what} (allowed: {allowed})"
                )
        for key in required:
            if key not in node:
                raise self.error(node.line, f"{what} is missing {key!r}")
        return node

    def items(self, node: Any, what: str, line: int) -> list[tuple[Any, int]]:
        if not isinstance(node, Sequence):
            raise self.error(line_of(node, fallback=line), f"{what} must be a list")
        return list(zip(node, node.item_lines, strict=True))

    def text(self, node: Mapping, key: str, *, default: str | None = None) -> str:
        value = node.get(key, default)
        if not isinstance(value, str) or (not value.strip() and default is None):
            raise self.error(line_of(node, key), f"{key!r} must be a non-empty string")
        return value.strip()

    def texts(self, node: Mapping, key: str) -> tuple[str, ...]:
        if key not in node:
            return ()
        out = []
        for item, line in self.items(node[key], repr(key), line_of(node, key)):
            if not isinstance(item, str) or not item.strip():
                raise self.error(line, f"items of {key!r} must be non-empty strings")
            out.append(item.strip())
        return tuple(out)

    def ident(self, node: Mapping, key: str, pattern: re.Pattern[str] = NAME) -> str:
        value = node.get(key)
        if not isinstance(value, str) or not pattern.match(value):
            raise self.error(
                line_of(node, key), f"{key!r} must be an identifier such as my_name, got {value!r}"
            )
        return value

    def top(self, doc: Any, key: str) -> Any:
        if not isinstance(doc, Mapping) or set(doc) != {key}:
            raise self.error(line_of(doc), f"expected a mapping with the single key {key!r}")
        return doc[key]
