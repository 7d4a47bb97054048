"""Records appended per second to the audit store: SQLite against PostgreSQL, 1 and 8 writers.

Each writer is a process that opens the store once and appends records (one transaction each,
the way `recommend` does) as fast as it can; all writers start together and the clock stops when
the last one is done. 1 writer appends 400 records, 8 writers 100 each, into a fresh store.
PostgreSQL is a throw-away server of the machine's PostgreSQL package (initdb into a temporary
folder, a free loopback port, fsync on as a real server has it), reached over TCP.

Figures: PostgreSQL's rate ÷ SQLite's rate, with 1 writer and with 8 (a networked server pays a
round trip per statement; SQLite none); and, per back end, 8 writers' rate ÷ 1 writer's (the
serialised append must not collapse under contention). Raw rates are in `details`.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import Figure, Skipped
from llm_advisor.engine.audit.store import AuditStore
from llm_advisor.engine.inference.run import evaluate
from llm_advisor.engine.language.facts import make_case
from llm_advisor.engine.language.loader import load_knowledge_base

TOTAL = 400
PG_VS_SQLITE_TARGET = 0.05
CONTENTION_TARGET = 0.15


def _writer(location: str, n: int, start: object) -> None:
    kb = load_knowledge_base()
    result = evaluate(kb, make_case(kb, {}))
    with AuditStore.open(location, create=True) as store:
        store.count()
        start.wait()  # type: ignore[attr-defined]
        for _ in range(n):
            store.record(kb, result)


def appended_per_second(location: str, writers: int) -> float:
    """Records per second that `writers` processes append to the store at `location`."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers + 1)
    procs = [
        context.Process(target=_writer, args=(location, TOTAL // writers, start))
        for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - began
    if any(proc.exitcode != 0 for proc in procs):
        raise RuntimeError("a writer failed")
    with AuditStore.open(location) as store:
        report = store.verify()
        if not report.ok or report.count != TOTAL:
            raise RuntimeError(f"the store is not intact after the run: {report.problem}")
    return TOTAL / elapsed


@contextmanager
def _server(folder: Path) -> Iterator[str]:
    """A PostgreSQL server for the run, as an unprivileged user when run as root."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    initdb = found[0] if found else shutil.which("initdb")
    if not initdb:
        raise Skipped("PostgreSQL's server programs (initdb) are not installed")
    bindir = Path(initdb).parent
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data, sockets = folder / "data", folder / "socket"
    sockets.mkdir()
    if user:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = {"check": True, "capture_output": True}
    subprocess.run([*user, initdb, "-D", str(data), "-U", "bench", "-A", "trust"], **run)  # type: ignore[call-overload]
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=40"
    ctl = [*user, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run([*ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"], **run)  # type: ignore[call-overload]
    try:
        yield f"postgresql://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "-w", "stop"], **run)  # type: ignore[call-overload]


def _fresh_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return url.rsplit("/", 1)[0] + f"/{name}"


def run() -> list[Figure]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Skipped("psycopg is not installed (pip install 'llm-advisor[postgres]')") from None
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="llm-advisor-bench-") as name:
        tmp = Path(name)
        tmp.chmod(0o711)  # the server's user must reach its folder inside
        (tmp / "pg").mkdir()
        with _server(tmp / "pg") as url:
            for writers in (1, 8):
                rates[f"sqlite_{writers}"] = appended_per_second(
                    str(tmp / f"{writers}.sqlite3"), writers
                )
                rates[f"postgres_{writers}"] = appended_per_second(
                    _fresh_database(url, f"bench_{writers}"), writers
                )
    details = {f"{key}_per_second": round(value, 1) for key, value in rates.items()}
    figures = [
        Figure(
            name=f"audit_append_{writers}",
            description=f"records appended per second with {writers} writer(s), PostgreSQL vs SQLite",
            subject=f"PostgreSQL, {rates[f'postgres_{writers}']:.0f}/s",
            baseline=f"SQLite, {rates[f'sqlite_{writers}']:.0f}/s",
            ratio=rates[f"postgres_{writers}"] / rates[f"sqlite_{writers}"],
            target=PG_VS_SQLITE_TARGET,
            lower_is_better=False,
            details=details,
        )
        for writers in (1, 8)
    ]
    figures += [
        Figure(
            name=f"audit_append_{store}_8v1",
            description=f"{store}: records appended per second, 8 writers vs 1",
            subject=f"8 writers, {rates[f'{store}_8']:.0f}/s",
            baseline=f"1 writer, {rates[f'{store}_1']:.0f}/s",
            ratio=rates[f"{store}_8"] / rates[f"{store}_1"],
            target=CONTENTION_TARGET,
            lower_is_better=False,
            details=details,
        )
        for store in ("sqlite", "postgres")
    ]
    return figures
