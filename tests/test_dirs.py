"""The user's folders on Linux: the XDG Base Directory specification, read directly; where
platformdirs follows it too, the same folders it gives."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

import platformdirs
import pytest
from click.testing import CliRunner

from llm_advisor.cli.dirs import XDG, Kind, user_dir
from llm_advisor.cli.main import cli

KINDS: list[Kind] = ["data", "config", "cache", "state"]
DEFAULTS = {"data": ".local/share", "config": ".config", "cache": ".cache", "state": ".local/state"}
PLATFORMDIRS = {
    "data": platformdirs.user_data_dir,
    "config": platformdirs.user_config_dir,
    "cache": platformdirs.user_cache_dir,
    "state": platformdirs.user_state_dir,
}

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders are Linux's")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("setting", ["unset", "empty", "absolute", "relative"])
def test_a_folder_follows_its_xdg_variable(
    kind: Kind, setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    variable, _ = XDG[kind]
    values = {"empty": "", "absolute": str(tmp_path / "xdg"), "relative": "not/absolute"}
    if setting == "unset":
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, values[setting])
    base = tmp_path / "xdg" if setting == "absolute" else home / DEFAULTS[kind]
    assert user_dir(kind) == base / "llm-advisor"
    if setting in ("unset", "absolute"):  # what every platformdirs 4 gives as well
        assert user_dir(kind) == Path(PLATFORMDIRS[kind]("llm-advisor"))


@pytest.mark.parametrize("home", ["", "relative/home"])
def test_a_home_that_is_not_absolute_is_the_password_database_s(
    home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", home)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    expected = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "llm-advisor"
    assert user_dir("cache") == expected


def test_no_home_at_all_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("LLM_ADVISOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(os, "getuid", lambda: 2**31 - 7)  # a user the password database lacks
    result = CliRunner().invoke(cli, ["recommend", "--no-audit", "--fact", "budget=50k"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "home directory" in line and "XDG_CACHE_HOME" in line
