"""The audit store on a PostgreSQL server (psycopg 3), shared by writers on many machines.

Writers serialise their appends with a transaction-level advisory lock, so the chain never
forks; a writer that dies mid-transaction is rolled back by the server, lock and all.
Credentials come from the URL, PGPASSFILE or the environment (libpq reads them); they never
appear in a message: every location shown is `redact`ed and every statement parameterised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from llm_advisor.engine.audit.backend import AuditError, Backend, Params, Row, Transaction
from llm_advisor.engine.audit.migrations import POSTGRES, SCHEMA_VERSION, check_version
from llm_advisor.engine.errors import InputError

if TYPE_CHECKING:
    import psycopg

LOCK_KEY = 0x4C4C4D4141554454
"""The advisory lock every writer of a store takes ("LLMAAUDT"); one store per database."""
SCHEMA_TABLE = "llm_advisor_schema"
CONNECT_TIMEOUT = 10


def redact(url: str) -> str:
    """The URL without its password or query (which may hold one): fit for any message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        user = f"{unquote(parts.username)}@" if parts.username else ""
    except ValueError:
        return f"{url.partition('://')[0]}://(malformed)"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _secrets(url: str) -> list[str]:
    """The parts of a URL that must never be shown: its password, raw and decoded."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    found = [url]
    if password:
        found += [password, unquote(password)]
    return sorted(found, key=len, reverse=True)


def _execute(conn: psycopg.Connection[Any], sql: str, params: Params) -> list[Row]:
    """Run one statement with `?` placeholders; its rows (none for statements without rows)."""
    cur = conn.execute(sql.replace("?", "%s"), tuple(params))
    return cur.fetchall() if cur.description else []


class _PgTransaction(Transaction):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        return _execute(self._conn, sql, params)


class PostgresBackend(Backend):
    """One PostgreSQL database holding one store."""

    def __init__(self, url: str, conn: psycopg.Connection[Any], timeout: float) -> None:
        self.location = redact(url)
        self.exists = True
        self.timeout = timeout
        self._url = url
        self._conn = conn

    @classmethod
    def open(cls, url: str, *, create: bool = False, timeout: float | None = None) -> Backend:
        """Connect, and create or migrate the schema; a database without one reads as empty
        unless `create`."""
        try:
            import psycopg
        except ImportError:
            raise AuditError(
                "a PostgreSQL audit store needs the psycopg package (the 'postgres' extra)"
            ) from None
        location = redact(url)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (a port that is not a number raises)
        except ValueError:
            raise InputError(
                f"malformed audit store URL {location}: bad port", item=location
            ) from None
        if "\0" in url or not parts.path.strip("/"):
            raise InputError(
                f"malformed audit store URL {location}: expected postgresql://user@host:port/database",
                item=location,
            )
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as err:
            raise AuditError(
                f"cannot connect to the audit store {location}: {_reason(err, url)}"
            ) from None
        except ValueError as err:  # a port or option libpq cannot parse
            raise InputError(
                f"malformed audit store URL {location}: {_scrub(str(err), url)}", item=location
            ) from None
        backend = cls(url, conn, CONNECT_TIMEOUT if timeout is None else timeout)
        try:
            if not backend._migrate(create):
                conn.close()
                from llm_advisor.engine.audit.sqlite import SqliteBackend

                return SqliteBackend.empty(location)
        except BaseException:
            conn.close()
            raise
        return backend

    def close(self) -> None:
        self._conn.close()

    def _fail(self, doing: str, err: Exception) -> AuditError:
        return AuditError(
            f"cannot {doing} the audit store {self.location}: {_reason(err, self._url)}"
        )

    def read(self, sql: str, params: Params = ()) -> list[Row]:
        import psycopg

        try:
            return _execute(self._conn, sql, params)
        except psycopg.Error as err:
            raise self._fail("read", err) from None

    def _snapshot(self) -> AbstractContextManager[None]:
        """A read-only REPEATABLE READ transaction: every read sees the first one's snapshot."""
        return self._begun("read", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction holding the store's advisory lock until it commits or rolls back."""
        with self._begun(  # one round trip: the wait's limit, then the lock
            "write",
            "SELECT set_config('lock_timeout', %s, true), pg_advisory_xact_lock(%s)",
            (f"{int(self.timeout * 1000)}", LOCK_KEY),
        ):
            yield _PgTransaction(self._conn)

    @contextmanager
    def _begun(self, doing: str, sql: str, params: Params | None = None) -> Iterator[None]:
        """A transaction that starts with `sql`; a database error in it → the store's error."""
        import psycopg

        try:
            with self._conn.transaction():
                self._conn.execute(sql, params)
                yield
        except psycopg.Error as err:
            raise self._fail(doing, err) from None

    def _migrate(self, create: bool) -> bool:
        """Bring the schema up to `SCHEMA_VERSION`; False when there is none and not `create`."""
        version = self._version()
        if version == SCHEMA_VERSION:
            return True
        if version is None and not create:
            if self._has_foreign_tables():
                raise InputError(f"{self.location} is not an audit store", item=self.location)
            return False
        with self.transaction() as tx:
            version = self._version()  # another process may have migrated meanwhile
            if version is None:
                if self._has_foreign_tables():
                    raise InputError(f"{self.location} is not an audit store", item=self.location)
                tx.execute(
                    f"CREATE TABLE {SCHEMA_TABLE} (one INTEGER PRIMARY KEY CHECK (one = 1),"
                    " version INTEGER NOT NULL)"
                )
                tx.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (1, 0)")
                version = 0
            check_version(self.location, version)
            for statements in POSTGRES[version:]:
                for statement in statements:
                    tx.execute(statement)
            tx.execute(f"UPDATE {SCHEMA_TABLE} SET version = ?", (SCHEMA_VERSION,))
        return True

    def _version(self) -> int | None:
        # pg_tables, not to_regclass: the catalog cache may not yet see a table that another
        # writer created while this one waited for the lock.
        rows = self.read(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
            (SCHEMA_TABLE,),
        )
        if not rows[0][0]:
            return None
        return int(self.read(f"SELECT version FROM {SCHEMA_TABLE}")[0][0])

    def _has_foreign_tables(self) -> bool:
        """Whether the database holds tables named like ours that are not an audit store."""
        rows = self.read(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename IN ('records', 'blobs', 'rulebase_files', 'chain_head')"
        )
        return bool(rows[0][0])


def _scrub(text: str, url: str) -> str:
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def _reason(err: Exception, url: str) -> str:
    """A driver error as one line, without any secret of the URL."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = " ".join(lines) or type(err).__name__
    return _scrub(text, url)
