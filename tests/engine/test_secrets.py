"""Secrets: shown as (sensitive) everywhere a person or a log sees them; credentials never
written anywhere at all."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from tests.helpers import write

API_KEY = "sk-live-d3adb33f-never-write-me"
PASSWORD = "var-secret-Pa55word"

STACK = f"""
nubes: 1
name: secrets
variables:
  password: {{type: string, sensitive: true}}
providers:
  home: {{driver: sim, api_key_sha256: {hashlib.sha256(API_KEY.encode()).hexdigest()}}}
resources:
  deploy: {{type: key, name: secret-key}}
  vm:
    type: instance
    image: debian-12
    size: tiny
    key: ${{deploy.name}}
    user_data: "password=${{var.password}}"
outputs:
  password: {{value: "${{var.password}}", sensitive: true}}
  key_name: ${{deploy.name}}
"""


def run(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        [*args, "--state-dir", str(tmp / "state")],
        env={"NUBES_CREDENTIALS_FILE": str(tmp / "none.yaml"), **(env or {})},
        catch_exceptions=False,
    )
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def everything_written(tmp: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace")
        for p in tmp.rglob("*")
        if p.is_file() and p.suffix != ".sqlite" and "-wal" not in p.name
    )


def test_credentials_and_secrets_stay_out_of_sight(tmp_path: Path) -> None:
    stack = str(write(tmp_path / "s.yaml", STACK))
    env = {"NUBES_SIM_API_KEY": API_KEY, "NUBES_VAR_password": PASSWORD}
    shown = []
    for args in (
        ["plan", stack, "--out", str(tmp_path / "p.plan")],
        ["apply", str(tmp_path / "p.plan")],
        ["plan", stack, "--json"],
        ["apply", stack, "--auto-approve", "--json"],
        ["show", stack],
        ["show", stack, "--json"],
        ["output", stack],
        ["output", stack, "--json"],
        ["history", stack, "--json"],
        ["state", "show", stack, "deploy"],
        ["inventory", stack],
    ):
        code, text = run(tmp_path, *args, env=env)
        assert code == 0, (args, text)
        shown.append(text)
    seen = "\n".join(shown)
    assert "(sensitive)" in seen
    assert PASSWORD not in seen and API_KEY not in seen
    state = json.loads((tmp_path / "state" / "secrets.json").read_text())
    private_key = next(r for r in state["resources"] if r["address"] == "deploy")["attributes"][
        "private_key"
    ]
    assert private_key and private_key not in seen
    # the credential is nowhere on disk: not in state, backups, history, journal or plan files
    assert API_KEY not in everything_written(tmp_path)


def test_missing_and_wrong_keys(tmp_path: Path) -> None:
    stack = str(write(tmp_path / "s.yaml", STACK))
    env = {"NUBES_VAR_password": PASSWORD}
    code, text = run(tmp_path, "plan", stack, env=env)
    assert code == 1 and "needs an API key: set NUBES_SIM_API_KEY" in text
    code, text = run(tmp_path, "plan", stack, env={**env, "NUBES_SIM_API_KEY": "nope-1234"})
    assert code == 1 and "AuthFailure: the sim cloud refused the API key" in text
    assert "nope-1234" not in text


def test_credentials_file(tmp_path: Path) -> None:
    stack = str(write(tmp_path / "s.yaml", STACK))
    creds = tmp_path / "creds.yaml"
    creds.write_text(f"home: {{api_key: {API_KEY}}}\n")
    os.chmod(creds, 0o644)
    env = {"NUBES_CREDENTIALS_FILE": str(creds), "NUBES_VAR_password": PASSWORD}
    code, text = run(tmp_path, "plan", stack, env=env)
    assert code == 1 and "is readable by others; run chmod 600" in text
    os.chmod(creds, 0o600)
    code, text = run(tmp_path, "apply", stack, "--auto-approve", env=env)
    assert code == 0, text
    assert API_KEY not in everything_written(tmp_path / "state")


@pytest.mark.parametrize("key", ["api_key", "secret_access_key", "admin_password"])
def test_a_credential_in_the_stack_is_refused(tmp_path: Path, key: str) -> None:
    stack = str(
        write(
            tmp_path / "s.yaml",
            f"""
        nubes: 1
        name: leak
        providers:
          home: {{driver: sim, {key}: oops}}
    """,
        )
    )
    code, text = run(tmp_path, "validate", stack)
    assert code == 1 and f"'{key}' looks like a credential" in text and ":4:" in text


DERIVED = """
nubes: 1
name: derived
variables:
  secret: {type: string, default: s3cr3t-value, sensitive: true}
