"""Provider credentials: from the environment or a credentials file, never from a stack.

The credentials file (`NUBES_CREDENTIALS_FILE`, else `~/.config/nubes/credentials.yaml`) maps
provider names to their secrets:

    aws:  {access_key_id: ..., secret_access_key: ...}
    home: {api_key: ...}

It must not be readable by group or others. Credentials reach a driver through its
`DriverContext`; the engine never writes them to state, plan files, history or output, and a
stack that tries to carry one in a provider block is refused.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nubes.engine.files import InputFileError, read_regular

SECRET_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "secret",
        "secret_key",
        "access_key",
        "access_key_id",
        "secret_access_key",
        "password",
        "token",
        "session_token",
        "credentials",
        "client_secret",
        "private_key",
    }
)


def looks_like_credential(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_NAMES or lowered.endswith(("_password", "_secret", "_token"))


def credentials_file(environ: Mapping[str, str]) -> Path:
    given = environ.get("NUBES_CREDENTIALS_FILE")
    if given:
        return Path(given)
    return Path(environ.get("HOME", "~")).expanduser() / ".config" / "nubes" / "credentials.yaml"


class CredentialsError(Exception):
    """The credentials file cannot be used; the message says why."""


def load_credentials(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    path = credentials_file(environ)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"credentials file {path} is readable by others; run chmod 600 {path}"
        )
    try:
        doc: Any = yaml.safe_load(read_regular(path, 1024 * 1024, "credentials file"))
    except InputFileError as exc:
        raise CredentialsError(str(exc)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise CredentialsError(
            f"credentials file {path} must map provider names to maps of secrets"
        )
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in doc.items()}
