"""The rackspace driver against mimic, Rackspace's own emulator (Keystone v2.0 with API keys, and
Nova), which `make test` installs in a virtualenv of its own (.mimic/)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nubes.providers.openstack import RackspaceDriver
from nubes.providers.protocol import DriverContext, Ownership

ROOT = Path(__file__).resolve().parents[3]
TWISTD = ROOT / ".mimic" / "bin" / "twistd"
pytestmark = pytest.mark.skipif(
    not TWISTD.exists(), reason=f"mimic is not installed ({TWISTD}; `make mimic` installs it)"
)


@pytest.fixture(scope="module")
def mimic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tmp_path_factory.mktemp("mimic")
    proc = subprocess.Popen(
        [str(TWISTD), "-n", "--pidfile=", "mimic", "--listen", f"tcp:{port}:interface=127.0.0.1"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/", timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("mimic did not start") from None
            time.sleep(0.2)
    # mimic keeps its own clock: a reboot ends when it has moved on, so move it steadily
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.1):
            with contextlib.suppress(httpx.TransportError):
                httpx.post(url + "/mimic/v1.1/tick", json={"amount": 10.0}, timeout=5)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    yield url
    stop.set()
    ticker.join(10)
    proc.terminate()
    proc.wait(timeout=20)


def driver(url: str, tmp: Path, key: str = "any-key") -> RackspaceDriver:
    d = RackspaceDriver()
    environ = {"RACKSPACE_USERNAME": "nubes", "RACKSPACE_API_KEY": key}
    problems = d.configure(
        {"auth_url": url + "/identity/v2.0", "region": "ord"},
        DriverContext(tmp, environ, {}, threading.Event()),
    )
    assert problems == []
    return d


def test_the_rackspace_driver_runs_a_server_on_mimic(mimic: str, tmp_path: Path) -> None:
    d = driver(mimic, tmp_path)
    compute = d.os.service("compute").base_url
    assert "/ORD/" in compute and compute.endswith(d.os.keystone.token.project_id or "?")
    assert d.os.microversion() is None  # Rackspace's Nova has no microversions
    profiles = {p.id: p for p in d.hardware_profiles()}
    small = profiles["1 GB General Purpose v1"]
    assert (small.cpus, small.memory_gb) == (1, 1)
    images = (d.os.nova("GET", "/images/detail") or {})["images"]
    linux = next(i for i in images if "Ubuntu" in i["name"])
    owner = Ownership("rax", "web", "b" * 32)
    made = d.create(
        "instance",
        {"image": linux["id"], "size": small.id, "name": "rax-web", "tags": {"role": "web"}},
        owner,
    )
    assert made.attributes["state"] == "running" and made.attributes["name"] == "rax-web"
    assert made.attributes["size"] == small.id
    assert made.tags == {"role": "web", **owner.tags()}
    listed = d.list("instance", {"nubes:stack": "rax"})
    assert [o.id for o in listed] == [made.id]
    assert d.act("instance", made.id, "reboot").attributes["state"] == "running"
    d.delete("instance", made.id)
    assert d.list("instance", {"nubes:stack": "rax"}) == []
    assert d.read("instance", made.id) is None
