"""The audit store in a SQLite file: WAL, BEGIN IMMEDIATE for writers, migrations on open."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from llm_advisor.engine.audit.backend import AuditError, Backend, Params, Row, Transaction
from llm_advisor.engine.audit.migrations import SCHEMA_VERSION, SQLITE, check_version
from llm_advisor.engine.errors import AdvisorError, InputError

APPLICATION_ID = 0x4C4C4D41  # "LLMA": marks the SQLite file as an llm-advisor audit store
BUSY_TIMEOUT = 10.0
"""Seconds a writer waits for another writer's lock before giving up."""
SYNCHRONOUS = "NORMAL"
"""WAL with NORMAL sync: commits survive a killed process and the file never corrupts; a power
cut may lose the last commits (never part of one). FULL makes each commit durable at ~4 ms."""


def _busy(err: sqlite3.Error) -> bool:
    """Whether SQLite failed because another connection holds a lock (worth retrying)."""
    return "locked" in str(err) or "busy" in str(err)


class _SqliteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()


class SqliteBackend(Backend):
    """One SQLite file; a missing file opened without `create` reads as an empty store."""

    def __init__(
        self, location: str, conn: sqlite3.Connection, timeout: float, *, exists: bool = True
    ) -> None:
        self.location = location
        self.exists = exists
        self.timeout = timeout
        self._conn = conn

    @classmethod
    def empty(cls, location: str) -> SqliteBackend:
        """An empty store in memory that stands for a store that is not there."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _migrate(conn, location)
        return cls(location, conn, BUSY_TIMEOUT, exists=False)

    @classmethod
    def open(
        cls, path: Path, *, create: bool = False, timeout: float | None = None
    ) -> SqliteBackend:
        """Open (and with `create`, create or migrate) the store at `path`."""
        wait = BUSY_TIMEOUT if timeout is None else timeout
        if not create and not path.exists():
            return cls.empty(str(path))
        mode = "rwc" if create else "rw"
        deadline = time.monotonic() + wait
        while True:
            try:
                conn = sqlite3.connect(
                    f"{path.absolute().as_uri()}?mode={mode}",
                    uri=True,
                    timeout=wait,
                    isolation_level=None,
                )
            except sqlite3.Error as err:
                raise AuditError(f"cannot open the audit store {path}: {err}") from None
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
                _migrate(conn, str(path))
                return cls(str(path), conn, wait)
            except sqlite3.DatabaseError as err:
                conn.close()
                if "not a database" in str(err):
                    raise InputError(f"{path} is not an audit store", item=str(path)) from None
                # Processes creating the store at once can deadlock on its locks; SQLite then
                # fails at once instead of waiting, so try again until the timeout runs out.
                if not _busy(err) or time.monotonic() > deadline:
                    raise AuditError(f"cannot open the audit store {path}: {err}") from None
            except AdvisorError:
                conn.close()
                raise
            time.sleep(random.uniform(0.001, 0.01))

    def close(self) -> None:
        self._conn.close()

    def read(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as err:
            raise AuditError(f"cannot read the audit store {self.location}: {err}") from None

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried with short random pauses until the busy timeout runs out.

        SQLite's own busy handler backs off to 100 ms sleeps, which leaves the lock idle while
        many writers wait; short jittered retries keep it busy.
        """
        deadline = time.monotonic() + self.timeout
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as err:
                    if not _busy(err) or time.monotonic() > deadline:
                        raise AuditError(
                            f"cannot write the audit store {self.location}: {err}"
                        ) from None
                except sqlite3.Error as err:
                    raise AuditError(
                        f"cannot write the audit store {self.location}: {err}"
                    ) from None
                time.sleep(random.uniform(0.0002, 0.002))
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A deferred BEGIN: WAL keeps what the first read saw until COMMIT, and no lock is
        taken, so a store in a read-only file can still be read."""
        conn = self._conn
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as err:
            raise AuditError(f"cannot read the audit store {self.location}: {err}") from None
        try:
            yield
        finally:
            with suppress(sqlite3.Error):  # nothing was written: ending it cannot lose anything
                conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """BEGIN IMMEDIATE takes the write lock first, so reading the head is atomic."""
        conn = self._conn
        self._begin()
        try:
            yield _SqliteTransaction(conn)
            conn.execute("COMMIT")
        except BaseException as err:
            with suppress(sqlite3.Error):  # SQLite may have rolled back already (full disk)
                conn.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise AuditError(f"cannot write the audit store {self.location}: {err}") from None
            raise


def _migrate(conn: sqlite3.Connection, location: str) -> None:
    """Bring the schema up to `SCHEMA_VERSION` in one transaction; refuse foreign or newer files."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise InputError(f"{location} is not an audit store", item=location)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app != APPLICATION_ID and (app != 0 or version != 0 or tables):
            raise InputError(f"{location} is not an audit store", item=location)
        check_version(location, version)
        for statements in SQLITE[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
