"""OpenStack's fault documents as typed errors, refresh as one call per type and page, and a
quota met during apply told in the cloud's words."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from nubes.cli.main import cli
from nubes.emulators.openstack.models import Container
from nubes.providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    TransientError,
)
from nubes.providers.openstack import OpenStackDriver, context
from nubes.providers.openstack.errors import fault
from nubes.providers.protocol import DriverContext
from tests.emulator_harness import Running, wait_for
from tests.helpers import write


@pytest.mark.parametrize(
    ("status", "doc", "kind", "code"),
    [
        (
            404,
            {"itemNotFound": {"code": 404, "message": "Instance x could not be found."}},
            NotFoundError,
            "itemNotFound",
        ),
        (
            400,
            {"badRequest": {"code": 400, "message": "Invalid key_name provided."}},
            InvalidRequestError,
            "badRequest",
        ),
        (
            409,
            {"conflictingRequest": {"code": 409, "message": "Cannot 'stop' instance"}},
            ConflictError,
            "conflictingRequest",
        ),
        (
            403,
            {"forbidden": {"code": 403, "message": "Quota exceeded for instances: 10 of 10"}},
            QuotaError,
            "forbidden",
        ),
        (
            403,
            {"forbidden": {"code": 403, "message": "Policy doesn't allow it"}},
            AuthError,
            "forbidden",
        ),
        (
            413,
            {
                "overLimit": {
                    "code": 413,
                    "message": "VolumeLimitExceeded: Maximum number of "
                    "volumes allowed (10) exceeded for quota 'volumes'.",
                }
            },
            QuotaError,
            "overLimit",
        ),
        (
            413,
            {
                "overLimit": {
                    "code": 413,
                    "message": "This request was rate-limited.",
                    "retryAfter": "3",
                }
            },
            TransientError,
            "overLimit",
        ),
        (
            409,
            {
                "NeutronError": {
                    "type": "OverQuota",
                    "message": "Quota exceeded for resources: ['floatingip'].",
                    "detail": "",
                }
            },
            QuotaError,
            "OverQuota",
        ),
        (
            409,
            {"NeutronError": {"type": "SecurityGroupInUse", "message": "in use", "detail": ""}},
            ConflictError,
            "SecurityGroupInUse",
        ),
        (
            404,
            {"NeutronError": {"type": "SecurityGroupNotFound", "message": "no", "detail": ""}},
            NotFoundError,
            "SecurityGroupNotFound",
        ),
        (
            401,
            {"error": {"code": 401, "title": "Unauthorized", "message": "requires auth"}},
            AuthError,
            "Unauthorized",
        ),
        (
            503,
            {"serviceUnavailable": {"code": 503, "message": "try again"}},
            TransientError,
            "serviceUnavailable",
        ),
    ],
)
def test_fault_documents_become_typed_errors(
    status: int, doc: dict[str, Any], kind: type, code: str
) -> None:
    error = fault(httpx.Response(status, json=doc))
    assert type(error) is kind and error.code == code
    message = next(iter(doc.values()))["message"]
    assert str(error) == f"{code}: {message}"


def test_glance_and_swift_text_is_quoted() -> None:
    error = fault(httpx.Response(404, text="404 Not Found\n\nNo image found with ID x\n\n   "))
    assert isinstance(error, NotFoundError) and str(error) == "404: No image found with ID x"


def test_refresh_is_one_call_per_type_and_page(
    emu: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.cloud.knobs.max_instances = 30
    emu.cloud.knobs.max_volumes = 30
    import os

    driver = OpenStackDriver()
    assert (
        driver.configure({}, DriverContext(tmp_path, dict(os.environ), {}, threading.Event())) == []
    )
    from tests.emulators.test_openstack_protocol import token

    tok, _, cat = token(emu)
    image = next(
        i for i in emu.cloud.regional("RegionOne").images.values() if i.name == "cirros-0.6.2"
    )
    owner = {"nubes:stack": "many", "nubes:address": "x", "nubes:token": "1" * 32}
    with httpx.Client(headers={"X-Auth-Token": tok}) as http:
        for n in range(25):
            http.post(
                cat["compute"] + "/servers",
                json={
                    "server": {
                        "name": f"s{n}",
                        "imageRef": image.id,
                        "flavorRef": "1",
                        "metadata": owner,
                    }
                },
            )
            http.post(cat["volumev3"] + "/volumes", json={"volume": {"size": 1, "metadata": owner}})
    wait_for(lambda: all(s.status == "ACTIVE" for s in emu.project().all_servers()))
    monkeypatch.setattr(context, "PAGE", 10)  # 25 objects: three pages each
    driver.hardware_profiles()  # the flavors, asked once per driver, then kept
    before = emu.emulator.requests
    servers = driver.list("instance", {"nubes:stack": "many"})
    # three pages, and one list of the groups' names (servers name their groups)
    assert len(servers) == 25 and emu.emulator.requests - before == 4
    before = emu.emulator.requests
    volumes = driver.list("volume", {"nubes:stack": "many"})
    assert len(volumes) == 25 and emu.emulator.requests - before == 3


def test_a_quota_met_during_apply_is_told_in_the_clouds_words(tmp_path: Path, emu: Running) -> None:
    emu.cloud.knobs.max_instances = 1
    stack = write(
        tmp_path / "q.yaml",
        f"""
        nubes: 1
        name: quota
        providers:
          cloud: {{driver: openstack, auth_url: "{emu.auth_url}"}}
        resources:
          vm: {{type: instance, count: 2, image: debian-12, size: m1.small}}
    """,
    )
    result = CliRunner().invoke(
        cli,
        ["apply", str(stack), "--auto-approve", "--state-dir", str(tmp_path / "state")],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "Quota exceeded for instances: Requested 1, but already used 1 of 1" in result.output
    assert "Traceback" not in result.output
    assert len(emu.project().all_servers()) == 1  # the one that fitted, kept in state
    shown = CliRunner().invoke(
        cli, ["state", "list", str(stack), "--state-dir", str(tmp_path / "state")]
    )
    assert shown.output.count("vm[") == 1


def test_bucket_tags_change_in_place_and_claims_come_and_go(emu: Running, tmp_path: Path) -> None:
    import os

    from nubes.providers.protocol import Ownership

    driver = OpenStackDriver()
    driver.configure({}, DriverContext(tmp_path, dict(os.environ), {}, threading.Event()))
    owner = Ownership("store", "assets", "2" * 32)
    made = driver.create("bucket", {"name": "my assets", "tags": {"team": "web"}}, owner)
    assert made.tags == {"team": "web", **owner.tags()}
    changed = driver.update(
        "bucket", made.id, made.attributes, {**made.attributes, "tags": {"tier": "gold"}}
    )
    assert changed.attributes["tags"] == {"tier": "gold"} and changed.token == owner.token
    driver.unclaim("bucket", made.id)
    assert driver.read("bucket", made.id).tags == {"tier": "gold"}  # type: ignore[union-attr]
    driver.claim("bucket", made.id, owner)
    assert driver.list("bucket", {"nubes:token": owner.token})[0].id == "my assets"
    container = emu.project().containers["my assets"]
    assert container.metadata["nubes-stack"] == "store"


def test_snapshot_tags_change_and_unsendable_tags_are_refused(emu: Running, tmp_path: Path) -> None:
    import os

    from nubes.providers.protocol import Ownership

    driver = OpenStackDriver()
    driver.configure({}, DriverContext(tmp_path, dict(os.environ), {}, threading.Event()))
    volume = driver.create("volume", {"size_gb": 1}, Ownership("s", "v", "3" * 32))
    snap = driver.create(
        "snapshot", {"volume": volume.id, "tags": {"a": "1"}}, Ownership("s", "snap", "4" * 32)
    )
    changed = driver.update(
        "snapshot", snap.id, snap.attributes, {**snap.attributes, "tags": {"b": "2"}}
    )
    assert changed.attributes["tags"] == {"b": "2"} and changed.token == "4" * 32
    with pytest.raises(InvalidRequestError, match="ASCII"):
        driver.create(
            "bucket", {"name": "b", "tags": {"team": "café"}}, Ownership("s", "b", "5" * 32)
        )
    assert "b" not in emu.project().containers  # refused before anything was sent
    emu.project().containers["theirs"] = Container("theirs")  # made by hand
    with pytest.raises(InvalidRequestError, match="not this stack's"):
        driver.create("bucket", {"name": "theirs"}, Ownership("s", "t", "6" * 32))
    assert emu.project().containers["theirs"].metadata == {}  # someone else's, left alone


def test_a_broken_clouds_yaml_never_shows_its_lines(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text('clouds:\n  lab:\n    auth: {password: "s3cr3t\n')
    driver = OpenStackDriver()
    driver.configure(
        {"cloud": "lab"},
        DriverContext(tmp_path, {"OS_CLIENT_CONFIG_FILE": str(clouds)}, {}, threading.Event()),
    )
    with pytest.raises(InvalidRequestError) as failed:
        driver.realms()
    assert str(clouds) in str(failed.value) and "s3cr3t" not in str(failed.value)


def test_volume_realms_are_cinders_zones(emu: Running, tmp_path: Path) -> None:
    import os

    driver = OpenStackDriver()
    driver.configure({}, DriverContext(tmp_path, dict(os.environ), {}, threading.Event()))
    before = emu.emulator.requests
    assert driver.os.volume_zones() == ["nova", "nova-b"]
    assert emu.emulator.requests > before  # asked of Cinder itself
    change = driver.plan_change("volume", None, {"size_gb": 1, "realm": "nowhere"})
    assert [p[0] for p in change.problems] == ["realm"] and "nowhere" in change.problems[0][1]
    assert driver.plan_change("volume", None, {"size_gb": 1, "realm": "nova-b"}).problems == []
