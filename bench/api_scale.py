"""The REST API's collections at scale: 1,000 and 10,000 instances across three sim clouds (each
call 20 ms late, as in bench/console_scale.py), asked through `nubes serve`'s app on 127.0.0.1
with Basic credentials.

Side by side for each size: a page of 100 (`page`, `per_page`) at the start, the middle and the
end of one cloud's `/api/instances` and of the aggregated `/api/clouds/instances`, in JSON and
in XML, against the whole collection (what Deltacloud answers, and what every listing answered
before pages). The table shows the median time to the first byte of 7 runs. Target (issue 15):
a page costs about the same however large the cloud (growth from 1,000 to 10,000 under 2x).

Run: python bench/api_scale.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from console_scale import CLOUDS, PASSWORD, first_byte, free_port, seed

from nubes.engine.stack.model import Provider
from nubes.server.app import create_app
from nubes.server.config import Limits, ServerConfig, hash_password

PER_PAGE = 100


def measure(total: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="nubes-api-bench-"))
    config = ServerConfig(
        providers={n: Provider(n, "sim", {"region": f"{n}-1", "latency_ms": 20}) for n in CLOUDS},
        default_provider=CLOUDS[0],
        users={"admin": hash_password(PASSWORD)},
        limits=Limits(provider_seconds=120, refresh_seconds=3600),
    )
    app = create_app(config, work / "state", {})
    seed(app, total)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=300, auth=("admin", PASSWORD))
    one_cloud = -(-total // len(CLOUDS))  # the first cloud holds a third
    found: dict[str, float] = {}
    for fmt in ("json", "xml"):
        for where, count in (("/api/instances", one_cloud), ("/api/clouds/instances", total)):
            last = -(-count // PER_PAGE)
            for label, page in (("first", 1), ("middle", last // 2 or 1), ("last", last)):
                path = f"{where}?format={fmt}&page={page}&per_page={PER_PAGE}"
                found[f"{where} {fmt}, {label} page"] = first_byte(client, path)
            found[f"{where} {fmt}, whole (before)"] = first_byte(client, f"{where}?format={fmt}")
    answer = client.get(f"/api/clouds/instances?format=json&page=1&per_page={PER_PAGE}")
    assert answer.headers["X-Total-Count"] == str(total)
    assert len(answer.json()["instances"]) == PER_PAGE
    server.should_exit = True
    return found


def main() -> None:
    small, large = measure(1_000), measure(10_000)
    head = "time to first byte, median of 7 (ms)"
    print(f"\n{head:<52} {'1,000':>9} {'10,000':>9} {'growth':>8}")
    for key in small:
        growth = large[key] / small[key] if small[key] else float("nan")
        print(f"{key:<52} {small[key]:>9.1f} {large[key]:>9.1f} {growth:>7.2f}x")
    pages = [k for k in small if "whole" not in k]
    print(f"\nslowest page at 10,000: {max(large[k] for k in pages):.1f} ms")
    print(f"largest page growth 1,000 -> 10,000: {max(large[k] / small[k] for k in pages):.2f}x")


if __name__ == "__main__":
    main()
