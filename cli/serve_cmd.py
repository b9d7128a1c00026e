"""`nubes serve`: the REST API (Deltacloud's, plus stacks) on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nubes.cli.session import Fail, handles_failures, out_console, state_dir_option
from nubes.engine.diag import error

if TYPE_CHECKING:
    from nubes.server.config import ServerConfig


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register_serve_command(cli: click.Group) -> None:
    @cli.command("serve")
    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="Server configuration (providers, users, tokens, stacks).",
    )
    @click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on; anything but loopback needs users or tokens.",
    )
    @click.option("--port", type=click.IntRange(1, 65535), default=3001, show_default=True)
    @click.option(
        "--hash-password",
        is_flag=True,
        help="Print the hash of a password for the users: section, and exit.",
    )
    @click.option(
        "--seed",
        type=click.Choice(["mock"]),
        help="Give the sim providers Deltacloud mock's catalog and starting objects.",
    )
    @state_dir_option
    @handles_failures
    def serve(
        config_file: str | None,
        host: str,
        port: int,
        hash_password: bool,
        seed: str | None,
        state_dir: str,
    ) -> None:
        """Serve Deltacloud's REST API (and stacks) in front of the configured drivers."""
        from nubes.server.config import default_config, load_config, token_hash
        from nubes.server.config import hash_password as make_hash

        if hash_password:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            click.echo(make_hash(password))
            return
        if config_file:
            config, diags = load_config(Path(config_file))
            if config is None:
                raise Fail(diags)
        else:
            config = default_config()
        if not _loopback(host) and not config.has_auth:
            raise Fail(
                [
                    error(
                        f"refusing to listen on {host} without authentication",
                        "configure users or tokens in the --config file",
                    )
                ]
            )
        if not config.has_auth:
            token = secrets.token_urlsafe(24)
            config.tokens["session"] = token_hash(token)
            out_console().print(
                f"No users or tokens configured: this run accepts the bearer "
                f"token\n  {token}\n(send it as: Authorization: Bearer <token>)"
            )
        import uvicorn

        from nubes.engine.diag import DiagnosticsError
        from nubes.engine.state import StateError
        from nubes.server.app import create_app

        if seed:
            _mock_catalog(config)
        try:
            app = create_app(config, Path(state_dir), os.environ)
        except DiagnosticsError as exc:
            raise Fail(exc.diags) from None
        except StateError as exc:
            raise Fail(
                [error(str(exc), "the server's backend (the backend block of --config)")]
            ) from None
        if seed:
            added = _seed(app)
            out_console().print(f"Seeded Deltacloud mock's fixtures: {added} objects added")
        out_console().print(
            f"nubes serves the API at http://{host}:{port}/api and the console at "
            f"http://{host}:{port}/console"
        )
        # no proxy headers: X-Forwarded-For would let any client choose its own address (and
        # escape the slow-down of failed logins), X-Forwarded-Proto the scheme of links
        uvicorn.run(
            app,
            host=host,
            port=port,
            server_header=False,
            log_level="warning",
            proxy_headers=False,
        )


def _mock_catalog(config: ServerConfig) -> None:
    """Every sim provider takes Deltacloud mock's catalog (realms, profiles, images)."""
    sims = [p for p in config.providers.values() if p.driver == "sim"]
    if not sims:
        raise Fail([error("--seed mock needs a sim provider", "add one with driver: sim")])
    for provider in sims:
        provider.config["catalog"] = "mock"


def _seed(app: Any) -> int:
    from nubes.providers.sim import SimDriver
    from nubes.providers.sim.fixtures import seed_mock

    drivers = app.state.calls.drivers
    return sum(seed_mock(d.cloud) for d in drivers.values() if isinstance(d, SimDriver))


register = register_serve_command  # what nubes.cli.main calls when one of these commands runs
