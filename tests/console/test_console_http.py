"""The console over HTTP, as a browser and an attacker reach it: sign-in, sessions, CSRF, the
security headers, the pages' contents, the live channel, reviewed plans and migrations."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Any

import httpx
import pytest

from nubes.engine.activity import ActivityLog
from nubes.server.routes.activity import SESSION_CHECK_SECONDS
from tests.console.conftest import Site, sign_in
from tests.server_harness import TOKEN

PAGES = ["/console", "/console/instances", "/console/images", "/console/stacks",
         "/console/stacks/web", "/console/activity", "/console/migrate"]  # fmt: skip


def _create(api: httpx.Client, provider: str, name: str, **extra: str) -> str:
    answer = api.post(
        f"/api;provider={provider}/instances",
        data={"image_id": "img-debian-12", "name": name, **extra},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["instance"]["id"])


def _state(api: httpx.Client, provider: str, id: str) -> str:
    return str(api.get(f"/api;provider={provider}/instances/{id}").json()["instance"]["state"])


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="row-[^"]*"[^>]*data-name="([^"]*)"', html)


def _wait(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# ---- signing in ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_page_asked_without_a_session_sends_the_browser_to_the_login_form(
    site: Site, path: str
) -> None:
    answer = httpx.get(site.url + path + "?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=%2Fconsole")
    assert "x%3D1" in answer.headers["location"]


def test_a_table_asked_by_htmx_without_a_session_takes_the_window_to_the_login_form(
    site: Site,
) -> None:
    """Not a redirect htmx would follow, swapping the login form into the page's table."""
    answer = httpx.get(site.url + "/console/instances?q=x", headers={"HX-Request": "true"})
    assert answer.status_code == 204 and not answer.content
    assert answer.headers["HX-Redirect"].startswith("/console/login?next=%2Fconsole%2Finstances")


def test_a_long_address_asked_without_a_session_is_not_copied_into_the_redirect(
    site: Site,
) -> None:
    answer = httpx.get(site.url + "/console/instances?q=" + "%25" * 20_000)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=%2Fconsole%2Finstances"


def test_a_bad_login_is_refused_on_the_form_and_recorded(site: Site) -> None:
    answer = httpx.post(site.url + "/console/login", data={"user": "admin", "password": "no"})
    assert answer.status_code == 401
    assert "not right" in answer.text and "set-cookie" not in answer.headers
    entries = ActivityLog(site.state_dir).entries()
    assert any(e.action == "login" and e.result == "refused" for e in entries)


def test_a_secret_typed_as_the_user_name_is_never_logged(site: Site) -> None:
    typed = "tok-typed-in-the-wrong-field-0123"
    answer = httpx.post(site.url + "/console/login", data={"user": typed, "password": ""})
    assert answer.status_code == 401
    entries = ActivityLog(site.state_dir).entries()
    assert not any(typed in f"{e.who} {e.detail} {e.target}" for e in entries)
    assert entries[-1].who == "(unknown user)" and entries[-1].result == "refused"


