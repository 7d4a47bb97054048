"""The store interface: what the audit store needs of a database, and nothing more.

A back end runs parameterised SQL (`?` placeholders, the subset SQLite and PostgreSQL share),
hands out write transactions that are serialised with every other writer of the same store, so
that reading the chain head and appending to it is atomic, and read-only snapshots, so that the
records and the head read one after the other belong together while writers go on. Like
httpx's transports, back ends are small and replaceable; `AuditStore` holds the logic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from llm_advisor.engine.errors import AdvisorError

Row = tuple[Any, ...]
Params = Sequence[object]
POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_url(location: str) -> bool:
    """Whether a store location names a PostgreSQL server rather than a SQLite file (here, so
    that a SQLite store never loads the PostgreSQL back end's module)."""
    return location.partition("://")[0].lower() in POSTGRES_SCHEMES and "://" in location


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
    _reading: bool = False

    @abstractmethod
    def read(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one read-only statement; a database error is an `AuditError`."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction, serialised with every other writer; committed on leaving,
        rolled back on an exception (a killed process leaves nothing of it)."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the store, whatever writers commit meanwhile; it takes
        no write lock. A snapshot inside a snapshot is the outer one."""
        if self._reading:
            yield
            return
        self._reading = True
        try:
            with self._snapshot():
                yield
        finally:
            self._reading = False

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]:
        """A read-only transaction: begun on entering, ended on leaving."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""
