"""Where a stack's state lives: the `backend:` block, `--backend-config FILE`, and workspaces.

```yaml
backend: {type: s3, bucket: team-state, prefix: stacks/, region: us-east-1,
          endpoint: "http://127.0.0.1:9000", lock_table: nubes-locks}
backend: {type: postgres}          # the connection from NUBES_POSTGRES_DSN or libpq's PG* variables
backend: {type: local, path: state}
```

The keys of a `--backend-config` file win over the stack's, key by key (a file naming another
`type` replaces the block). Settings are plain values: no `${...}` (the backend is opened before
any expression can be evaluated), and never credentials, which come from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nubes.engine.diag import Diagnostics, SourceRange

DEFAULT_WORKSPACE = "default"
WORKSPACE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# keys that would put a secret in a file; each says where the secret goes instead
CREDENTIAL_KEYS = {
    "access_key": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "secret_key": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "access_key_id": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "secret_access_key": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "token": "AWS_SESSION_TOKEN",
    "session_token": "AWS_SESSION_TOKEN",
    "password": "NUBES_POSTGRES_DSN or PGPASSWORD (or ~/.pgpass)",
    "dsn": "NUBES_POSTGRES_DSN",
    "conn_str": "NUBES_POSTGRES_DSN",
    "url": "NUBES_POSTGRES_DSN",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LocalSpec(_Strict):
    type: Literal["local"]
    path: str | None = None  # the state folder; --state-dir when absent


class S3Spec(_Strict):
    type: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    prefix: str = Field("", max_length=512)
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    lock_table: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{3,255}$")


class PostgresSpec(_Strict):
    type: Literal["postgres"]
    schema_name: str = Field("nubes", alias="schema")


SPECS: dict[str, type[BaseModel]] = {"local": LocalSpec, "s3": S3Spec, "postgres": PostgresSpec}


@dataclass(frozen=True)
class BackendConfig:
    """A checked backend block: its type and settings (never credentials)."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    where: SourceRange | None = field(default=None, compare=False)

    def describe(self) -> str:
        s = self.settings
        if self.type == "s3":
            return f"s3://{s['bucket']}/{s.get('prefix', '')}"
        if self.type == "postgres":
            return f"postgres (schema {s.get('schema', 'nubes')})"
        return f"local folder {s['path']}" if s.get("path") else "local folder"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.settings}


Where = Callable[[tuple[Any, ...]], SourceRange]


def parse_backend(
    raw: Any, at: Where, key_at: Where, diags: Diagnostics, base: tuple[Any, ...] = ("backend",)
) -> BackendConfig | None:
    """Check a backend block (merged from the stack and a --backend-config file); `at` and
    `key_at` say where each path was written. Problems go to `diags`, positioned."""
    if not isinstance(raw, dict):
        diags.error("backend must be a mapping such as {type: s3, bucket: ...}", where=at(base))
        return None
    kind = raw.get("type")
    if kind not in SPECS:
        diags.error(
            f"backend type must be one of {', '.join(SPECS)}, not {kind!r}"
            if "type" in raw
            else "backend needs a type: local, s3 or postgres",
            where=at((*base, "type")) if "type" in raw else at(base),
        )
        return None
    bad = False
    for key, value in raw.items():
        if key in CREDENTIAL_KEYS:
            diags.error(
                f"backend key {key!r}: credentials never go in a stack or backend file",
                f"set {CREDENTIAL_KEYS[key]} in the environment instead",
                where=key_at((*base, key)),
            )
            bad = True
        elif isinstance(value, str) and "${" in value:
            diags.error(
                f"backend key {key!r} cannot hold an expression: the backend is opened "
                "before expressions are evaluated",
                "write the value itself, or pass it in a --backend-config file",
                where=at((*base, key)),
            )
            bad = True
    if bad:
        return None
    try:
        spec = SPECS[kind].model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = (*base, *err["loc"])
            name = err["loc"][-1] if err["loc"] else ""
            if err["type"] == "extra_forbidden":
                diags.error(
                    f"unknown key {name!r} in a {kind} backend",
                    f"a {kind} backend takes {', '.join(_keys(kind))}",
                    where=key_at(loc),
                )
            elif err["type"] == "missing":
                diags.error(f"a {kind} backend needs {name!r}", where=at(base))
            else:
                diags.error(f"backend.{name}: {err['msg'].lower()}", where=at(loc))
        return None
    settings = spec.model_dump(by_alias=True, exclude={"type"}, exclude_none=True)
    if kind == "postgres" and not _SCHEMA_RE.fullmatch(settings["schema"]):
        diags.error(
            "backend.schema must be a lower-case SQL name (letters, digits and _)",
            where=at((*base, "schema")),
        )
        return None
    if kind == "s3" and settings.get("prefix", "").startswith("/"):
        diags.error("backend.prefix must not start with /", where=at((*base, "prefix")))
        return None
    return BackendConfig(kind, settings, at(base))


def _keys(kind: str) -> list[str]:
    return [f.alias or name for name, f in SPECS[kind].model_fields.items()]


def workspace_problem(name: str) -> str | None:
    if WORKSPACE_RE.fullmatch(name):
        return None
    return (
        f"workspace name {name!r} must be 1 to 63 lower-case letters, digits, _ and -, "
        "starting with a letter or digit"
    )
