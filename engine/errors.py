"""Typed errors. Each carries what a user needs to find the problem; the CLI prints `str(err)`."""

from __future__ import annotations


class AdvisorError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(AdvisorError):
    """Bad input from the user: unknown fact, bad value, unreadable facts file."""

    def __init__(self, message: str, *, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


class LocatedInputError(InputError):
    """Bad input read from a file, such as a fact of a facts file: `str(err)` says what is wrong
    with `item`, as it would for the item given any other way, and `file` and `line` say where it
    was read (the command line shows them first, as `file:line:`)."""

    def __init__(self, message: str, *, file: str, line: int, item: str | None = None) -> None:
        super().__init__(message, item=item)
        self.file = file
        self.line = line


class RuleError(InputError):
    """A rule file is malformed or inconsistent; the message starts with `file:line:`."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}", item=file)
        self.file = file
        self.line = line
        self.detail = message


class EngineError(AdvisorError):
    """The inference engine failed while evaluating a case."""
