"""`nubes serve` as a user starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.server.config import check_password
from tests.helpers import write


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_loopback_without_users_gets_a_one_run_token(tmp_path: Path) -> None:
    port = _port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nubes",
            "serve",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        token = lines[1].strip()
        url = f"http://127.0.0.1:{port}/api/realms"  # the entry point itself is open
        deadline = time.monotonic() + 20
        while True:
            try:
                bare = httpx.get(url)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, lines
                time.sleep(0.1)
        assert bare.status_code == 401
        ok = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.headers["Server"].startswith("Apache-Deltacloud/")
        assert "uvicorn" not in ok.headers.get("server", "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_other_addresses_need_configured_auth(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without authentication" in result.output


def test_config_errors_and_password_hashes(tmp_path: Path) -> None:
    hashed = CliRunner().invoke(cli, ["serve", "--hash-password"], input="s3cret\ns3cret\n")
    stored = hashed.output.strip().splitlines()[-1]
    assert check_password("s3cret", stored) and not check_password("other", stored)
    config = write(
        tmp_path / "server.yaml",
        """
        default_provider: nowhere
        providers:
          home: {driver: sim}
        users:
          admin: plain-text-password
        colour: blue
    """,
    )
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and "unknown key 'colour'" in result.output
    config.write_text(config.read_text().replace("colour: blue\n", ""))
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert (
        "store a password hash (nubes serve --hash-password), never the password" in result.output
    )
    assert "default_provider 'nowhere' is not one of the providers" in result.output


def test_a_server_backend_is_checked_and_an_unreachable_one_is_a_clear_error(
    tmp_path: Path,
) -> None:
    config = write(
        tmp_path / "server.yaml",
        """
        backend: {type: s3, bucket: team-state}
        """,
    )
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and "server.yaml:1:" in result.output
    assert "a server's backend is local or postgres" in result.output
    config.write_text("backend: {type: postgres, password: hunter2}\n")
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and "credentials never go in" in result.output
    assert "hunter2" not in result.output
    config.write_text("backend: {type: postgres}\n")
    result = CliRunner().invoke(
        cli,
        ["serve", "--config", str(config), "--port", str(_port()), "--state-dir", str(tmp_path)],
        env={"PGHOST": "127.0.0.1", "PGPORT": str(_port()), "PGPASSWORD": "s3cret-pw",
             "PGCONNECT_TIMEOUT": "2"},  # nothing listens there
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "cannot connect to the PostgreSQL backend" in result.output
    assert "Traceback" not in result.output and "s3cret-pw" not in result.output
    assert not (tmp_path / "activity.jsonl").exists()