def test_a_login_posted_from_another_sites_page_is_refused(site: Site) -> None:
    answer = httpx.post(
        site.url + "/console/login",
        data={"user": "admin", "password": "correct horse battery staple"},
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "target",
    ["//evil", "/console/../x", "/consolex", "/console.evil.com", "/console/..%2f..%2fx",
     "\\\\evil", "/console@evil", "/console/\r\nSet-Cookie: x=1", "https://evil"],
)  # fmt: skip
def test_a_login_goes_on_to_a_console_page_only(site: Site, target: str) -> None:
    answer = httpx.post(
        site.url + "/console/login",
        data={"user": "admin", "password": "correct horse battery staple", "next": target},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


def test_a_console_path_with_a_trailing_slash_is_never_a_redirect_to_the_host_header(
    site: Site, browser_like: httpx.Client
) -> None:
    answer = browser_like.get("/console/instances/", headers={"Host": "evil.example"})
    assert answer.status_code == 200 and "evil.example" not in answer.headers.get("location", "")
    assert "content-security-policy" in answer.headers


def test_the_session_cookie_is_httponly_and_samesite_strict(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        answer = client.post(
            "/console/login",
            data={"user": "admin", "password": "correct horse battery staple", "next": "//evil"},
        )
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert answer.headers["location"] == "/console"  # never another host


def test_a_token_signs_in_on_the_form_with_no_user(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        answer = client.post("/console/login", data={"user": "", "password": TOKEN})
        assert answer.status_code == 303
        assert client.get("/console/stacks").status_code == 200
        assert "ci" in client.get("/console/stacks").text  # the token's name is the user


def test_logout_needs_the_csrf_token_and_ends_the_session(site: Site) -> None:
    client = sign_in(site.url)
    assert client.post("/console/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/console").status_code == 200
    token = client.headers["X-CSRF-Token"]
    assert client.post("/console/logout", data={"csrf": token}).status_code == 303
    assert client.get("/console").status_code == 303


# ---- headers and pages ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(
    browser_like: httpx.Client, path: str
) -> None:
    answer = browser_like.get(path)
    assert answer.status_code == 200, answer.text
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and answer.headers["x-frame-options"] == "DENY"
    for tag in re.findall(r"<script\b[^>]*>", answer.text):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert " style=" not in answer.text and "<style" not in answer.text
    assert re.search(r"\son[a-z]+=", answer.text) is None  # no inline event handlers


def test_the_front_end_libraries_are_served_from_this_server(browser_like: httpx.Client) -> None:
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "console.js"):
        answer = browser_like.get(f"/console/static/{name}")
        if answer.status_code == 404 and "npm ci" in answer.text:
            pytest.skip("node_modules is not installed (make installs it)")
        assert answer.status_code == 200 and len(answer.content) > 1000
    assert browser_like.get("/console/static/../../app.py").status_code == 404


def test_the_overview_shows_each_cloud_and_the_hung_one_as_unreachable(
    browser_like: httpx.Client, api: httpx.Client
) -> None:
    _create(api, "lab", "overview-probe")
    html = _wait(lambda: (h := browser_like.get("/console").text) and "overview-probe" and h)
    slow = _wait(
        lambda: "did not answer" in (s := browser_like.get("/console").text) and s, seconds=10
    )
    assert slow, "the hung cloud is not shown as unreachable"
    card = re.search(r'id="card-slow".*?</article>', slow, re.S)
    assert card and "unreachable" in card.group(0)
    home = re.search(r'id="card-home".*?</article>', html, re.S)
    assert home and "reachable" in home.group(0) and "instances quota" in home.group(0)
    assert 'id="series-data"' in html


def test_instances_filter_sort_and_page_on_the_server(
    browser_like: httpx.Client, api: httpx.Client
) -> None:
    made = [_create(api, "home", f"fleet-{i:02d}") for i in range(12)]
    api.post(f"/api;provider=home/instances/{made[0]}/stop")
    assert _wait(lambda: len(_rows(browser_like.get("/console/instances?q=fleet-").text)) == 12)
    page1 = browser_like.get("/console/instances?q=fleet-&size=5&sort=-name").text
    assert _rows(page1) == [f"fleet-{i:02d}" for i in (11, 10, 9, 8, 7)]
    assert "page 1 of 3" in page1
    page3 = browser_like.get("/console/instances?q=fleet-&size=5&sort=-name&page=3").text
    assert _rows(page3) == ["fleet-01", "fleet-00"]
    stopped = _wait(
        lambda: (
            _rows(browser_like.get("/console/instances?q=fleet-&state=stopped").text)
            == ["fleet-00"]
        )
    )
    assert stopped
    assert _rows(browser_like.get("/console/instances?q=fleet-&provider=lab").text) == []
    # htmx asks for the table alone
    part = browser_like.get("/console/instances?q=fleet-&size=5", headers={"HX-Request": "true"})
    assert "<html" not in part.text and len(_rows(part.text)) == 5
    # a size from the address stays the chosen one, so the next filter keeps it
    sized = browser_like.get("/console/instances?q=fleet-&size=7").text
    assert "<option selected>7</option>" in sized and len(_rows(sized)) == 7
    # a page past the end is the last page, and its "previous" link the page before that
    past = browser_like.get("/console/instances?q=fleet-&size=5&sort=-name&page=1000000000").text
    assert _rows(past) == ["fleet-01", "fleet-00"] and "page 3 of 3" in past
    previous = re.search(r'<a rel="prev" href="([^"]+)"', past)
    assert previous is not None and "page=2" in previous.group(1).split("&amp;")
    assert 'rel="next"' not in past


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "size=100000", "sort=__class__", "page=%EF%BC%91",
     "page=000000000001" + "9" * 5000, "size=0000000000019999", "page=%C2%B2"],
)  # fmt: skip
def test_a_bad_query_is_named_on_the_page_not_a_failure(
    browser_like: httpx.Client, query: str
) -> None:
    answer = browser_like.get(f"/console/instances?{query}")
    assert answer.status_code == 200
    assert 'class="error"' in answer.text and "a bug" not in answer.text


