"""The console at scale: 1,000 and 10,000 instances across three sim clouds (each call 20 ms
late), side by side with the same listing through the API (`/api/clouds/instances`).

For each size, the server (`nubes serve`'s app on 127.0.0.1) is seeded, its inventory refreshed
once, and then each page is asked 7 times by a signed-in client; the table shows the median time
to the first byte of the answer: the overview, the first, a middle and the last instances page,
a text filter (the same one again, and a new one each time, which no cache answers), a state
filter sorted by image, and the aggregated API listing (which asks every cloud on each request).
Then, in the process, a new text filter the old way (filter every row, then sort what passed)
beside the new (one scan of the order, sorted once per inventory version), and that sort.
Target (issue 12): every page under 300 ms at any page number, and growth from 1,000 to 10,000
instances under 2x.

Run: python bench/console_scale.py
"""

from __future__ import annotations

import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nubes.engine.stack.model import Provider  # noqa: E402
from nubes.providers.sim.store import Row  # noqa: E402
from nubes.server.app import create_app  # noqa: E402
from nubes.server.config import Limits, ServerConfig, hash_password  # noqa: E402
from nubes.server.console import console_of  # noqa: E402
from nubes.server.console.table import Query, Sorted, _key, passes  # noqa: E402

PASSWORD = "bench-password"
CLOUDS = ("home", "lab", "edge")
RUNS = 7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(app: object, total: int) -> None:
    drivers = app.state.calls.drivers  # type: ignore[attr-defined]
    for c, name in enumerate(CLOUDS):
        cloud = drivers[name].cloud
        with cloud.store.transaction():
            for i in range(c, total, len(CLOUDS)):
                attrs = {
                    "name": f"vm-{i:05d}",
                    "image": "img-debian-12",
                    "image_id": "img-debian-12",
                    "size": "small",
                    "hardware_profile": "small",
                    "cpus": 1,
                    "memory_gb": 2,
                    "realm": cloud.region + "a",
                    "key": None,
                    "firewalls": [],
                    "user_data": None,
                    "state": "running" if i % 4 else "stopped",
                    "ready_at": 0,
                    "public_ip": f"198.51.{i // 250}.{i % 250}",
                    "private_ip": f"10.0.{i // 250}.{i % 250}",
                    "subnet": None,
                    "owner": "bench",
                    "launched_at": "2026-12-01T00:00:00Z",
                }
                cloud.store.insert(Row(f"i-{name}-{i:06d}", "instance", cloud.region, attrs, {}, 0))


def first_byte(client: httpx.Client, path: str) -> float:
    """`path` may hold `{run}`: each run then asks a new query (no cached answer to reuse)."""
    times = []
    for run in range(RUNS):
        start = time.perf_counter()
        with client.stream("GET", path.format(run=run)) as answer:
            assert answer.status_code == 200, (path, answer.status_code)
            times.append(time.perf_counter() - start)
            answer.read()
    return statistics.median(times) * 1000


def new_filters(app: object) -> dict[str, float]:
    """A new text filter each time, in the process: the old way (filter every row, then sort
    what passed) beside the new (the rows taken from the order, sorted once per inventory
    version, by one scan), and what sorting that order once costs."""
    inventory = console_of(app).inventory
    rows, version = inventory.rows(), inventory.version
    queries = [Query(text=f"vm-{run}", sort="realm", descending=True) for run in range(RUNS)]
    queries += [Query(text=f".{run}.1", sort="image") for run in range(RUNS)]
    old, new = [], []
    for q in queries:
        start = time.perf_counter()
        found = sorted((r for r in rows if passes(r, q)), key=_key(q.sort))
        if q.descending:
            found.reverse()
        old.append(time.perf_counter() - start)
    sorted_ = Sorted()
    start = time.perf_counter()
    sorted_.page(rows, version, Query(sort="realm", descending=True))
    sorted_.page(rows, version, Query(sort="image"))
    once = (time.perf_counter() - start) / 2
    for q in queries:
        start = time.perf_counter()
        page = sorted_.page(rows, version, q)
        new.append(time.perf_counter() - start)
        assert page.total == sum(1 for r in rows if passes(r, q))
    return {
        "in process: old, filter then sort": statistics.median(old) * 1000,
        "in process: new, scan the sorted order": statistics.median(new) * 1000,
        "in process: sorting an order, once": once * 1000,
    }


def measure(total: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="nubes-console-bench-"))
    config = ServerConfig(
        providers={n: Provider(n, "sim", {"region": f"{n}-1", "latency_ms": 20}) for n in CLOUDS},
        default_provider=CLOUDS[0],
        users={"admin": hash_password(PASSWORD)},
        limits=Limits(provider_seconds=60, refresh_seconds=3600),
    )
    app = create_app(config, work / "state", {})
    seed(app, total)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=120)
    client.post("/console/login", data={"user": "admin", "password": PASSWORD})
    deadline = time.monotonic() + 120
    while f"{total} instances" not in client.get("/console/instances").text:
        if time.monotonic() > deadline:
            raise RuntimeError("the inventory did not fill")
        time.sleep(0.2)
    last = total // 50
    found = {
        "overview": first_byte(client, "/console"),
        "instances, page 1": first_byte(client, "/console/instances"),
        "instances, middle page": first_byte(client, f"/console/instances?page={last // 2}"),
        "instances, last page": first_byte(client, f"/console/instances?page={last}"),
        "filter: text": first_byte(client, "/console/instances?q=vm-0042"),
        "filter: text, a new one each time": first_byte(
            client, "/console/instances?q=vm-{run}&sort=-realm"
        ),
        "filter: state, by image": first_byte(
            client, f"/console/instances?state=stopped&sort=-image&page={last // 8}"
        ),
    }
    api = httpx.Client(base_url=url, timeout=120, auth=("admin", PASSWORD))
    found["API /api/clouds/instances (JSON)"] = first_byte(
        api.__enter__(), "/api/clouds/instances?format=json"
    )
    page = client.get("/console/instances").text
    assert len(re.findall(r'<tr id="row-', page)) == 50
    found.update(new_filters(app))
    server.should_exit = True
    return found


def main() -> None:
    small, large = measure(1_000), measure(10_000)
    print(f"{'time to first byte, median of 7 (ms)':<40} {'1,000':>9} {'10,000':>9} {'growth':>8}")
    for key in small:
        growth = large[key] / small[key] if small[key] else float("nan")
        print(f"{key:<40} {small[key]:>9.1f} {large[key]:>9.1f} {growth:>7.2f}x")
    pages = [k for k in small if not k.startswith(("API", "in process"))]
    worst = max(large[k] for k in pages)
    growth = max(large[k] / small[k] for k in pages)
    print(f"\nslowest console page at 10,000: {worst:.1f} ms (target < 300 ms)")
    print(f"largest growth 1,000 -> 10,000: {growth:.2f}x (target < 2x)")


if __name__ == "__main__":
    main()
