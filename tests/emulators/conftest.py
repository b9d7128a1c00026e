from __future__ import annotations

from collections.abc import Iterator

import pytest

from nubes.emulators.openstack.models import Knobs
from tests.emulator_harness import Running, openstack


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with openstack(Knobs(boot_seconds=0.2)) as found:
        yield found


@pytest.fixture
def emu(running: Running) -> Running:
    """The module's emulator, emptied and with its knobs back to the defaults for each test."""
    running.cloud.knobs = Knobs(boot_seconds=0.2)
    running.cloud.reset()
    return running
