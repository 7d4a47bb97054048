"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _audit_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's audit records in a database of its own."""
    monkeypatch.setenv("LLM_ADVISOR_AUDIT_DB", str(tmp_path / "audit.db"))


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's saved consultation in a folder of its own, never the user's."""
    monkeypatch.setenv("LLM_ADVISOR_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(autouse=True, scope="session")
def _diagram_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compile each rule base's diagram once per test run, never into the user's cache."""
    import os

    os.environ["LLM_ADVISOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("diagram-cache"))
