"""The user's signing key: `$LLM_ADVISOR_SIGNING_KEY`, else one created on first use in the
user's configuration directory (readable by its owner only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_advisor.engine.audit.signing import Signer

KEY_ENV_VAR = "LLM_ADVISOR_SIGNING_KEY"
KEY_NAME = "signing-key.pem"


def default_key_path() -> Path:
    from llm_advisor.cli.dirs import user_dir

    return user_dir("config") / KEY_NAME


def signer() -> Signer:
    """The key that signs this user's records and checkpoints; an AuditError if it cannot be
    read or made (the message names the file, never its content)."""
    from llm_advisor.engine.audit.backend import AuditError
    from llm_advisor.engine.audit.signing import create_signer, load_signer

    given = os.environ.get(KEY_ENV_VAR)
    if given:
        return load_signer(Path(given).expanduser())
    path = default_key_path()
    if path.exists():
        return load_signer(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise AuditError(
            f"cannot create the signing key's directory {path.parent}: {err.strerror or err}"
        ) from None
    return create_signer(path)
