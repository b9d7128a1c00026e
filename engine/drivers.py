"""Configuring the drivers a stack's provider blocks name, once per run."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubes.engine.credentials import (
    CredentialsError,
    credentials_file,
    load_credentials,
    looks_like_credential,
)
from nubes.engine.diag import Diagnostics
from nubes.engine.lang import Scope, evaluate, make_functions
from nubes.engine.lang.budget import run_budget
from nubes.engine.lang.unknown import contains_unknown
from nubes.engine.stack.model import Provider, Stack
from nubes.engine.stack.yamlpos import Positions
from nubes.providers.protocol import Driver, DriverContext, TypeSchema
from nubes.providers.registry import driver_names, load_driver


@dataclass
class Drivers:
    """Configured drivers by provider name (the stack's alias, e.g. `home` or `aws`)."""

    by_provider: dict[str, Driver]
    state_dir: Path | None = None  # which a stack's file() and template() may never read
    # set to cancel every driver's long waits (the run is stopping; DriverContext.cancel)
    cancel: threading.Event = field(default_factory=threading.Event)

    def __getitem__(self, provider: str) -> Driver:
        return self.by_provider[provider]

    def __contains__(self, provider: str) -> bool:
        return provider in self.by_provider

    def schemas(self) -> dict[str, Mapping[str, TypeSchema]]:
        return {name: d.schema() for name, d in self.by_provider.items()}


def configure_drivers(
    stack: Stack,
    variables: Mapping[str, Any],
    state_dir: Path,
    environ: Mapping[str, str],
) -> tuple[Drivers, Diagnostics]:
    return configure_providers(
        stack.providers,
        stack.positions,
        stack.directory,
        variables,
        state_dir,
        environ,
        stack.workspace,
    )


def configure_providers(
    providers: Mapping[str, Provider],
    positions: Positions,
    directory: Path,
    variables: Mapping[str, Any],
    state_dir: Path,
    environ: Mapping[str, str],
    workspace: str = "default",
) -> tuple[Drivers, Diagnostics]:
    """Drivers for provider blocks (of a stack, or of the server's configuration)."""
    diags = Diagnostics()
    scope = Scope(
        {
            "var": dict(variables),
            "workspace": workspace,
            **make_functions(directory, (state_dir,)),
        }
    )
    try:
        secrets = load_credentials(environ)
    except CredentialsError as exc:
        diags.error(str(exc))
        return Drivers({}), diags
    out: dict[str, Driver] = {}
    cancel = threading.Event()
    for name, provider in providers.items():
        path = ("providers", name)
        carried = [k for k in provider.config if looks_like_credential(k)]
        for key in carried:
            diags.error(
                f"provider {name!r}: {key!r} looks like a credential, and credentials never go "
                "in the stack file",
                f"set it in the environment or under {name}: in {credentials_file(environ)}",
                where=positions.key_at((*path, key)),
            )
        if carried:
            continue
        context = DriverContext(state_dir, environ, secrets.get(name, {}), cancel)
        driver = load_driver(provider.driver)
        if driver is None:
            diags.error(
                f"provider {name!r} names driver {provider.driver!r}, which nubes does not have",
                f"drivers: {', '.join(driver_names())}",
                where=positions.at((*path, "driver")),
            )
            continue
        with run_budget():  # provider settings' expressions share one budget, as a plan's do
            result = evaluate(provider.config, scope, positions.at, path)
        diags.extend(result.diags)
        if result.diags:
            continue
        if contains_unknown(result.value):
            diags.error(
                f"provider {name!r} settings must be known before apply", where=positions.at(path)
            )
            continue
        for key, problem in driver.configure(result.value, context):
            diags.error(f"provider {name!r}: {problem}", where=positions.key_at((*path, key)))
        out[name] = driver
    return Drivers(out, state_dir, cancel), diags
