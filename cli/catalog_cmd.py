"""`nubes catalog`: what each portable image, size and realm is on each provider."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from nubes.cli.session import (
    fail,
    handles_failures,
    json_option,
    open_session,
    stack_argument,
    state_dir_option,
    var_options,
)
from nubes.engine.catalog import Resolved, Resolver, size_text
from nubes.engine.lang import Scope, evaluate, make_functions
from nubes.engine.lang.unknown import contains_unknown


def _cell(r: Resolved) -> dict[str, Any]:
    return {"native": None if r.problem else r.value, "problem": r.problem}


def _text(r: Resolved) -> str:
    if r.problem:
        return "-"
    return r.value if isinstance(r.value, str) else f"ranged ({r.note})"


def register_catalog_command(cli: click.Group) -> None:
    @cli.command("catalog")
    @stack_argument
    @click.option("--provider", "only", help="Show one provider of the stack.")
    @var_options
    @state_dir_option
    @json_option
    @handles_failures
    def catalog_cmd(
        stack_file: str,
        only: str | None,
        var_pairs: tuple[str, ...],
        var_files: tuple[str, ...],
        state_dir: str,
        as_json: bool,
    ) -> None:
        """What each portable image, size and realm resolves to on each provider of the stack:
        can the stack run there?"""
        session = open_session(stack_file, state_dir, var_pairs, var_files)
        assert session.drivers is not None
        stack = session.stack
        providers = [p for p in stack.providers if only in (None, p)]
        if not providers:
            raise fail(
                f"the stack has no provider {only!r}", f"providers: {', '.join(stack.providers)}"
            )
        resolver = Resolver(stack.catalog, session.drivers.by_provider, stack.providers)
        table: dict[str, dict[str, dict[str, Resolved]]] = {"images": {}, "sizes": {}, "realms": {}}
        for name in sorted(stack.catalog.images):
            table["images"][name] = {p: resolver.image(p, name) for p in providers}
        for requirement in _size_requirements(session.stack, session.variables):
            table["sizes"][size_text(requirement)] = {
                p: resolver.size(p, requirement) for p in providers
            }
        for name in sorted(stack.catalog.realms):
            table["realms"][name] = {p: resolver.realm(p, name) for p in providers}
        if as_json:
            click.echo(
                json.dumps(
                    {
                        kind: {
                            name: {p: _cell(r) for p, r in row.items()}
                            for name, row in rows.items()
                        }
                        for kind, rows in table.items()
                    },
                    indent=2,
                )
            )
            return
        for kind, rows in table.items():
            if not rows:
                continue
            width = max(len(kind), *(len(n) for n in rows))
            click.echo(f"{kind:<{width}}  " + "  ".join(f"{p:<22}" for p in providers))
            for name, row in rows.items():
                click.echo(
                    f"{name:<{width}}  " + "  ".join(f"{_text(row[p]):<22}" for p in providers)
                )
            problems = [
                f"  {name} on {p}: {r.problem}"
                for name, row in rows.items()
                for p, r in row.items()
                if r.problem
            ]
            if problems:
                click.echo("\n".join(["", *problems]))
            click.echo("")


def _size_requirements(stack: Any, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The size requirements the stack's instances write, as far as known before any cloud."""
    scope = Scope({"var": dict(variables), **make_functions(stack.directory)})
    found: list[dict[str, Any]] = []
    for res in stack.resources.values():
        raw = res.attributes.get("size")
        if res.type != "instance" or raw is None:
            continue
        result = evaluate(raw, scope, stack.at, (*res.path, "size"))
        value = result.value
        if result.diags or contains_unknown(value) or not isinstance(value, dict):
            continue
        if value not in found:
            found.append(value)
    return found


register = register_catalog_command  # what nubes.cli.main calls when one of these commands runs