def test_the_instance_page_shows_its_attributes_and_who_manages_it(
    browser_like: httpx.Client, api: httpx.Client
) -> None:
    id_ = _create(api, "home", "detail-probe", user_data="secret-bootstrap")
    html = browser_like.get(f"/console/instances/home/{id_}").text
    assert "detail-probe" in html and "img-debian-12" in html
    assert "secret-bootstrap" not in html  # user data is never shown
    assert 'href="/console/migrate?i=home%2F' in html
    assert browser_like.get("/console/instances/home/i-nothing").status_code == 404
    hung = browser_like.get("/console/instances/slow/i-any")  # the hung cloud: no wait past 0.5 s
    assert hung.status_code == 404 and "did not answer" not in hung.text
    assert browser_like.get("/console/instances/nowhere/x").status_code == 404


def test_images_show_which_clouds_have_each_portable_name(browser_like: httpx.Client) -> None:
    html = browser_like.get("/console/images").text
    row = re.search(r"<tr><th>debian-12</th>(.*?)</tr>", html)
    assert row and row.group(1).count('class="has"') == 3  # home, lab, full; slow is unreachable
    assert "unreachable" in row.group(1)


# ---- changes: CSRF, the activity log, the live channel ---------------------------------------


def test_an_api_change_with_the_session_cookie_but_no_csrf_token_changes_nothing(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    id_ = _create(api, "home", "csrf-probe")
    forged = httpx.post(
        f"{site.url}/api;provider=home/instances/{id_}/stop",
        cookies=browser_like.cookies,
        headers={"Accept": "application/json"},
    )
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]["message"]
    assert _state(api, "home", id_) == "RUNNING"
    wrong = httpx.post(
        f"{site.url}/api;provider=home/instances/{id_}/stop",
        cookies=browser_like.cookies,
        headers={"Accept": "application/json", "X-CSRF-Token": "x" * 43},
    )
    assert wrong.status_code == 403 and _state(api, "home", id_) == "RUNNING"


