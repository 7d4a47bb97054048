"""Saved consultations: the answers of an unfinished consultation, kept in a file as they are
given, so that an interrupted consultation can go on where it stopped.

The file holds the answers as a user would type them, the rule base's fingerprint and where the
rule base came from. It is replaced whole on every save (never half-written) and removed when
the consultation finishes. Restored on another rule base, answers that no longer validate are
dropped and reported, the others kept.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from llm_advisor.engine.analysis.consultation import Consultation
from llm_advisor.engine.errors import InputError
from llm_advisor.engine.language.facts import exact_text, parse_value
from llm_advisor.engine.language.model import KnowledgeBase

FORMAT = 1
"""The version of the file's layout; a file of another version is not read."""


@dataclass(frozen=True)
class Saved:
    """A saved consultation: its answers (fact, text as typed; None for "don't know"), in the
    order given, the fingerprint of its rule base and the directory it was loaded from (None:
    the shipped one)."""

    answers: tuple[tuple[str, str | None], ...]
    fingerprint: str
    rules: str | None


@dataclass(frozen=True)
class Restored:
    """A consultation rebuilt from a saved one; `dropped` names each answer the rule base no
    longer takes, with the reason."""

    session: Consultation
    dropped: tuple[tuple[str, str], ...]
    changed: bool
    """Whether the rule base differs from the one the answers were given on."""


def saved_of(session: Consultation, rules: str | None) -> Saved:
    """The answers of a consultation, as they are saved."""
    kb = session.kb
    answers = tuple(
        (a.fact, None if a.value is None else exact_text(kb.fact(a.fact), a.value))
        for a in session.answers
    )
    return Saved(answers, kb.fingerprint, rules)


def save(path: Path, saved: Saved) -> None:
    """Write the saved consultation to `path`, whole or not at all (its folder is created);
    raises `InputError` when it cannot be written."""
    from llm_advisor.engine.outfile import write_output

    data = {
        "format": FORMAT,
        "fingerprint": saved.fingerprint,
        "rules": saved.rules,
        "answers": [{"fact": fact, "answer": text} for fact, text in saved.answers],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}", item=str(path)) from None
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_output(path, text.encode("utf-8"), "json")


def load(path: Path) -> Saved | None:
    """The saved consultation in `path`, or None when there is none; `InputError` when the
    file is there but cannot be read as one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}", item=str(path)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a saved consultation of this version")
        fingerprint, rules, answers = data["fingerprint"], data["rules"], data["answers"]
        if not isinstance(fingerprint, str) or not isinstance(rules, str | None):
            raise ValueError("bad fingerprint or rules")
        pairs = tuple((a["fact"], a["answer"]) for a in answers)
        if not all(isinstance(f, str) and isinstance(t, str | None) for f, t in pairs):
            raise ValueError("bad answers")
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(
            f"the saved consultation {path} is damaged ({err})", item=str(path)
        ) from None
    return Saved(pairs, fingerprint, rules)


def clear(path: Path) -> None:
    """Remove the saved consultation, if there is one."""
    with suppress(FileNotFoundError):
        path.unlink()


def restore(kb: KnowledgeBase, saved: Saved) -> Restored:
    """A consultation on `kb` with the saved answers given again, in their order. An answer
    for a fact `kb` does not have, or with a value it does not take, is dropped, as is a second
    answer to the same fact."""
    session = Consultation(kb)
    names = set(kb.fact_names)
    dropped: list[tuple[str, str]] = []
    for fact, text in saved.answers:
        if fact not in names:
            dropped.append((fact, "no such fact in the rule base"))
        elif any(a.fact == fact for a in session.answers):
            dropped.append((fact, "answered twice"))
        elif text is None:
            session.dont_know(fact)
        else:
            try:
                session.answer_value(fact, parse_value(kb.fact(fact), text))
            except ValueError as err:
                dropped.append((fact, f"{text!r} is no longer a valid answer: {err}"))
    return Restored(session, tuple(dropped), saved.fingerprint != kb.fingerprint)
