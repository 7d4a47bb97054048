"""What a record holds besides the encoded result (`engine.inference.codec`): the tool's version,
the rule files, and a recorded case carried over to another rule base."""

from __future__ import annotations

import hashlib
from typing import Any

from llm_advisor.engine.language.facts import Case, Status
from llm_advisor.engine.language.model import KnowledgeBase, Value


def tool_version() -> str:
    from llm_advisor import __version__

    return __version__


def result_part(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a record that inference produced (a replay must reproduce them exactly)."""
    from llm_advisor.engine.inference.codec import RESULT_KEYS

    return {key: data.get(key) for key in RESULT_KEYS}


def file_digests(kb: KnowledgeBase) -> list[tuple[str, str, bytes]]:
    """The rule files of a knowledge base by name: name, SHA-256 and content."""
    files = ((f.name, hashlib.sha256(f.content).hexdigest(), f.content) for f in kb.files)
    return sorted(files, key=lambda item: item[0])


def case_for(kb: KnowledgeBase, data: dict[str, Any]) -> tuple[Case, tuple[str, ...]]:
    """A record's given facts as a case of another rule base, and the given facts it cannot take."""
    given = {item["name"]: item["value"] for item in data["facts"] if item["status"] == "given"}
    values: list[tuple[str, Value | None]] = []
    status: list[tuple[str, Status]] = []
    for fact in kb.facts:
        value = given.get(fact.name)
        if value is not None and fact.kind.holds(fact, value):
            values.append((fact.name, float(value) if fact.kind.continuous else value))
            status.append((fact.name, "given"))
        elif fact.default is not None:
            values.append((fact.name, fact.default))
            status.append((fact.name, "defaulted"))
        else:
            values.append((fact.name, None))
            status.append((fact.name, "unknown"))
    names = set(kb.fact_names)
    dropped = tuple(
        name
        for name, value in given.items()
        if name not in names or not kb.fact(name).kind.holds(kb.fact(name), value)
    )
    return Case(tuple(values), tuple(status)), dropped
