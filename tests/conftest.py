"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _audit_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's audit records in a database of its own."""
    monkeypatch.setenv("LLM_ADVISOR_AUDIT_DB", str(tmp_path / "audit.db"))
