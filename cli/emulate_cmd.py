"""`nubes emulate CLOUD`: a protocol-faithful cloud on 127.0.0.1 (emulators/), for tests,
benchmarks and anyone trying nubes without a cloud. It prints where to point a client and runs
until interrupted."""

from __future__ import annotations

import errno
import importlib

import click

from nubes.cli.session import Fail, handles_failures
from nubes.engine.diag import error

CLOUDS = ("openstack", "rackspace")


def register_emulate_command(cli: click.Group) -> None:
    @cli.command("emulate")
    @click.argument("cloud", type=click.Choice(CLOUDS))
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=5000,
        show_default=True,
        help="Port to listen on (0: any free one).",
    )
    @click.option("--user", default="demo", show_default=True)
    @click.option(
        "--password",
        default="demo",
        show_default=True,
        help="The user's password (Rackspace's API key is PASSWORD-key).",
    )
    @click.option("--project", default="demo", show_default=True)
    @click.option(
        "--boot-seconds",
        type=click.FloatRange(0),
        default=2.0,
        show_default=True,
        help="How long BUILD and every other transition takes.",
    )
    @click.option(
        "--latency-ms",
        type=click.FloatRange(0),
        default=0.0,
        show_default=True,
        help="Added to every answer.",
    )
    @click.option(
        "--fault-rate",
        type=click.FloatRange(0, 1),
        default=0.0,
        show_default=True,
        help="Share of authenticated requests answered 503 before doing anything.",
    )
    @click.option("--token-seconds", type=click.FloatRange(1), default=3600.0, show_default=True)
    @click.option("--max-instances", type=click.IntRange(0), default=10, show_default=True)
    @click.option("--max-volumes", type=click.IntRange(0), default=10, show_default=True)
    @click.option("--max-security-groups", type=click.IntRange(0), default=10, show_default=True)
    @click.option(
        "--rate-limit",
        type=click.IntRange(0),
        default=0,
        show_default=True,
        help="Requests a minute per token before 413 overLimit (0: no limit).",
    )
    @handles_failures
    def emulate(
        cloud: str,
        host: str,
        port: int,
        user: str,
        password: str,
        project: str,
        boot_seconds: float,
        latency_ms: float,
        fault_rate: float,
        token_seconds: float,
        max_instances: int,
        max_volumes: int,
        max_security_groups: int,
        rate_limit: int,
    ) -> None:
        """Run an emulated CLOUD on HOST:PORT until interrupted (OpenStack: Keystone, Nova,
        Glance, Cinder, Neutron and Swift; Rackspace: the same with Rackspace's catalog)."""
        from nubes.emulators import EMULATORS

        server = importlib.import_module(EMULATORS[cloud])
        knobs = server.Knobs(
            boot_seconds=boot_seconds,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            token_seconds=token_seconds,
            max_instances=max_instances,
            max_volumes=max_volumes,
            max_security_groups=max_security_groups,
            rate_limit=rate_limit,
            style=cloud,
        )

        def ready(auth_url: str) -> None:
            click.echo(f"{cloud} emulator: Keystone at {auth_url}", err=True)
            click.echo(f"export OS_AUTH_URL={auth_url}")
            click.echo(f"export OS_USERNAME={user} OS_PASSWORD={password}")
            click.echo(
                f"export OS_PROJECT_NAME={project} OS_USER_DOMAIN_NAME=Default "
                "OS_PROJECT_DOMAIN_NAME=Default"
            )
            click.echo(f"export OS_REGION_NAME={'DFW' if cloud == 'rackspace' else 'RegionOne'}")
            click.echo("(Ctrl-C stops it)", err=True)

        try:
            server.serve(host, port, knobs, ready=ready, users=[(user, password, project)])
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise Fail(
                [
                    error(
                        f"cannot listen on {host}:{port}: {why}",
                        "choose another with --port (0 takes any free one)",
                    )
                ]
            ) from None
        except KeyboardInterrupt:
            pass


register = register_emulate_command  # what nubes.cli.main calls when this command runs
