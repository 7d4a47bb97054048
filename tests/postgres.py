"""A throw-away PostgreSQL server for the tests: the machine's PostgreSQL package, initdb into a
temporary folder, a free loopback port, its socket in that folder, stopped at the end.

As root the server runs as the unprivileged `postgres` user (initdb refuses root). Tests
connect as the role `advisor` with a password over TCP, as a user on another machine would;
the fixture itself administers the server as its superuser over the socket.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROLE = "advisor"
PASSWORD = "s3cret-Pa55-for-tests"
SUPERUSER = "postgres"


class ServerError(RuntimeError):
    """The test server could not start; the PostgreSQL tests then fail, never skip."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerError("PostgreSQL's server programs (initdb) are not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its port, socket folder and a counter for fresh databases."""

    port: int
    socket_dir: Path
    _names: Iterator[int]

    def url(self, database: str, *, password: str | None = PASSWORD, role: str = ROLE) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{role}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the superuser (outside a transaction, so CREATE DATABASE works)."""
        import psycopg

        conninfo = f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={database}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def database(self, template: str | None = None) -> str:
        """A new, empty database owned by the test role (or a copy of `template`)."""
        name = f"audit_{next(self._names)}"
        copy = f" TEMPLATE {template}" if template else ""
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}{copy}")
        return name


def _run(argv: list[str], as_user: str | None, **kwargs: object) -> None:
    if as_user:
        argv = ["runuser", "-u", as_user, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise ServerError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def server() -> Iterator[Server]:
    """Start a server for the test session and stop it (and delete its folder) afterwards."""
    bindir = _bin_dir()
    as_user = SUPERUSER if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="llm-advisor-pg-"))
    data, sockets = folder / "data", folder / "socket"
    sockets.mkdir()
    pwfile = folder / "pw"
    pwfile.write_text("unused-superuser-password\n")
    if as_user:
        shutil.chown(folder, as_user)
        shutil.chown(sockets, as_user)
        shutil.chown(pwfile, as_user)
    port = _free_port()
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-instructions",
        ],
        as_user,
    )
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c max_connections=60 -c shared_buffers=16MB"
    )
    _run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ],
        as_user,
    )
    try:
        srv = Server(port, sockets, itertools.count())
        srv.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        yield srv
    finally:
        try:
            _run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_user
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