resources:
  web:
    type: instance
    image: ubuntu-24.04
    size: small
    user_data: "password=${var.secret}"
    tags: {note: "${var.secret}"}
  vol:
    type: volume
    size_gb: 1
    name: "v-${web.user_data}"
outputs:
  derived: ${vol.name}
"""


def _everything_shown(tmp: Path) -> str:
    """What a person or a script sees of the stack through every reading command."""
    stack = str(tmp / "s.yaml")
    shown = []
    for args in (
        ["show", stack],
        ["show", stack, "--json"],
        ["state", "show", stack, "web"],
        ["state", "show", stack, "vol"],
        ["plan", stack],
        ["plan", stack, "--json"],
        ["output", stack],
        ["output", stack, "--json"],
    ):
        code, out = run(tmp, *args)
        assert code == 0, (args, out)
        shown.append(out)
    return "\n".join(shown)


def test_values_built_from_secrets_stay_hidden_after_state_rm_and_import(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", DERIVED)
    stack = str(tmp_path / "s.yaml")
    code, out = run(tmp_path, "apply", stack, "--auto-approve")
    assert code == 0, out
    assert "s3cr3t" not in out
    assert "s3cr3t" not in _everything_shown(tmp_path)
    code, listed = run(tmp_path, "state", "list", stack, "--json")
    ids = {r["address"]: r["id"] for r in json.loads(listed)}
    for addr in ("web", "vol"):
        assert run(tmp_path, "state", "rm", stack, addr)[0] == 0
        assert run(tmp_path, "import", stack, addr, ids[addr])[0] == 0
    shown = _everything_shown(tmp_path)
    assert "s3cr3t" not in shown
    assert shown.count("(sensitive)") >= 8


def test_a_plan_shows_drift_of_a_secret_as_sensitive(tmp_path: Path) -> None:
    write(tmp_path / "s.yaml", DERIVED)
    stack = str(tmp_path / "s.yaml")
    assert run(tmp_path, "apply", stack, "--auto-approve")[0] == 0
    state = json.loads((tmp_path / "state" / "derived.json").read_text())
    vol = next(r for r in state["resources"] if r["address"] == "vol")
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "sim" / "cloud.sqlite") as db:
        attrs = json.loads(
            db.execute("SELECT attrs FROM objects WHERE id=?", (vol["id"],)).fetchone()[0]
        )
        attrs["name"] = "v-changed-s3cr3t-outside"
        db.execute("UPDATE objects SET attrs=? WHERE id=?", (json.dumps(attrs), vol["id"]))
    for args in (["plan", stack], ["plan", stack, "--json"]):
        code, out = run(tmp_path, *args)
        assert code == 0 and "s3cr3t" not in out, out


def test_picking_a_plain_attribute_of_objects_with_secrets_is_not_secret(tmp_path: Path) -> None:
    write(
        tmp_path / "s.yaml",
        """
        nubes: 1
        name: picked
        variables:
          secret: {type: string, default: s3cr3t-value, sensitive: true}
        resources:
          web:
            type: instance
            count: 2
            image: ubuntu-24.04
            size: small
            user_data: "password=${var.secret}"
        outputs:
          ips: ${web | map(attribute="private_ip") | list}
          data: ${web | map(attribute="user_data") | list}
          whole: ${web}
        """,
    )
    code, out = run(tmp_path, "apply", str(tmp_path / "s.yaml"), "--auto-approve")
    assert code == 0, out
    code, shown = run(tmp_path, "output", str(tmp_path / "s.yaml"), "--json")
    outputs = json.loads(shown)
    assert outputs["ips"]["sensitive"] is False and len(outputs["ips"]["value"]) == 2
    assert outputs["data"]["sensitive"] is True and outputs["whole"]["sensitive"] is True
    assert "s3cr3t" not in shown
