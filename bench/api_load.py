"""The REST API under load: does one request hold up others, and what does a big upload cost?

Side by side in one run: this tree's server and the server as it was before requests were taken
off the event loop (commit BASELINE, checked out into a temporary git worktree). Each is started
as `nubes serve` on 127.0.0.1 with a sim provider and a slow one (a 1 s boot), and measured:

1. a probe (GET /api/realms, Basic credentials) alone, and while 4 clients create instances on
   the slow provider, one after another;
2. the probe while 4 clients send wrong passwords as fast as they can;
3. the server's resident memory before and at the peak of one 200 MB blob upload, and the time
   to list the bucket afterwards.

Run: python bench/api_load.py
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = "7d914a1"  # main before the trust issue's work
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024


class Server:
    def __init__(self, tree: Path, work: Path) -> None:
        from nubes.server.config import hash_password

        work.mkdir(parents=True, exist_ok=True)
        (work / "server.yaml").write_text(
            "default_provider: home\n"
            "providers:\n"
            "  home: {driver: sim}\n"
            "  slow: {driver: sim, region: sim-2, boot_seconds: 1}\n"
            f'users:\n  admin: "{hash_password(PASSWORD)}"\n'
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nubes" if (tree / "nubes").is_dir() else "engine",  # the baseline predates it
                "serve",
                "--config",
                "server.yaml",
                "--port",
                str(self.port),
                "--state-dir",
                "state",
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/api", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def probe_ms(url: str, seconds: float = 4.0) -> float:
    """Median latency of the probe over a few seconds, with one client keeping its connection."""
    times = []
    with httpx.Client(base_url=url, auth=("admin", PASSWORD), timeout=60) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            c.get("/api/realms").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)
    return statistics.median(times)


def under(load: str, url: str) -> float:
    stop = threading.Event()

    def creator() -> None:
        with httpx.Client(base_url=url, auth=("admin", PASSWORD), timeout=120) as c:
            while not stop.is_set():
                c.post(
                    "/api;provider=slow/instances",
                    data={"image_id": "img-debian-12", "hwp_id": "small"},
                )

    def guesser() -> None:
        with httpx.Client(base_url=url, auth=("admin", "wrong"), timeout=120) as c:
            while not stop.is_set():
                c.get("/api/realms")

    workers = [threading.Thread(target=creator if load == "creates" else guesser) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    try:
        return probe_ms(url)
    finally:
        stop.set()
        for w in workers:
            w.join(180)


def upload(server: Server) -> tuple[float, float, float]:
    size = 200 * 1024 * 1024
    with httpx.Client(base_url=server.url, auth=("admin", PASSWORD), timeout=600) as c:
        c.post("/api/buckets", data={"name": "big-bucket"}).raise_for_status()
        before = rss_mb(server.proc.pid)

        def body():  # type: ignore[no-untyped-def]
            chunk = b"\0" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                yield chunk

        c.put(
            "/api/buckets/big-bucket/big.bin", content=body(), headers={"Content-Length": str(size)}
        ).raise_for_status()
        peak = rss_mb(server.proc.pid, "VmHWM")
        started = time.perf_counter()
        c.get("/api/buckets/big-bucket").raise_for_status()
        listing = time.perf_counter() - started
    return before, peak, listing


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="nubes-api-load-"))
    old_tree = base / "baseline"
    trees = {"this tree": ROOT}
    made = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), BASELINE],
        capture_output=True,
    )
    if made.returncode == 0:
        trees[f"before ({BASELINE})"] = old_tree
    rows = {}
    try:
        for label, tree in trees.items():
            server = Server(tree, base / label.replace(" ", "-"))
            try:
                alone = probe_ms(server.url)
                creates = under("creates", server.url)
                guesses = under("guesses", server.url)
            finally:
                server.stop()
            server = Server(tree, base / (label.replace(" ", "-") + "-blob"))
            try:
                before, peak, listing = upload(server)
            finally:
                server.stop()
            rows[label] = (alone, creates, guesses, before, peak, listing)
    finally:
        if made.returncode == 0:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)])
        shutil.rmtree(base, ignore_errors=True)
    print("the REST API under load: median probe latency (GET /api/realms, Basic auth)\n")
    print(
        f"{'server':<22} {'alone ms':>9} {'4 creates ms':>13} {'4 guessers ms':>14} "
        f"{'RSS MB':>7} {'peak, 200 MB PUT':>17} {'list s':>7}"
    )
    for label, (alone, creates, guesses, before, peak, listing) in rows.items():
        print(
            f"{label:<22} {alone:>9.1f} {creates:>13.1f} {guesses:>14.1f} {before:>7.0f} "
            f"{peak:>17.0f} {listing:>7.3f}"
        )
    print(
        "\n4 creates: four clients each creating an instance on a provider with a 1 s boot, "
        "over and over.\n4 guessers: four clients sending a wrong password as fast as the "
        "server answers."
    )


if __name__ == "__main__":
    main()