def test_a_console_change_is_an_api_call_recorded_with_its_user(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    id_ = _create(api, "home", "recorded-probe")
    answer = browser_like.post(
        f"/api;provider=home/instances/{id_}/stop", headers={"Accept": "application/json"}
    )
    assert answer.status_code == 202
    assert _state(api, "home", id_) in ("STOPPING", "STOPPED")
    entries = api.get("/api/activity", params={"q": id_}).json()["activity"]
    assert entries[0]["who"] == "admin" and entries[0]["via"] == "console"
    assert entries[0]["action"] == "stop" and entries[0]["result"] == "ok"
    assert entries[0]["target"] == f"instance home/{id_}"
    for limit in ("0", "1001", "000001" + "9" * 5000, "0000011234567", "²"):
        assert api.get("/api/activity", params={"limit": limit}).status_code == 400


def test_the_activity_csv_keeps_formulas_as_text(site: Site, browser_like: httpx.Client) -> None:
    ActivityLog(site.state_dir).record("=cmd()", "api", "stop", "+target", "ok", "@x")
    ActivityLog(site.state_dir).record("\t=1+1", "api", "stop", "\r=2+2 target", "ok", "-x")
    answer = browser_like.get("/console/activity.csv", params={"q": "target"})
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["at", "who", "via", "action", "target", "result", "detail"]
    mine = [r for r in rows if r[1] == "'=cmd()"]
    assert mine and mine[0][4] == "'+target" and mine[0][6] == "'@x"
    tabbed = [r for r in rows if r[1] == "'\t=1+1"]
    assert tabbed and tabbed[0][4] == "'\r=2+2 target" and tabbed[0][6] == "'-x"


def _events(site: Site, client: httpx.Client, after: int, wanted: Any, **headers: str) -> list:
    """Events after `after` until `wanted(events)` holds (or 20 s)."""
    found: list[dict[str, Any]] = []
    params = {} if "Last-Event-ID" in headers else {"after": str(after)}
    with client.stream("GET", "/api/events", params=params, headers=headers, timeout=30) as s:
        deadline = time.monotonic() + 20
        current: dict[str, Any] = {}
        for line in s.iter_lines():
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and current:
                found.append(current)
                current = {}
                if wanted(found):
                    break
            if time.monotonic() > deadline:
                break
    return found


def test_the_live_channel_of_a_page_ends_when_its_session_does(
    site: Site, api: httpx.Client
) -> None:
    """After a sign-out the page's channel carries no more of the inventory: `signed_out`, the
    end (checked before a frame once a second has passed since the last check)."""
    client = sign_in(site.url)
    with client.stream("GET", "/api/events", timeout=40) as stream:
        lines = stream.iter_lines()
        while next(lines) != "event: hello":
            pass
        token = client.headers["X-CSRF-Token"]
        assert client.post("/console/logout", data={"csrf": token}).status_code == 303
        time.sleep(SESSION_CHECK_SECONDS + 0.1)  # past the check's interval, so it checks next
        made = _create(api, "home", "after-sign-out")
        rest = list(lines)  # until the server ends it
    kinds = [line[7:] for line in rest if line.startswith("event: ")]
    assert kinds[-1] == "signed_out" and kinds.count("signed_out") == 1
    assert made not in "\n".join(rest)  # what was made after the sign-out never reached it
    api.delete(f"/api;provider=home/instances/{made}")
    # an API client's channel is not a session's: its credentials were checked when it began
    assert _events(site, api, 10**9, lambda f: f)[0]["event"] == "hello"


def test_the_live_channel_carries_a_change_and_resumes_from_last_event_id(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    hello = _events(site, browser_like, 10**9, lambda f: f)
    start = hello[0]["id"]
    id_ = _create(api, "lab", "live-probe")

    def has_probe(found: list[dict[str, Any]]) -> bool:
        return any(
            e.get("event") == "instances" and any(r["id"] == id_ for r in e["data"]["changed"])
            for e in found
        )

    seen = _events(site, browser_like, start, has_probe)
    assert has_probe(seen), seen
    row = next(r for e in seen if e.get("event") == "instances" for r in e["data"]["changed"]
               if r["id"] == id_)  # fmt: skip
    assert row["provider"] == "lab" and row["name"] == "live-probe" and "search" not in row
    # a reconnect with Last-Event-ID gets what came after it, and nothing before
    resumed = _events(site, browser_like, 0, has_probe, **{"Last-Event-ID": str(start)})
    numbered = [e["id"] for e in resumed if e.get("event") not in ("hello",)]
    assert has_probe(resumed) and min(numbered) == start + 1
    bad = browser_like.get("/api/events", headers={"Last-Event-ID": "x; drop"})
    assert bad.status_code == 400


# ---- reviewed plans and migrations ------------------------------------------------------------


def test_a_reviewed_plan_is_applied_exactly_once_and_a_stale_one_changes_nothing(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    first = browser_like.post("/api/stacks/web/plans").json()["plan"]
    second = browser_like.post("/api/stacks/web/plans").json()["plan"]
    page = browser_like.get(f"/console/stacks/web?plan={first['id']}").text
    assert 'class="badge b-create">create' in page and "<code>app</code>" in page
    job = browser_like.post(f"/api/stacks/web/plans/{first['id']}/apply").json()["job"]
    done = _wait(lambda: api.get(f"/api/jobs/{job['id']}").json()["job"]["state"]
                 in ("succeeded", "failed"))  # fmt: skip
    assert done and api.get(f"/api/jobs/{job['id']}").json()["job"]["state"] == "succeeded"
    again = browser_like.post(f"/api/stacks/web/plans/{first['id']}/apply")
    assert again.status_code == 404
    serial = api.get("/api/stacks/web").json()["stack"]["serial"]
    stale = browser_like.post(f"/api/stacks/web/plans/{second['id']}/apply").json()["job"]
    _wait(lambda: api.get(f"/api/jobs/{stale['id']}").json()["job"]["state"] == "failed")
    shown = api.get(f"/api/jobs/{stale['id']}").json()["job"]
    assert shown["state"] == "failed" and "stale" in shown["summary"]
    assert api.get("/api/stacks/web").json()["stack"]["serial"] == serial
    # in the activity log (newest first) the stale job's end comes after its start
    log = api.get("/api/activity", params={"q": "stack web", "limit": "2"}).json()["activity"]
    assert [e["result"] for e in log] == ["failed", "started"], log
    job_page = browser_like.get(f"/console/stacks/web?job={job['id']}").text
    assert "done: create app" in job_page
    stacks = browser_like.get("/console/stacks").text
    assert "by admin" in stacks and "free" in stacks


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "{}",
        '{"instances": "home/x", "target": "lab"}',
        '{"instances": [], "target": "lab"}',
        '{"instances": ["home/x"], "target": "mars"}',
        '{"instances": ["home/x"], "target": "lab", "allow_data_loss": "yes"}',
        '{"instances": [1], "target": "lab"}',
        "not json",
    ],
)
def test_a_bad_migration_request_is_refused_and_plans_nothing(
    browser_like: httpx.Client, body: str
) -> None:
    answer = browser_like.post(
        "/api/migrations",
        content=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"]


def _applied(api: httpx.Client, browser_like: httpx.Client) -> dict[str, Any]:
    """The web stack applied (once), and its instance's state entry."""
    if api.get("/api/stacks/web/state").status_code == 404:
        plan = browser_like.post("/api/stacks/web/plans").json()["plan"]
        job = browser_like.post(f"/api/stacks/web/plans/{plan['id']}/apply").json()["job"]
        _wait(lambda: api.get(f"/api/jobs/{job['id']}").json()["job"]["state"] == "succeeded")
    resources = api.get("/api/stacks/web/state").json()["resources"]
    return next(r for r in resources if r["address"] == "app")


def test_a_migration_whose_target_fails_leaves_the_source_in_service(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    app = _applied(api, browser_like)
    before = site.stack_file.read_text()
    answer = browser_like.post(
        "/api/migrations", json={"instances": [f"home/{app['id']}"], "target": "full"}
    )
    assert answer.status_code == 201, answer.text
    migration = answer.json()["migration"]
    assert migration["stacks"][0]["ready"], migration
    job = browser_like.post(f"/api/migrations/{migration['id']}/apply").json()["job"]
    _wait(lambda: api.get(f"/api/jobs/{job['id']}").json()["job"]["state"] != "running")
    shown = api.get(f"/api/jobs/{job['id']}").json()["job"]
    assert shown["state"] == "failed"
    assert "the source instances stay in service" in shown["summary"]
    assert _state(api, "home", app["id"]) == "RUNNING"
    assert site.stack_file.read_text() == before  # the file still says where it runs
    still = next(r for r in api.get("/api/stacks/web/state").json()["resources"]
                 if r["address"] == "app")  # fmt: skip
    assert still["provider"] == "home" and still["id"] == app["id"]
    page = browser_like.get(f"/console/migrate?job={job['id']}").text
    assert "the source instances stay in service" in page


def test_a_migration_to_a_cloud_the_stack_does_not_declare_is_refused_at_review(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    app = _applied(api, browser_like)
    answer = browser_like.post(
        "/api/migrations", json={"instances": [f"home/{app['id']}"], "target": "slow"}
    )
    (move,) = answer.json()["migration"]["stacks"]
    assert not move["ready"] and "declares no provider 'slow'" in move["diagnostics"][0]["summary"]
    apply = browser_like.post(f"/api/migrations/{answer.json()['migration']['id']}/apply")
    assert apply.status_code == 400


def test_migrating_a_managed_instance_moves_it_and_rewrites_its_stack(
    site: Site, browser_like: httpx.Client, api: httpx.Client
) -> None:
    app = _applied(api, browser_like)
    assert app["provider"] == "home"
    loner = _create(api, "home", "loner", user_data="#!/bin/sh\necho SECRET-BOOT\n")
    # an instance of an image no catalog names cannot start anywhere else: refused, with why
    made = api.post("/api;provider=home/images", data={"instance_id": loner, "name": "custom"})
    assert made.status_code == 201, made.text
    odd = _create(api, "home", "odd", image_id=made.json()["image"]["id"])
    api.post("/api;provider=home/keys", data={"name": "mine"})
    keyed = _create(api, "home", "keyed", keyname="mine")
    picked = [f"home/{i}" for i in (app["id"], loner, odd, keyed, loner)]
    # a review that is discarded leaves nothing behind: no stack, no state, no tag
    first = browser_like.post("/api/migrations", json={"instances": picked, "target": "lab"})
    assert first.status_code == 201, first.text
    assert (
        browser_like.delete(f"/api/migrations/{first.json()['migration']['id']}").status_code == 204
    )
    adopted = f"moved-home-{loner}"
    assert not (site.state_dir / "console-stacks" / f"{adopted}.yaml").exists()
    assert not (site.state_dir / f"{adopted}.json").exists()
    assert api.get(f"/api/stacks/{adopted}").status_code == 404
    answer = browser_like.post("/api/migrations", json={"instances": picked, "target": "lab"})
    assert answer.status_code == 201, answer.text
    migration = answer.json()["migration"]
    reasons = {r["instance"]: r["reason"] for r in migration["refused"]}
    assert set(reasons) == {f"home/{odd}", f"home/{keyed}"}  # the loner once, not refused
    assert "no portable name" in reasons[f"home/{odd}"]
    assert "key pair mine" in reasons[f"home/{keyed}"]
    moves = {m["stack"]: m for m in migration["stacks"]}
    assert set(moves) == {"web", adopted} and moves[adopted]["new_stack"]
    assert all(m["ready"] and m["plan"]["summary"]["migrate"] == 1 for m in moves.values()), moves[
        adopted
    ]["diagnostics"]
    review = browser_like.get(f"/console/migrate?m={migration['id']}").text
    assert "created on lab first" in review and "Apply exactly this migration" in review
    assert "SECRET-BOOT" not in review
    job = browser_like.post(f"/api/migrations/{migration['id']}/apply").json()["job"]
    _wait(lambda: api.get(f"/api/jobs/{job['id']}").json()["job"]["state"] != "running")
    shown = api.get(f"/api/jobs/{job['id']}").json()["job"]
    assert shown["state"] == "succeeded", shown
    for stack, address, old_id in (("web", "app", app["id"]), (adopted, "server", loner)):
        doc = api.get(f"/api/stacks/{stack}/state").json()["resources"]
        moved = next(r for r in doc if r["address"] == address)
        assert moved["provider"] == "lab"
        assert api.get(f"/api;provider=lab/instances/{moved['id']}").status_code == 200
        old = api.get(f"/api;provider=home/instances/{old_id}")
        assert old.status_code == 404 or old.json()["instance"]["state"] == "FINISHED"
    assert 'provider: "lab"' in site.stack_file.read_text()
    assert adopted in browser_like.get("/console/stacks").text
    # the stack made for it says where it runs now, boots it as before, and plans no change
    made_file = (site.state_dir / "console-stacks" / f"{adopted}.yaml").read_text()
    assert 'provider: "lab"' in made_file and "SECRET-BOOT" in made_file
    again = browser_like.post(f"/api/stacks/{adopted}/plans").json()["plan"]["plan"]
    assert again["summary"] == {"add": 0, "change": 0, "destroy": 0, "migrate": 0}
    made_serial = api.get(f"/api/stacks/{adopted}/history").json()["history"][-1]["serial"]
    shown_file = browser_like.get(f"/console/stacks/{adopted}?diff={made_serial}").text
    assert "user_data: (hidden)" in shown_file and "SECRET-BOOT" not in shown_file
    entries = api.get("/api/activity", params={"q": adopted}).json()["activity"]
    assert {"import", "apply"} <= {e["action"] for e in entries}
    # the history shows the stack file's change between the two applies
    serial = api.get("/api/stacks/web/history").json()["history"][-1]["serial"]
    diff = browser_like.get(f"/console/stacks/web?diff={serial}").text
    assert '<span class="del">-    provider: home</span>' in diff
    assert '<span class="add">+    provider: &#34;lab&#34;</span>' in diff
    assert browser_like.post(f"/api/migrations/{migration['id']}/apply").status_code == 404


def test_the_stacks_page_names_who_holds_the_lock(site: Site, browser_like: httpx.Client) -> None:
    from nubes.engine.state import LocalBackend

    with LocalBackend(site.state_dir, "web").lock("apply (a test)"):
        page = browser_like.get("/console/stacks").text
        assert "held by" in page and "apply (a test)" in page
        assert "held by" in browser_like.get("/console/stacks/web").text
    assert "held by" not in browser_like.get("/console/stacks").text
    for serial in ("%C2%B2", "9" * 5000, "-1"):  # not a serial: the page without a diff
        answer = browser_like.get(f"/console/stacks/web?diff={serial}")
        assert answer.status_code == 200 and 'id="filediff"' not in answer.text
