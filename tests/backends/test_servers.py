"""Two `nubes serve` processes and one PostgreSQL, as a team runs them behind a load balancer:
a job started on one is shown, streamed and cancelled from the other; a login on one holds on
the other; a server killed mid-apply has its job failed once its lease lapses, and the other
server's next apply takes the lock and converges."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nubes.server.config import hash_password
from tests.helpers import write
from tests.server_harness import free_port

TOKEN = "team-token-0123456789"
PASSWORD = "correct horse battery staple"
KEYS = 120  # enough that an apply is still running when it is cancelled or killed
LEASE = 3  # seconds (NUBES_SERVER_LEASE_SECONDS)
WAIT = 120.0  # the most any step may take on a busy machine; steps end as soon as they can

pytestmark = pytest.mark.usefixtures("pg_server")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            timeout=30,
        )


@dataclass
class Team:
    a: Server
    b: Server
    schema: str
    environ: dict[str, str]


def _start(folder: Path, config: Path, environ: dict[str, str]) -> Server:
    port = free_port()
    log = folder / "server.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nubes",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--state-dir",
            str(folder / "state"),
        ],
        cwd=folder,
        text=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=environ,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{url}/api", timeout=5)
            return Server(proc, url, log)
        except httpx.TransportError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


@pytest.fixture
def team(tmp_path: Path, pg_server: dict[str, str]) -> Iterator[Team]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    cloud = tmp_path / "cloud"
    write(
        tmp_path / "keys.yaml",
        f"""
        nubes: 1
        name: keys
        providers:
          home: {{driver: sim, data_dir: "{cloud}", latency_ms: 150}}
        resources:
          deploy:
            type: key
            count: {KEYS}
            name: deploy-${{count.index}}
        """,
    )
    write(
        tmp_path / "server.yaml",
        f"""
        providers:
          home: {{driver: sim, data_dir: "{cloud}"}}
        tokens:
          ci: "{hashlib.sha256(TOKEN.encode()).hexdigest()}"
        users:
          alice: "{hash_password(PASSWORD)}"
        stacks: [keys.yaml]
        backend: {{type: postgres, schema: {schema}}}
        """,
    )
    environ = {
        **os.environ,
        **pg_server,
        "NO_COLOR": "1",
        "NUBES_SERVER_LEASE_SECONDS": str(LEASE),
    }
    servers = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(_start(tmp_path / name, tmp_path / "server.yaml", environ))
        yield Team(servers[0], servers[1], schema, environ)
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.proc.terminate()
                s.proc.wait(timeout=30)


def _until(what: str, check: object, seconds: float = WAIT) -> object:
    deadline = time.monotonic() + seconds
    while True:
        got = check()  # type: ignore[operator]
        if got:
            return got
        assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}"
        time.sleep(0.1)


def _job(c: httpx.Client, id: str) -> dict[str, object]:
    r = c.get(f"/api/jobs/{id}")
    assert r.status_code == 200, r.text
    job: dict[str, object] = r.json()["job"]
    return job


def _ended(c: httpx.Client, id: str) -> dict[str, object] | None:
    job = _job(c, id)
    return None if job["state"] in ("queued", "running") else job


def _completed(c: httpx.Client, id: str) -> int:
    """Keys created so far, as the job's events on this server tell."""
    with c.stream("GET", f"/api/jobs/{id}/events", timeout=5) as r:
        count = 0
        try:
            for line in r.iter_lines():
                if line.startswith("data: ") and '"apply_complete"' in line:
                    count += 1
                if count >= 3:
                    break
        except httpx.ReadTimeout:
            pass
    return count


def _relayed(c: httpx.Client, id: str) -> bool:
    """Whether B's live channel (every console page's) carries one of the job's events."""
    with c.stream("GET", "/api/events", headers={"Last-Event-ID": "0"}, timeout=10) as r:
        try:
            for line in r.iter_lines():
                if line.startswith("data: ") and f'"job": "{id}"' in line:
                    return True
        except httpx.ReadTimeout:
            pass
    return False


