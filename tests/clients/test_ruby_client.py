"""Deltacloud's own kind of client, unchanged: a Ruby rest-client script of the whole workflow
(tests/clients/deltacloud_workflow.rb) against `nubes serve --seed mock`, as a user of
Deltacloud's mock driver (mockuser/mockpassword) would run it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nubes.server.config import hash_password

SCRIPT = Path(__file__).with_name("deltacloud_workflow.rb")


def _ruby_with_rest_client() -> str | None:
    ruby = shutil.which("ruby")
    if ruby is None:
        return None
    found = subprocess.run([ruby, "-e", 'require "rest-client"'], capture_output=True)
    return ruby if found.returncode == 0 else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_ruby_rest_client_runs_the_whole_workflow(tmp_path: Path) -> None:
    ruby = _ruby_with_rest_client()
    if ruby is None:
        pytest.skip("ruby and ruby-rest-client are not installed (make test installs them)")
    config = tmp_path / "server.yaml"
    config.write_text(
        "providers:\n  mock: {driver: sim}\n"
        f"users:\n  mockuser: '{hash_password('mockpassword')}'\n"
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nubes", "serve", "--seed", "mock", "--config", str(config),
         "--port", str(port), "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    out = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"nubes serve did not start: {out}")
                time.sleep(0.1)
        run = subprocess.run(
            [ruby, str(SCRIPT), url, "mockuser", "mockpassword"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        last = run.stdout.strip().splitlines()[-1]
        assert last.startswith("workflow complete: ")
        steps = int(last.split(": ")[1].split()[0])
        assert steps == run.stdout.count("ok ") and steps >= 80  # every step ran, and passed
    finally:
        server.terminate()
        server.wait(timeout=30)
