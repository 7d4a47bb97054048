"""The user's folders for llm-advisor's data, configuration, cache and state.

On Linux they follow the XDG Base Directory specification, read here directly: importing
platformdirs (and the tempfile module it loads) costs every command about 5 ms. Other systems
ask platformdirs, which knows their conventions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from llm_advisor.engine.errors import AdvisorError

APP_NAME = "llm-advisor"

Kind = Literal["data", "config", "cache", "state"]

XDG: dict[Kind, tuple[str, str]] = {
    "data": ("XDG_DATA_HOME", ".local/share"),
    "config": ("XDG_CONFIG_HOME", ".config"),
    "cache": ("XDG_CACHE_HOME", ".cache"),
    "state": ("XDG_STATE_HOME", ".local/state"),
}
"""Per kind of folder: its variable, and the default under the home directory."""


def user_dir(kind: Kind, override: str | None = None) -> Path:
    """This user's folder of `kind` for llm-advisor (it may not exist yet); the environment
    variable `override`, when set, names it instead."""
    if override and os.environ.get(override):
        return Path(os.environ[override])
    if sys.platform == "linux":
        variable, default = XDG[kind]
        base = os.environ.get(variable, "")
        if not os.path.isabs(base):  # unset, empty or relative: the specification's default
            base = os.path.join(_home(variable), default)
        return Path(base) / APP_NAME
    import platformdirs

    folders = {
        "data": platformdirs.user_data_dir,
        "config": platformdirs.user_config_dir,
        "cache": platformdirs.user_cache_dir,
        "state": platformdirs.user_state_dir,
    }
    return Path(folders[kind](APP_NAME))


def _home(variable: str) -> str:
    """The home directory: $HOME when it is an absolute path, else the user's entry in the
    password database (as platformdirs does), so that no folder depends on the working one."""
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return home
    import pwd

    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = ""
    if not os.path.isabs(home):
        raise AdvisorError(f"cannot find your home directory: set HOME or {variable}")
    return home
