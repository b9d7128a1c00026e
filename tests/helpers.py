"""Running the engine end to end from tests, without the CLI."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from nubes.engine.apply import ApplyOptions, ApplyResult, apply
from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers, configure_drivers
from nubes.engine.plan import Plan, PlanOptions, plan_from_backend
from nubes.engine.stack import Stack, load_stack, resolve_variables
from nubes.engine.stack_outputs import read_stack_outputs
from nubes.engine.state import LocalBackend

# credentials for the local moto server (moto accepts any); never real ones
FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto server on a free port of 127.0.0.1; returns the process and its endpoint."""
    # the project's own moto (the one pyproject.toml pins), never whatever else is on PATH
    binary = str(Path(sys.executable).parent / "moto_server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


def kill_after_creates(args: list[str], cwd: Path, env: dict[str, str], creates: int) -> None:
    """Run an apply and SIGKILL it once `creates` objects were created: a run killed in the
    middle, at an instant the test chooses by what happened, not by the clock."""
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    created = 0
    while created < creates:
        line = proc.stdout.readline()
        assert line, "apply ended before the kill"
        created += "Created after" in line
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def load(stack_file: Path, variables: dict[str, str] | None = None) -> tuple[Stack, dict[str, Any]]:
    stack, diags = load_stack(stack_file)
    assert stack is not None, [str(d) for d in diags]
    values, vdiags = resolve_variables(stack, variables or {}, [], {})
    assert not vdiags.has_errors, [d.summary for d in vdiags]
    return stack, values


def drivers_for(stack: Stack, values: dict[str, Any], state_dir: Path) -> Drivers:
    drivers, diags = configure_drivers(stack, values, state_dir, {})
    assert not diags.has_errors, [d.summary for d in diags]
    return drivers


def make_plan(
    stack_file: Path,
    state_dir: Path,
    variables: dict[str, str] | None = None,
    destroy: bool = False,
) -> tuple[Plan | None, Diagnostics]:
    stack, values = load(stack_file, variables)
    drivers = drivers_for(stack, values, state_dir)
    backend = LocalBackend(state_dir, stack.name)
    read = read_stack_outputs(stack, values, None, state_dir, {})  # as operations.plan does
    if read.has_errors:
        return None, read
    return plan_from_backend(stack, values, backend, drivers, PlanOptions(destroy=destroy))


def plan_and_apply(
    stack_file: Path,
    state_dir: Path,
    variables: dict[str, str] | None = None,
    destroy: bool = False,
    parallelism: int = 10,
) -> ApplyResult:
    stack, values = load(stack_file, variables)
    drivers = drivers_for(stack, values, state_dir)
    backend = LocalBackend(state_dir, stack.name)
    read_stack_outputs(stack, values, None, state_dir, {})
    result, diags = plan_from_backend(stack, values, backend, drivers, PlanOptions(destroy=destroy))
    assert result is not None, [d.summary for d in diags]
    return apply(result, drivers, backend, ApplyOptions(parallelism=parallelism))


def actions(result: Plan) -> dict[str, str]:
    return {c.key: str(c.action) for c in result.changes}
