"""Shared test fixtures."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result

if TYPE_CHECKING:
    from postgres import Server


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a person at a terminal sends it, even when the suite itself was started with
    SIGINT ignored (in the background, or under nohup): the tests of Ctrl-C interrupt this
    process, and the commands they start inherit an ignored SIGINT otherwise."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _audit_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every test's audit records in a database of its own, signed by a key of its own;
    afterwards, no output of any command the test ran may hold that key's private bytes."""
    from click.testing import CliRunner

    monkeypatch.setenv("LLM_ADVISOR_AUDIT_DB", str(tmp_path / "audit.db"))
    # and its signing key, created on first use in a configuration directory of its own
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LLM_ADVISOR_SIGNING_KEY", raising=False)
    outputs: list[str] = []
    invoke = CliRunner.invoke

    def watched(self: CliRunner, *args: Any, **kwargs: Any) -> Result:
        result = invoke(self, *args, **kwargs)
        outputs.append(result.output + (result.stderr if result.stderr_bytes else ""))
        return result

    monkeypatch.setattr(CliRunner, "invoke", watched)
    yield
    key = tmp_path / "config" / "llm-advisor" / "signing-key.pem"
    if key.exists():
        forms = private_key_forms(key.read_text())
        for text in outputs:
            leaked = [form for form in forms if form in text]
            assert not leaked, "a command's output holds the private signing key"


def private_key_forms(pem: str) -> list[str]:
    """The ways a PEM Ed25519 private key's secret could show: PEM body, hex, base64, raw."""
    import base64

    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    raw = base64.b64decode(body)[-32:]
    return [body, raw.hex(), base64.b64encode(raw).decode(), raw.decode("latin-1")]


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's saved consultation in a folder of its own, never the user's."""
    monkeypatch.setenv("LLM_ADVISOR_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(autouse=True, scope="session")
def _diagram_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compile each rule base's diagram once per test run, never into the user's cache."""
    import os

    os.environ["LLM_ADVISOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("diagram-cache"))


@pytest.fixture(scope="session")
def pg() -> Iterator[Server]:
    """A throw-away PostgreSQL server for the session; if it cannot start, the tests that use
    it fail (they never skip)."""
    from postgres import server

    with server() as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgres"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty audit store location on each back end: a file path or a postgresql:// URL."""
    if request.param == "sqlite":
        (tmp_path / "store").mkdir(exist_ok=True)
        return str(tmp_path / "store" / "audit.sqlite3")
    srv: Server = request.getfixturevalue("pg")
    return srv.url(srv.database())
