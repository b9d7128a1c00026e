"""An emulated cloud (emulators/) on a free port of 127.0.0.1, in a thread of the test process,
so that a test can reset it and turn its knobs between clients' calls."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from nubes.emulators.openstack.models import Cloud, Knobs, Project
from nubes.emulators.openstack.server import Emulator


@dataclass
class Running:
    emulator: Emulator
    base: str

    @property
    def cloud(self) -> Cloud:
        return self.emulator.cloud

    @property
    def auth_url(self) -> str:
        return self.base + "/identity"

    def project(self, name: str = "demo", region: str | None = None) -> Project:
        """A project's state in the emulator, read directly (what the cloud really holds)."""
        pid = self.cloud.project_named(name)
        assert pid is not None
        return self.cloud.project(pid, region or self.cloud.regions[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def openstack(knobs: Knobs | None = None) -> Iterator[Running]:
    emulator = Emulator(Cloud(knobs or Knobs(boot_seconds=0.2)))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(emulator, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start")
        time.sleep(0.02)
    try:
        yield Running(emulator, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)


def wait_for(probe, timeout: float = 30.0, pause: float = 0.05):  # type: ignore[no-untyped-def]
    """The first true value `probe()` returns, polling: a state the emulator reaches on its own
    clock (BUILD to ACTIVE), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {probe}")
        time.sleep(pause)