def test_a_job_is_seen_streamed_and_cancelled_from_another_server(team: Team) -> None:
    with team.a.client() as a, team.b.client() as b:
        started = a.post("/api/stacks/keys/apply")
        assert started.status_code == 202, started.text
        id = started.json()["job"]["id"]
        seen = _job(b, id)  # at once: the job is in the database before its id is answered
        assert seen["stack"] == "keys" and seen["state"] in ("queued", "running")
        assert seen["server"] == _job(a, id)["server"] and seen["server"]
        _until("B to stream A's progress", lambda: _completed(b, id) >= 3)
        assert _relayed(b, id)  # and B's console channel carries it to B's open pages

        cancel = b.post(f"/api/jobs/{id}/cancel")
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["job"]["cancel_requested"] is True
        ended = _until("the cancelled job to end", lambda: _ended(b, id))
        assert isinstance(ended, dict)
        assert ended["state"] == "cancelled", ended
        assert _job(a, id)["state"] == "cancelled"
        again = b.post(f"/api/jobs/{id}/cancel")
        assert again.status_code == 409 and "already ended" in again.json()["error"]["message"]

        # the whole stream, read from B, ends with A's last event
        with b.stream("GET", f"/api/jobs/{id}/events") as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "job_start" and kinds[-1] == "job_end"
        assert "cancel_requested" in kinds and events[-1]["state"] == "cancelled"
        done = kinds.count("apply_complete")
        assert 0 < done < KEYS  # it stopped starting more

        state = b.get("/api/stacks/keys/state").json()
        assert len(state["resources"]) == done  # what finished was saved; nothing more

        # A's apply is in the one activity log both servers show
        log = b.get("/api/activity", params={"q": "stack keys"}).json()["activity"]
        assert any(e["action"] == "apply" and e["via"] == "api" for e in log), log


def _browser(server: Server, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, cookies={"nubes_session": cookie})


def test_a_console_session_holds_on_every_server(team: Team) -> None:
    with httpx.Client(base_url=team.a.url) as a:
        login = a.post(
            "/console/login",
            data={"user": "alice", "password": PASSWORD, "next": "/console"},
            headers={"Origin": team.a.url},
        )
        assert login.status_code == 303, login.text
        cookie = login.cookies["nubes_session"]
    with _browser(team.b, cookie) as b:
        on_b = b.get("/console/activity")
        assert on_b.status_code == 200 and "alice" in on_b.text  # B's page, A's login in it
        csrf = on_b.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        with _browser(team.b, cookie[:-2] + "xx") as forged:
            assert forged.get("/console/activity").status_code == 303
        out = b.post("/console/logout", data={"csrf": csrf}, headers={"Origin": team.b.url})
        assert out.status_code == 303
    with _browser(team.a, cookie) as a:
        assert a.get("/console").status_code == 303  # the logout on B ended it on A


def test_a_server_killed_mid_apply_is_failed_after_its_lease(team: Team) -> None:
    with team.a.client() as a, team.b.client() as b:
        id = a.post("/api/stacks/keys/apply").json()["job"]["id"]
        _until("A's apply to make progress", lambda: _completed(b, id) >= 3)
        assert _job(b, id)["state"] == "running"
        team.a.proc.send_signal(signal.SIGKILL)
        team.a.proc.wait(timeout=30)
        failed = _until("B to mark A's job failed", lambda: _ended(b, id))
        assert isinstance(failed, dict) and failed["state"] == "failed", failed
        assert "stopped renewing its lease" in str(failed["summary"])
        with b.stream("GET", f"/api/jobs/{id}/events") as r:
            last = [line for line in r.iter_lines() if line.startswith("data: ")][-1]
        assert json.loads(last[6:])["type"] == "job_end"
        log = b.get("/api/activity", params={"q": "stack keys"}).json()["activity"]
        assert any(e["result"] == "failed" and "lease" in e["detail"] for e in log), log

        # the lock died with A: B's apply takes it, adopts what A's journal left, converges
        again = b.post("/api/stacks/keys/apply")
        assert again.status_code == 202, again.text
        second = again.json()["job"]["id"]
        done = _until("B's apply", lambda: _ended(b, second))
        assert isinstance(done, dict)
        assert done["state"] == "succeeded", done
        state = b.get("/api/stacks/keys/state").json()
        assert len(state["resources"]) == KEYS
        plan = b.post("/api/stacks/keys/plan").json()
        assert not any(r["action"] != "no-op" for r in plan["resource_changes"]), plan
        names = [k["name"] for k in b.get("/api/keys").json()["keys"]]
        assert sorted(names) == sorted({f"deploy-{i}" for i in range(KEYS)})  # no duplicate


