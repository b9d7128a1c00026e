"""The OpenStack emulator on 127.0.0.1 for the driver's tests, emptied for each test, with
OpenStack's own variables set as a user's shell would have them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nubes.emulators.openstack.models import Knobs
from tests.emulator_harness import Running, openstack

OS_ENV = {
    "OS_USERNAME": "demo",
    "OS_PASSWORD": "demo",
    "OS_PROJECT_NAME": "demo",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
    "OS_REGION_NAME": "RegionOne",
}


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with openstack(Knobs(boot_seconds=0.2)) as found:
        yield found


@pytest.fixture
def emu(running: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Running:
    running.cloud.knobs = Knobs(boot_seconds=0.2)
    running.cloud.reset()
    for key in [k for k in __import__("os").environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    for key, value in {**OS_ENV, "OS_AUTH_URL": running.auth_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NUBES_CREDENTIALS_FILE", str(tmp_path / "no-credentials.yaml"))
    return running
