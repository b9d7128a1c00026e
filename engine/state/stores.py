"""Stores: where states live (a local folder, an S3 bucket, a PostgreSQL database), each holding
one state per stack and workspace. `open_store` turns a checked backend block into one.

A store's backends keep the `Backend` protocol's promises; the store adds what spans stacks
and workspaces: which exist, and deleting one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from nubes.engine.state.backend import Backend
from nubes.engine.state.local import LocalBackend
from nubes.engine.state.settings import DEFAULT_WORKSPACE, BackendConfig


class Store(Protocol):
    def backend(self, stack: str, workspace: str = DEFAULT_WORKSPACE) -> Backend: ...

    def stack_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[str]: ...

    def workspaces(self, stack: str) -> list[str]:
        """The workspaces holding a state of `stack`; the default one always."""
        ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class LocalStore:
    """`<folder>/<stack>.json` for the default workspace, `<folder>/workspaces/<name>/` for
    the others (as Terraform's `terraform.tfstate.d/<name>/`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _folder(self, workspace: str) -> Path:
        if workspace == DEFAULT_WORKSPACE:
            return self.folder
        return self.folder / "workspaces" / workspace

    def backend(self, stack: str, workspace: str = DEFAULT_WORKSPACE) -> LocalBackend:
        backend = LocalBackend(self._folder(workspace), stack)
        backend.workspace = workspace
        backend.store = self
        return backend

    def stack_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[str]:
        return self.backend("_", workspace).stack_names()

    def workspaces(self, stack: str) -> list[str]:
        found = [DEFAULT_WORKSPACE]
        root = self.folder / "workspaces"
        if root.is_dir():
            found += sorted(
                d.name
                for d in root.iterdir()
                if d.is_dir() and not d.is_symlink() and (d / f"{stack}.json").is_file()
            )
        return found

    def describe(self) -> str:
        return f"local folder {self.folder}"

    def close(self) -> None:
        pass


def open_store(config: BackendConfig | None, state_dir: Path, environ: Mapping[str, str]) -> Store:
    """The store a backend block names (None: the local folder `state_dir`). Opening checks
    nothing remote yet: the first read or lock does, and says what to fix."""
    if config is None or config.type == "local":
        path = (config.settings.get("path") if config else None) or state_dir
        return LocalStore(Path(path))
    if config.type == "s3":
        from nubes.engine.state.s3 import S3Store

        return S3Store(config.settings, environ)
    if config.type == "postgres":
        from nubes.engine.state.postgres import PostgresStore

        return PostgresStore(config.settings, environ)
    raise ValueError(f"unknown backend type {config.type!r}")  # parse_backend refuses it first
