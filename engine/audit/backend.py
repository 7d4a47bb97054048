"""The store interface: what the audit store needs of a database, and nothing more.

A back end runs parameterised SQL (`?` placeholders, the subset SQLite and PostgreSQL share)
and hands out write transactions that are serialised with every other writer of the same
store, so that reading the chain head and appending to it is atomic. Like httpx's transports,
back ends are small and replaceable; `AuditStore` holds the logic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from llm_advisor.engine.errors import AdvisorError

Row = tuple[Any, ...]
Params = Sequence[object]


class AuditError(AdvisorError):
    """The audit store could not be read or written; nothing stored is damaged."""


class Transaction(ABC):
    """One open write transaction."""

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement; returns its rows (empty for statements without rows)."""


class Backend(ABC):
    """An open connection to one store."""

    location: str
    """Where the store is, fit to print (a URL without its password)."""
    exists: bool
    """False when the store was not there and was opened empty, read-only."""

    @abstractmethod
    def read(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one read-only statement; a database error is an `AuditError`."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction, serialised with every other writer; committed on leaving,
        rolled back on an exception (a killed process leaves nothing of it)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


def single(rows: list[Row]) -> Row:
    """The one row a statement returns."""
    assert len(rows) == 1, rows
    return rows[0]
