"""Aggregation across providers, and stacks over HTTP: plan, apply as a job, events, state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from nubes.engine.stack.model import Provider
from nubes.engine.state import LocalBackend
from nubes.server.config import ServerConfig, token_hash
from tests.server_harness import TOKEN, serve


def test_clouds_aggregate_every_provider(client: httpx.Client) -> None:
    made = []
    for provider in ("home", "lab"):
        r = client.post(
            "/api/instances?format=json",
            headers={"X-Deltacloud-Provider": provider},
            data={"image_id": "img-alpine-320", "hwp_id": "tiny"},
        )
        assert r.status_code == 201
        made.append(r.json()["instance"]["id"])
    everything = client.get("/api/clouds/instances?format=json").json()["instances"]
    by_id = {i["id"]: i for i in everything}
    assert by_id[made[0]]["provider"] == "home" and by_id[made[1]]["provider"] == "lab"
    assert ";provider=lab/instances/" in by_id[made[1]]["href"]
    lab = client.get("/api/clouds/instances?format=json&provider=lab").json()["instances"]
    assert {i["provider"] for i in lab} == {"lab"}
    running = client.get("/api/clouds/instances?format=json&state=running").json()["instances"]
    assert set(made) <= {i["id"] for i in running}
    assert client.get("/api/clouds/images?format=json").json()["images"]
    assert client.get("/api/clouds/flavours").status_code == 404
    for id_, provider in zip(made, ("home", "lab"), strict=True):
        client.delete(f"/api/instances/{id_}", headers={"X-Deltacloud-Provider": provider})


def wait_for(client: httpx.Client, href: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(href).json()["job"]
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_stacks_plan_apply_state_history(client: httpx.Client, api_state: Path) -> None:
    listed = client.get("/api/stacks").json()["stacks"]
    assert [s["name"] for s in listed] == ["shop"]
    plan = client.post("/api/stacks/shop/plan", json={"variables": {"replicas": 3}}).json()
    assert {c["address"]: c["action"] for c in plan["resource_changes"]} == {
        "files[0]": "create",
        "files[1]": "create",
        "files[2]": "create",
        "key": "create",
    }
    bad = client.post("/api/stacks/shop/plan", json={"variables": {"replicas": "many"}})
    assert bad.status_code == 400 and "not a number" in bad.text

    started = client.post("/api/stacks/shop/apply")
    assert started.status_code == 202
    href = started.headers["Location"]
    with client.stream("GET", started.json()["job"]["events"]) as events:
        lines = [line for line in events.iter_lines() if line.startswith("data: ")]
    kinds = [json.loads(line[6:])["type"] for line in lines]
    assert kinds[0] == "job_start" and kinds[-1] == "job_end"
    assert kinds.count("apply_complete") == 3
    completed = [json.loads(line[6:]) for line in lines if '"apply_complete"' in line]
    # the CLI's --json lines and the server's events are one schema (engine.apply.events)
    assert set(completed[0]) == {"type", "time", "address", "action", "id", "elapsed_seconds"}
    job = wait_for(client, href)
    assert job["state"] == "succeeded" and job["summary"].startswith("3 added")

    state = client.get("/api/stacks/shop/state").json()
    assert sorted(r["address"] for r in state["resources"]) == ["files[0]", "files[1]", "key"]
    assert state["outputs"]["secret"]["value"] == "(sensitive)"
    assert "s3cret-value" not in json.dumps(state)
    history = client.get("/api/stacks/shop/history").json()["history"]
    assert history[-1]["summary"].startswith("3 added") and "(api)" in history[-1]["who"]
    assert client.get("/api/stacks/nope/state").status_code == 404


def test_an_apply_holds_the_lock_like_the_cli(client: httpx.Client, api_state: Path) -> None:
    lock = LocalBackend(api_state, "shop").lock("apply")
    try:
        started = client.post("/api/stacks/shop/apply")
        job = wait_for(client, started.headers["Location"])
        assert job["state"] == "failed" and "the state is locked by" in job["summary"]
        log = client.get("/api/activity?format=json", params={"q": "stack shop"}).json()
        ends = [e for e in log["activity"] if e["action"] == "apply" and e["via"] == "api"]
        assert any(e["result"] == "failed" and "locked by" in e["detail"] for e in ends), ends
    finally:
        lock.release()


def test_a_running_job_is_cancelled_and_keeps_what_it_finished(tmp_path: Path) -> None:
    stack = tmp_path / "slow.yaml"
    stack.write_text(
        "nubes: 1\nname: slow\nproviders:\n  home: {driver: sim, latency_ms: 100}\n"
        "resources:\n  k: {type: key, count: 80, name: 'k-${count.index}'}\n"
    )
    config = ServerConfig(
        {"home": Provider("home", "sim", {})},
        "home",
        tokens={"ci": token_hash(TOKEN)},
        stacks=[stack],
    )
    server, url = serve(config, tmp_path / "state")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            assert c.post("/api/jobs/nope/cancel").status_code == 404
            job = c.post("/api/stacks/slow/apply").json()["job"]
            with c.stream("GET", job["events"]) as events:
                for line in events.iter_lines():
                    if '"apply_complete"' in line:
                        break
            cancel = c.post(job["cancel"])
            assert cancel.status_code == 202 and cancel.json()["job"]["cancel_requested"]
            with c.stream("GET", job["events"]) as events:
                kinds = [
                    json.loads(x[6:])["type"] for x in events.iter_lines() if x[:6] == "data: "
                ]
            ended = c.get(job["href"]).json()["job"]
            assert ended["state"] == "cancelled" and ended["summary"].startswith("cancelled: ")
            assert kinds[-1] == "job_end" and "cancel_requested" in kinds
            done = kinds.count("apply_complete")
            assert 0 < done < 80
            state = c.get("/api/stacks/slow/state").json()
            assert len(state["resources"]) == done
            assert c.post(job["cancel"]).status_code == 409
            log = c.get("/api/activity?format=json").json()["activity"]
            said = {(e["action"], e["result"]) for e in log if e["target"].endswith("slow")}
            assert ("apply", "stopped") in said  # the apply's own entry: stopped, not ok
            assert ("apply", "ok") not in said
            assert any(e["action"] == "cancel" and e["target"] == f"job {job['id']}" for e in log)
    finally:
        server.should_exit = True


def test_job_ids_that_are_no_ids_get_the_documented_error_shape(client: httpx.Client) -> None:
    for id in ("nope", "x' OR '1'='1", "%00", "..%2f..%2fetc", "\u00e9t\u00e9"):
        for method, suffix in (("GET", ""), ("GET", "/events"), ("POST", "/cancel")):
            answer = client.request(method, f"/api/jobs/{id}{suffix}?format=json")
            assert answer.status_code in (400, 404), (id, suffix, answer.text)
            assert answer.json()["error"]["message"]
    long = client.get("/api/jobs/" + "a" * 5000, headers={"Accept": "application/json"})
    assert long.status_code == 400 and long.headers["content-type"].startswith("application/json")
    assert "longer than 1,024 characters" in long.json()["error"]["message"]
    assert len(long.text) < 2000  # the id is not echoed back whole
