"""Typed errors. Each carries what a user needs to find the problem; the CLI prints `str(err)`."""

from __future__ import annotations


class AdvisorError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(AdvisorError):
    """Bad input from the user: unknown fact, bad value, unreadable facts file."""

    def __init__(self, message: str, *, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


class RuleError(InputError):
    """A rule file is malformed or inconsistent; the message starts with `file:line:`."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}", item=file)
        self.file = file
        self.line = line
        self.detail = message


class EngineError(AdvisorError):
    """The inference engine failed while evaluating a case."""
