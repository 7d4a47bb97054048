"""Helpers for the audit tests that run on both back ends (SQLite file, PostgreSQL URL)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_advisor.engine.audit.store import AuditStore

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Result
    from llm_advisor.engine.language.model import KnowledgeBase

Location = Path | str
"""A SQLite file or a postgresql:// URL."""


def location(store_at: str) -> Location:
    return store_at if "://" in store_at else Path(store_at)


def is_pg(db: Location) -> bool:
    return isinstance(db, str)


def raw_sql(db: Location, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Change a store behind its back (`?` placeholders on both back ends)."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pconn:
            for sql, params in statements:
                pconn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for sql, params in statements:
            conn.execute(sql, params)
    finally:
        conn.close()


def has_tables(db: Location) -> bool:
    """Whether anything was created at the location (a file, or tables in the database)."""
    if isinstance(db, Path):
        return db.exists()
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        return bool(row and row[0])


def record_result(
    location: str | os.PathLike[str], kb: KnowledgeBase, result: Result, *, kind: str = "recommend"
) -> str:
    """Open the store at `location` (creating it if needed), append one record, close it."""
    with AuditStore.open(location, create=True) as store:
        return store.record(kb, result, kind=kind)
