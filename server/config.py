"""The server's configuration file (`nubes serve --config server.yaml`).

default_provider: home
providers:                 # the same provider blocks as in stacks
  home: {driver: sim}
  aws:  {driver: ec2, region: us-east-1}
users:                     # HTTP Basic; hashes from `nubes serve --hash-password`
  admin: "scrypt$16384$8$1$<salt>$<hash>"
tokens:                    # bearer tokens, stored as their SHA-256
  ci: "<sha256 hex>"
stacks: [stacks/demo.yaml] # the stacks it may plan and apply (paths from this file)
backend: {type: postgres}  # optional: where servers of a team share jobs, the activity log,
                           # console sessions, and the state of stacks without a backend block
public_url: https://clouds.example.com   # links are built from this (default: the bound address)
limits:                    # all optional; these are the defaults
  request_bytes: 1048576   # any request body but a blob's
  blob_bytes: 1073741824   # a blob upload
  provider_seconds: 10     # one provider's answer to an aggregated list
  provider_threads: 8      # calls in flight to one provider (others are not held up by it)
  body_seconds: 60         # the longest wait for the next piece of a request body (else 408)
  refresh_seconds: 15      # how often the console's inventory refreshes each cloud
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nubes.engine.diag import Diagnostics
from nubes.engine.files import InputFileError, read_regular
from nubes.engine.stack.load import _schema_diagnostics
from nubes.engine.stack.model import Provider
from nubes.engine.stack.schema import ProviderSpec
from nubes.engine.stack.yamlpos import Positions, load_yaml
from nubes.engine.state.settings import BackendConfig, parse_backend

SCRYPT = (16384, 8, 1)


class LimitsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    request_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024**3)
    blob_bytes: int = Field(default=1024**3, ge=1024, le=1024**4)
    provider_seconds: float = Field(default=10.0, gt=0, le=3600)
    provider_threads: int = Field(default=8, ge=1, le=256)
    body_seconds: float = Field(default=60.0, gt=0, le=3600)
    refresh_seconds: float = Field(default=15.0, ge=0.05, le=3600)


class ServerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    default_provider: str | None = None
    providers: dict[str, ProviderSpec] = Field(default_factory=lambda: {})
    users: dict[str, str] = Field(default_factory=dict)
    tokens: dict[str, str] = Field(default_factory=dict)
    stacks: list[str] = Field(default_factory=list)
    backend: Any = None
    public_url: str | None = Field(default=None, pattern=r"https?://[^/\s?#]+(/[^\s?#]*)?")
    limits: LimitsSpec = Field(default_factory=LimitsSpec)


@dataclass(frozen=True)
class Limits:
    request_bytes: int = 1024 * 1024
    blob_bytes: int = 1024**3
    provider_seconds: float = 10.0
    provider_threads: int = 8
    body_seconds: float = 60.0  # a request body must keep arriving within this, piece by piece
    refresh_seconds: float = 15.0  # the console's background refresh of each cloud


@dataclass
class ServerConfig:
    providers: dict[str, Provider]
    default_provider: str
    users: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # name -> sha256 of the token
    stacks: list[Path] = field(default_factory=list)
    positions: Positions = field(default_factory=lambda: Positions("<defaults>"))
    directory: Path = field(default_factory=Path.cwd)
    # links in answers are built from this, never from the request's Host header; `nubes
    # serve` sets the bound address when the file gives none
    public_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    backend: BackendConfig | None = None  # None: this server's state folder alone

    @property
    def has_auth(self) -> bool:
        return bool(self.users or self.tokens)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    n, r, p = SCRYPT
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def default_config() -> ServerConfig:
    """No configuration file: the embedded sim cloud alone."""
    return ServerConfig({"sim": Provider("sim", "sim", {})}, "sim")


def load_config(path: Path) -> tuple[ServerConfig | None, Diagnostics]:
    diags = Diagnostics()
    try:
        text = read_regular(path, 4 * 1024 * 1024, "server configuration")
    except InputFileError as exc:
        diags.error(str(exc))
        return None, diags
    value, pos, errors = load_yaml(text, str(path))
    diags.extend(errors)
    if errors:
        return None, diags
    try:
        spec = ServerSpec.model_validate(value or {})
    except ValidationError as exc:
        diags.extend(_schema_diagnostics(exc, pos))
        return None, diags
    providers = {
        name: Provider(name, p.driver, dict(p.model_extra or {}))
        for name, p in spec.providers.items()
    } or {"sim": Provider("sim", "sim", {})}
    default = spec.default_provider or next(iter(providers))
    if default not in providers:
        diags.error(
            f"default_provider {default!r} is not one of the providers",
            where=pos.at(("default_provider",)),
        )
    for name, stored in spec.users.items():
        if not stored.startswith("scrypt$"):
            diags.error(
                f"user {name!r}: store a password hash (nubes serve --hash-password), "
                "never the password",
                where=pos.at(("users", name)),
            )
    for name, stored in spec.tokens.items():
        if len(stored) != 64:
            diags.error(
                f"token {name!r}: store the token's SHA-256, never the token",
                where=pos.at(("tokens", name)),
            )
    backend = None
    if spec.backend is not None:
        backend = parse_backend(spec.backend, pos.at, pos.key_at, diags)
        if backend is not None and backend.type == "s3":
            diags.error(
                "a server's backend is local or postgres: servers share jobs, the activity "
                "log and sessions through PostgreSQL",
                "an s3 backend goes in each stack's own backend block",
                where=pos.at(("backend", "type")),
            )
    stacks = [(path.parent / s) for s in spec.stacks]
    config = ServerConfig(
        providers,
        default,
        dict(spec.users),
        dict(spec.tokens),
        stacks,
        pos,
        path.parent,
        spec.public_url.rstrip("/") if spec.public_url else None,
        Limits(**spec.limits.model_dump()),
        backend,
    )
    return (None if diags.has_errors else config), diags
