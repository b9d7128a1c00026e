"""The API as an attacker tries it: secrets, stalls, floods of bad passwords, huge bodies,
hostile names, forged hosts and cross-site forms. Every answer keeps the documented shape.

A driver call that must be slow is made to wait on an event the test releases, so "another
request was answered meanwhile" holds on any machine, however busy: if the event loop were
blocked, that answer could not come before the release.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import httpx
import pytest

from nubes.engine.stack.model import Provider
from nubes.providers.sim.driver import SimDriver
from nubes.server.config import Limits, ServerConfig, hash_password, token_hash
from tests.server_harness import PASSWORD, TOKEN, serve

RELEASE = threading.Event()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state_dir = tmp_path_factory.mktemp("trust-state")
    stack = state_dir.parent / "trust-stack.yaml"
    stack.write_text(
        "nubes: 1\nname: shop\nproviders:\n  home: {driver: sim}\n"
        "resources:\n  key: {type: key, name: shop-key}\n"
    )
    config = ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "slow": Provider("slow", "sim", {"region": "sim-2"}),
        },
        default_provider="home",
        users={"admin": hash_password(PASSWORD)},
        tokens={"ci": token_hash(TOKEN)},
        stacks=[stack],
        limits=Limits(request_bytes=64 * 1024, blob_bytes=256 * 1024, provider_seconds=0.5),
    )
    server, url = serve(config, state_dir)
    yield url
    RELEASE.set()
    server.should_exit = True


@pytest.fixture
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=60) as c:
        yield c


def error_doc(response: httpx.Response) -> dict[str, Any]:
    if "json" in response.headers["content-type"]:
        return dict(response.json()["error"])
    root = ET.fromstring(response.content)
    assert root.tag == "error"
    return {child.tag: child.text for child in root}


# ---- 11: private keys ---------------------------------------------------------------------


def test_a_private_key_appears_only_in_its_create_answer(client: httpx.Client) -> None:
    made = client.post("/api/keys?format=json", data={"name": "only-once"})
    assert made.status_code == 201 and made.json()["key"]["pem"]
    key_id = made.json()["key"]["id"]
    for path in ("/api/keys", f"/api/keys/{key_id}"):
        for fmt in ("json", "xml"):
            shown = client.get(f"{path}?format={fmt}")
            assert shown.status_code == 200
            assert b"PRIVATE KEY" not in shown.content and b"pem" not in shown.content


# ---- 12: no request stalls another ------------------------------------------------------------


def _stall(method: str, provider_region: str, started: threading.Event) -> Any:
    original = getattr(SimDriver, method)

    def waiting(self: SimDriver, *args: Any, **kwargs: Any) -> Any:
        if self.config.region == provider_region:
            started.set()
            RELEASE.wait(120)
        return original(self, *args, **kwargs)

    return waiting


def test_a_slow_cloud_call_holds_up_no_other_request(
    api: str, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    RELEASE.clear()
    monkeypatch.setattr(SimDriver, "create", _stall("create", "sim-2", started))
    answers: list[httpx.Response] = []

    def slow_create() -> None:
        with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=120) as c:
            answers.append(c.post("/api;provider=slow/buckets", data={"name": "slow-bkt"}))

    worker = threading.Thread(target=slow_create)
    worker.start()
    try:
        assert started.wait(60), "the create never reached the driver"
        assert client.get("/api").status_code == 200  # answered while the create waits
        assert client.get("/api/realms").status_code == 200
        assert client.get("/api;provider=slow/realms").status_code == 200
        assert not answers  # the create is still waiting
    finally:
        RELEASE.set()
        worker.join(120)
    assert answers and answers[0].status_code == 201


def test_an_aggregate_answers_without_a_provider_that_does_not(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    RELEASE.clear()
    monkeypatch.setattr(SimDriver, "list", _stall("list", "sim-2", started))
    try:
        answer = client.get("/api/clouds/instances?format=json")
        assert answer.status_code == 200
        unreachable = answer.json()["unreachable"]
        assert [u["provider"] for u in unreachable] == ["slow"]
        assert "did not answer within 0.5 s" in unreachable[0]["message"]
    finally:
        RELEASE.set()


# ---- 13: passwords ------------------------------------------------------------------------


def test_password_checks_run_off_the_loop_and_are_remembered(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nubes.server.auth as auth

    calls: list[str] = []
    started = threading.Event()
    RELEASE.clear()
    real = auth.check_password

    def counted(password: str, stored: str) -> bool:
        calls.append(password)
        if password == "slow-guess":
            started.set()
            RELEASE.wait(120)
        return real(password, stored)

    monkeypatch.setattr(auth, "check_password", counted)
    with httpx.Client(base_url=api, timeout=60) as c:
        for _ in range(3):  # Deltacloud clients send Basic every time: verified once
            assert c.get("/api/realms", auth=("fresh-cache", "x")).status_code == 401
        before = len(calls)
        assert c.get("/api/realms", auth=("admin", PASSWORD)).status_code == 200
        assert c.get("/api/realms", auth=("admin", PASSWORD)).status_code == 200
        assert len(calls) <= before + 1
        assert c.get("/api/realms", auth=("nobody-here", "x")).status_code == 401
        assert calls[-1] == "x"  # an unknown user costs a verification too
        guess = threading.Thread(
            target=lambda: httpx.get(f"{api}/api/realms", auth=("admin", "slow-guess"), timeout=120)
        )
        guess.start()
        try:
            assert started.wait(60)
            bearer = c.get("/api/realms", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 200  # while a password is being verified
        finally:
            RELEASE.set()
            guess.join(120)


@pytest.mark.anyio
async def test_repeated_failures_from_one_address_are_slowed() -> None:
    from nubes.server.auth import FREE_FAILURES, Authenticator

    config = ServerConfig({"home": Provider("home", "sim", {})}, "home")
    config.users["admin"] = hash_password("right")
    auth = Authenticator(config)
    import base64

    wrong = "Basic " + base64.b64encode(b"admin:wrong").decode()
    right = "Basic " + base64.b64encode(b"admin:right").decode()
    for _ in range(FREE_FAILURES):
        assert await auth.user(wrong, "10.0.0.9") is None
    assert auth._delay("10.0.0.9") > 0  # the next guess from there waits first
    assert auth._delay("10.0.0.10") == 0  # another address is not slowed
    assert await auth.user(right, "10.0.0.10") == "admin"


# ---- 14: sizes ----------------------------------------------------------------------------


def test_oversized_bodies_are_refused_with_413(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "sized"}).status_code == 201
    big = b"x" * (300 * 1024)
    declared = client.put("/api/buckets/sized/big.bin", content=big)
    assert declared.status_code == 413, declared.text
    assert "larger than the 262,144 bytes allowed" in error_doc(declared)["message"]

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 8192

    streamed = client.put("/api/buckets/sized/chunked.bin", content=chunks())
    assert streamed.status_code == 413
    form = client.post("/api/keys", data={"name": "k" * 100_000})
    assert form.status_code == 413
    assert client.get("/api/buckets/sized/big.bin").status_code == 404  # nothing was stored
    fits = client.put("/api/buckets/sized/fits.bin", content=b"z" * (200 * 1024))
    assert fits.status_code == 200


def test_blobs_stream_and_listing_reads_no_content(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nubes.providers.sim.store import Store

    seen: list[Any] = []
    real_put = Store.put_blob

    def put(self: Store, bucket: str, key: str, data: Any, content_type: str, meta: Any) -> Any:
        seen.append(data)
        return real_put(self, bucket, key, data, content_type, meta)

    def no_reading(self: Store, bucket: str, key: str) -> Any:
        raise AssertionError("a listing read a blob's content")

    monkeypatch.setattr(Store, "put_blob", put)
    assert client.post("/api/buckets", data={"name": "streamed"}).status_code == 201
    body = bytes(range(256)) * 800  # 200 KB
    assert client.put("/api/buckets/streamed/data.bin", content=body).status_code == 200
    assert seen and not isinstance(seen[0], bytes | bytearray)  # a file, read in chunks
    monkeypatch.setattr(Store, "blob_chunks", no_reading)
    listed = client.get("/api/buckets/streamed?format=json").json()["bucket"]
    assert [b["id"] for b in listed["blobs"]] == ["data.bin"]
    info = client.get("/api/buckets/streamed/data.bin?format=json").json()["blob"]
    assert info["content_length"] == len(body)
    monkeypatch.undo()
    assert client.get("/api/buckets/streamed/data.bin/content").content == body


# ---- 15: every failure in the documented shape ---------------------------------------------------


def test_deep_json_is_a_400(client: httpx.Client) -> None:
    deep = "[" * 5000 + "]" * 5000
    answer = client.post(
        "/api/keys?format=json",
        content=deep,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and "nests too deeply" in error_doc(answer)["message"]
    for_stack = client.post(
        "/api/stacks/shop/plan", content=deep, headers={"Content-Type": "application/json"}
    )
    assert for_stack.status_code == 400
    assert "nests too deeply" in error_doc(for_stack)["message"]


@pytest.mark.parametrize("name", ["a\x00b", "line\nbreak", "cr\rlf", "bell\x07"])
def test_names_with_control_characters_are_refused(client: httpx.Client, name: str) -> None:
    answer = client.post("/api/keys?format=json", data={"name": name})
    assert answer.status_code == 400
    assert "control character" in error_doc(answer)["message"]
    assert client.post("/api/buckets", data={"name": "ctl-box"}).status_code in (201, 400, 405)
    put = client.put(f"/api/buckets/ctl-box/{quote(name, safe='')}", content=b"x")
    assert put.status_code == 400, put.text
    assert "control character" in error_doc(put)["message"]


def test_a_name_beyond_latin_1_gets_a_working_location(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "intl-box"}).status_code == 201
    made = client.put("/api/buckets/intl-box/%E6%97%A5%E6%9C%AC%E2%9C%93.txt", content=b"hi")
    assert made.status_code == 200, made.text
    location = made.headers["Location"]
    assert location.endswith("/api/buckets/intl-box/%E6%97%A5%E6%9C%AC%E2%9C%93.txt")
    assert client.get(location.replace(str(client.base_url).rstrip("/"), "")).status_code == 200
    content = client.get("/api/buckets/intl-box/%E6%97%A5%E6%9C%AC%E2%9C%93.txt/content")
    assert "filename*=UTF-8''%E6%97%A5" in content.headers["Content-Disposition"]


def test_a_damaged_state_behind_the_stacks_api(api: str, client: httpx.Client) -> None:
    state_dir = Path(client.get("/api/stacks?format=json").json()["stacks"][0]["file"]).parent
    state = state_dir / "trust-state0" / "shop.json"
    for text in ('{"format": 99, "serial": 1}', '{"format": 2, "serial": '):
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(text)
        for path in ("/api/stacks/shop/state", "/api/stacks?format=json"):
            answer = client.get(path)
            assert answer.status_code == 500, answer.text
            doc = error_doc(answer)
            assert "state" in doc["message"] and "Traceback" not in answer.text
    state.unlink()


# ---- 16: hosts, origins, headers ---------------------------------------------------------------


def test_links_never_come_from_the_host_header(api: str, client: httpx.Client) -> None:
    forged = client.get("/api?format=json", headers={"Host": "evil.example"})
    assert forged.status_code == 200
    assert "evil.example" not in forged.text
    hrefs = [link["href"] for link in forged.json()["api"]["links"]]
    assert hrefs and all(h.startswith(f"{api}/api/") for h in hrefs)
    made = client.post("/api/keys", data={"name": "hosted"}, headers={"Host": "evil.example"})
    assert made.status_code == 201 and made.headers["Location"].startswith(f"{api}/api/keys/")


def test_a_cross_site_form_post_is_refused(api: str, client: httpx.Client) -> None:
    evil = client.post(
        "/api/keys", data={"name": "csrf"}, headers={"Origin": "http://evil.example"}
    )
    assert evil.status_code == 403 and "another site" in error_doc(evil)["message"]
    fetch = client.post(
        "/api/keys", data={"name": "csrf"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch.status_code == 403
    same = client.post("/api/keys", data={"name": "same-site"}, headers={"Origin": api})
    assert same.status_code == 201
    assert client.get("/api", headers={"Origin": "http://evil.example"}).status_code == 200


def test_content_disposition_cannot_be_broken_by_a_name(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "quote-box"}).status_code == 201
    name = quote('a"b\\c d.txt', safe="")
    assert client.put(f"/api/buckets/quote-box/{name}", content=b"x").status_code == 200
    header = client.get(f"/api/buckets/quote-box/{name}/content").headers["Content-Disposition"]
    assert header == "attachment; filename=\"a_b_c d.txt\"; filename*=UTF-8''" + name
    assert header.count('"') == 2  # only the fallback's own quotes


# ---- found by attacking the first version ---------------------------------------------------


def test_a_trailing_slash_is_served_not_redirected(client: httpx.Client) -> None:
    answer = client.get("/api/realms/", headers={"Host": "evil.example"})
    assert answer.status_code == 200 and "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_an_encoded_semicolon_stays_in_its_name(client: httpx.Client) -> None:
    assert client.post("/api/buckets", data={"name": "semi-box"}).status_code == 201
    assert client.put("/api/buckets/semi-box/victim", content=b"VICTIM").status_code == 200
    made = client.post("/api/buckets/semi-box", data={"blob_id": "victim;x", "blob_data": "X"})
    assert made.status_code == 201
    assert client.get("/api/buckets/semi-box/victim%3Bx/content").content == b"X"
    assert client.delete("/api/buckets/semi-box/victim%3Bx").status_code == 204
    assert client.get("/api/buckets/semi-box/victim/content").content == b"VICTIM"


def test_a_rule_id_is_ascii_digits(client: httpx.Client) -> None:
    made = client.post("/api/firewalls?format=json", data={"name": "rules-fw"})
    fw = made.json()["firewall"]["id"]
    assert client.post(f"/api/firewalls/{fw}/rules", data={"port_from": "22"}).status_code == 201
    for odd in ("%C2%B2", "%D9%A0", "9" * 50):
        gone = client.delete(f"/api/firewalls/{fw}/{fw}~{odd}")
        assert gone.status_code == 404, (odd, gone.text)
    assert len(client.get(f"/api/firewalls/{fw}?format=json").json()["firewall"]["rules"]) == 1


def test_query_parameters_and_long_segments_are_checked(client: httpx.Client) -> None:
    assert client.get("/api/images?owner_id=a%01b").status_code == 400
    assert client.get("/api/keys/" + "k" * 5000).status_code == 400


def test_token_guesses_do_not_slow_password_logins(api: str) -> None:
    from nubes.server.auth import Authenticator

    config = ServerConfig({"home": Provider("home", "sim", {})}, "home")
    auth = Authenticator(config)
    for _ in range(2000):
        auth._failed("1.2.3.4")
    assert auth._delay("1.2.3.4") == 30.0  # at most the ceiling, never an overflow
    with httpx.Client(base_url=api, timeout=60) as c:
        for i in range(50):
            guess = {"Authorization": f"Bearer guess-{i}"}
            assert c.get("/api/realms", headers=guess).status_code == 401
        assert c.get("/api/realms", auth=("admin", PASSWORD)).status_code == 200


def test_listeners_to_job_events_hold_no_threads(
    api: str, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    assert client.post("/api/buckets", data={"name": "sse-box"}).status_code == 201
    assert client.put("/api/buckets/sse-box/f.bin", content=b"payload").status_code == 200
    started = threading.Event()
    RELEASE.clear()
    monkeypatch.setattr(SimDriver, "create", _stall("create", "sim-1", started))
    job = client.post("/api/stacks/shop/apply").json()["job"]
    assert started.wait(60)  # the job is mid-apply, and its listeners will wait

    async def listen_and_download() -> bytes:
        async with httpx.AsyncClient(base_url=api, auth=("admin", PASSWORD), timeout=60) as c:
            streams = [c.stream("GET", f"/api/jobs/{job['id']}/events") for _ in range(45)]
            opened = [await s.__aenter__() for s in streams]
            try:  # 45 listeners open: more than the 40 threads of the default pool
                got = await c.get("/api/buckets/sse-box/f.bin/content")
                return got.content
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)
                del opened

    try:
        assert asyncio.run(asyncio.wait_for(listen_and_download(), 60)) == b"payload"
    finally:
        RELEASE.set()


def test_a_bug_keeps_the_headers(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from nubes.server import views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(views, "realm", broken)
    answer = client.get("/api/realms")
    assert answer.status_code == 500
    assert "ZeroDivisionError" in error_doc(answer)["message"]
    assert answer.headers["X-Deltacloud-Provider"] == "home" and answer.headers["Server"]
    assert client.get("/api").status_code == 200  # the connection is still good
