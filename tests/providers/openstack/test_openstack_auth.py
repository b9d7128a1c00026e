"""Where the driver's credentials come from, Keystone's versions and methods, token renewal,
the catalog's choices, and the diagnostics when any of it is wrong."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from nubes.emulators.openstack.models import Knobs
from nubes.providers.errors import AuthError, InvalidRequestError
from nubes.providers.openstack import OpenStackDriver, RackspaceDriver
from nubes.providers.openstack.auth import Endpoint, choose_endpoint
from nubes.providers.protocol import DriverContext
from tests.emulator_harness import Running, openstack


def configured(
    driver: Any,
    config: dict[str, Any],
    environ: dict[str, str],
    tmp: Path,
    credentials: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    context = DriverContext(tmp, environ, credentials or {}, threading.Event())
    problems: list[tuple[str, str]] = driver.configure(config, context)
    return problems


def env(emu: Running, **more: str) -> dict[str, str]:
    return {
        "OS_AUTH_URL": emu.auth_url,
        "OS_USERNAME": "demo",
        "OS_PASSWORD": "demo",
        "OS_PROJECT_NAME": "demo",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        **more,
    }


def test_os_variables_authenticate_with_keystone_v3(emu: Running, tmp_path: Path) -> None:
    driver = OpenStackDriver()
    assert configured(driver, {"region": "RegionOne"}, env(emu), tmp_path) == []
    assert [p.id for p in driver.hardware_profiles()][:2] == ["m1.tiny", "m1.small"]
    assert [r.id for r in driver.realms()] == ["nova", "nova-b"]
    token = driver.os.keystone.token
    assert token.project_id == emu.cloud.project_named("demo")
    assert driver.os.microversion() == "2.79"


def test_keystone_v2_and_application_credentials(emu: Running, tmp_path: Path) -> None:
    v2 = OpenStackDriver()
    assert configured(v2, {"identity_version": "2.0"}, env(emu), tmp_path) == []
    assert v2.realms()
    import httpx

    from tests.emulators.test_openstack_protocol import token

    tok, pid, _ = token(emu)
    user = emu.cloud.tokens[tok].user.id
    made = httpx.post(
        f"{emu.auth_url}/v3/users/{user}/application_credentials",
        headers={"X-Auth-Token": tok},
        json={"application_credential": {"name": "ci"}},
    ).json()
    secret = made["application_credential"]
    app = OpenStackDriver()
    environ = {
        "OS_AUTH_URL": emu.auth_url,
        "OS_APPLICATION_CREDENTIAL_ID": secret["id"],
        "OS_APPLICATION_CREDENTIAL_SECRET": secret["secret"],
    }
    assert configured(app, {}, environ, tmp_path) == []
    assert app.os.keystone.token.project_id == pid
    wrong = OpenStackDriver()
    environ["OS_APPLICATION_CREDENTIAL_SECRET"] = "not-it"
    assert configured(wrong, {}, environ, tmp_path) == []
    with pytest.raises(AuthError, match="refused the credentials"):
        wrong.realms()


def test_a_clouds_yaml_entry_and_the_credentials_file(emu: Running, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"""
clouds:
  lab:
    region_name: RegionOne
    auth:
      auth_url: {emu.auth_url}
      username: demo
      password: demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
