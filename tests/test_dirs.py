"""The user's folders: on Linux read from the XDG variables directly, and the same folders
platformdirs gives, whatever the variables hold."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from llm_advisor.cli.dirs import XDG, Kind, user_dir

KINDS: list[Kind] = ["data", "config", "cache", "state"]
PLATFORMDIRS = {
    "data": platformdirs.user_data_dir,
    "config": platformdirs.user_config_dir,
    "cache": platformdirs.user_cache_dir,
    "state": platformdirs.user_state_dir,
}

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders are Linux's")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("setting", ["unset", "empty", "absolute", "relative"])
def test_a_folder_is_the_one_platformdirs_gives(
    kind: Kind, setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    variable, _ = XDG[kind]
    values = {"empty": "", "absolute": str(tmp_path / "xdg"), "relative": "not/absolute"}
    if setting == "unset":
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, values[setting])
    assert user_dir(kind) == Path(PLATFORMDIRS[kind]("llm-advisor"))
    expected_base = tmp_path / "xdg" if setting == "absolute" else tmp_path / "home"
    assert user_dir(kind).is_relative_to(expected_base)