def test_a_plan_reviewed_on_one_server_is_applied_through_the_other(team: Team) -> None:
    with team.a.client() as a, team.b.client() as b:
        made = a.post("/api/stacks/keys/plans")
        assert made.status_code == 201, made.text
        review = made.json()["plan"]
        shown = b.get(f"/api/stacks/keys/plans/{review['id']}")
        assert shown.status_code == 200
        assert shown.json()["plan"]["plan"]["summary"]["add"] == KEYS
        applied = b.post(f"/api/stacks/keys/plans/{review['id']}/apply")
        assert applied.status_code == 202, applied.text
        assert a.post(f"/api/stacks/keys/plans/{review['id']}/apply").status_code == 404  # once
        done = _until("B's apply of A's review", lambda: _ended(b, applied.json()["job"]["id"]))
        assert isinstance(done, dict) and done["state"] == "succeeded", done
        assert len(a.get("/api/stacks/keys/state").json()["resources"]) == KEYS
        gone = a.get(f"/api/stacks/keys/plans/{review['id']}")
        assert gone.status_code == 404


class Cut:
    """A TCP relay to PostgreSQL that the test can cut (every connection dropped, new ones
    refused) and mend, as a network between a server and its database fails."""

    def __init__(self, port: int) -> None:
        import socket as sk
        import threading

        self.target = port
        self.listener = sk.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            client, _ = self.listener.accept()
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.open.clear()

    def mend(self) -> None:
        self.up.set()


def test_a_database_outage_is_said_as_such_and_passes(
    tmp_path: Path, pg_server: dict[str, str]
) -> None:
    from nubes.engine.stack.model import Provider
    from nubes.engine.state.settings import BackendConfig
    from nubes.server.config import ServerConfig, token_hash
    from tests.server_harness import serve

    relay = Cut(int(pg_server["PGPORT"]))
    environ = {**pg_server, "PGPORT": str(relay.port), "NUBES_SERVER_LEASE_SECONDS": "3"}
    config = ServerConfig(
        {"home": Provider("home", "sim", {})},
        "home",
        users={"alice": hash_password(PASSWORD)},
        tokens={"ci": token_hash(TOKEN)},
        backend=BackendConfig("postgres", {"schema": f"t_{uuid.uuid4().hex[:12]}"}),
    )
    server, url = serve(config, tmp_path / "state", environ)
    try:
        with httpx.Client(base_url=url, timeout=30) as browser:
            login = browser.post(
                "/console/login",
                data={"user": "alice", "password": PASSWORD},
                headers={"Origin": url},
            )
            assert login.status_code == 303
            assert browser.get("/api/realms?format=json").status_code == 200  # by the cookie
            relay.cut()
            away = browser.get("/api/realms?format=json")
            assert away.status_code == 503, away.text  # not 401: the session is not gone
            assert "database cannot be used" in away.json()["error"]["message"]
            assert PASSWORD not in away.text and pg_server["PGPASSWORD"] not in away.text
            page = browser.get("/console")
            assert page.status_code == 500 and "Traceback" not in page.text  # not a sign-in
            relay.mend()
            realms = "/api/realms?format=json"
            assert _until("the database back", lambda: browser.get(realms).status_code == 200)
    finally:
        relay.mend()
        server.should_exit = True