""")
    driver = OpenStackDriver()
    environ = {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    assert configured(driver, {"cloud": "lab"}, environ, tmp_path) == []
    assert driver.realms()
    missing = OpenStackDriver()
    assert configured(missing, {"cloud": "elsewhere"}, environ, tmp_path) == []
    with pytest.raises(InvalidRequestError, match=r"no cloud named 'elsewhere' in clouds\.yaml"):
        missing.realms()
    stored = OpenStackDriver()
    credentials = {"username": "demo", "password": "demo", "project_name": "demo"}
    assert configured(stored, {"auth_url": emu.auth_url}, {}, tmp_path, credentials) == []
    assert stored.realms()


def test_no_credentials_is_a_clear_problem(emu: Running, tmp_path: Path) -> None:
    # configuring asks for nothing (`nubes validate` needs no credentials); the first call says
    anonymous = OpenStackDriver()
    assert configured(anonymous, {"auth_url": emu.auth_url}, {}, tmp_path) == []
    assert anonymous.info().name == "openstack"
    with pytest.raises(AuthError, match="OS_USERNAME and OS_PASSWORD"):
        anonymous.realms()
    nowhere = OpenStackDriver()
    assert configured(nowhere, {}, {}, tmp_path) == []
    with pytest.raises(AuthError, match="no auth URL"):
        nowhere.hardware_profiles()
    bad = configured(
        OpenStackDriver(), {"endpoints": {"dns": "http://x"}, "region": ""}, env(emu), tmp_path
    )
    assert [p[0] for p in bad] == ["region"]
    bad = configured(OpenStackDriver(), {"endpoints": {"dns": "http://x"}}, env(emu), tmp_path)
    assert bad == [
        (
            "endpoints",
            "endpoints has no service 'dns' (services: compute, image, "
            "volume, network, object-store)",
        )
    ]


def test_an_expired_token_is_renewed(emu: Running, tmp_path: Path) -> None:
    driver = OpenStackDriver()
    configured(driver, {}, env(emu), tmp_path)
    driver.realms()
    first = driver.os.keystone.token.id
    emu.cloud.tokens[first].expires = 0  # Keystone forgot it (revoked, or its hour is up)
    assert [p.id for p in driver.hardware_profiles()]  # a 401, a new token, the same call again
    assert driver.os.keystone.token.id != first


def test_endpoint_overrides_and_the_catalog_choice(emu: Running, tmp_path: Path) -> None:
    driver = OpenStackDriver()
    pid = emu.cloud.project_named("demo")
    compute = f"{emu.base}/compute/v2.1/{pid}"
    configured(driver, {"endpoints": {"compute": compute}}, env(emu), tmp_path)
    assert driver.os.service("compute").base_url == compute
    catalog = [
        Endpoint("compute", "nova", "RegionOne", "internal", "http://inside"),
        Endpoint("compute", "nova", "RegionOne", "public", "http://outside"),
        Endpoint("compute", "cloudServers", "DFW", "public", "http://first-gen"),
        Endpoint("compute", "cloudServersOpenStack", "DFW", "public", "http://next-gen"),
        Endpoint("volumev2", "cinderv2", "RegionOne", "public", "http://v2"),
    ]
    names = ("nova", "cloudServersOpenStack")
    assert choose_endpoint(catalog, ("compute",), names, "RegionOne", "public") == "http://outside"
    assert choose_endpoint(catalog, ("compute",), names, "RegionOne", "internal") == "http://inside"
    assert choose_endpoint(catalog, ("compute",), names, "dfw", "public") == "http://next-gen"
    assert (
        choose_endpoint(
            catalog, ("block-storage", "volumev3", "volumev2"), (), "RegionOne", "public"
        )
        == "http://v2"
    )
    assert choose_endpoint(catalog, ("compute",), names, "LON", "public") is None
    nowhere = OpenStackDriver()
    configured(nowhere, {"region": "Mars"}, env(emu), tmp_path)
    with pytest.raises(Exception, match="no compute service in region Mars"):
        nowhere.realms()


def test_rackspace_authenticates_with_an_api_key_in_its_regions(tmp_path: Path) -> None:
    with openstack(Knobs(boot_seconds=0.2, style="rackspace")) as emu:
        emu.cloud.reset()
        environ = {"RACKSPACE_USERNAME": "demo", "RACKSPACE_API_KEY": "demo-key"}
        driver = RackspaceDriver()
        config = {"auth_url": emu.auth_url + "/v2.0", "region": "ord"}
        assert configured(driver, config, environ, tmp_path) == []
        assert driver.os.region == "ORD"
        assert driver.os.service("compute").base_url.startswith(emu.base + "/regions/ORD/")
        assert driver.os.microversion() == "2.79"
        assert next(p.id for p in driver.hardware_profiles()) == "m1.tiny"
        bad = configured(RackspaceDriver(), {"region": "AMS"}, environ, tmp_path)
        assert bad == [
            ("region", "region must be one of Rackspace's: DFW, ORD, IAD, LON, SYD, HKG")
        ]
        wrong = RackspaceDriver()
        configured(wrong, config, {**environ, "RACKSPACE_API_KEY": "nope"}, tmp_path)
        with pytest.raises(AuthError, match="Username or api key is invalid"):
            wrong.realms()
