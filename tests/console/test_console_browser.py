"""The console in a real browser: Playwright driving Debian's Chromium (headless, only
127.0.0.1 reachable) against `nubes serve`'s app with the sim, EC2 on a moto server and a cloud
that hangs. Each flow writes a screenshot to NUBES_SCREENSHOTS (default build/screenshots)."""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nubes.engine.stack.model import Provider
from nubes.server.config import Limits, ServerConfig, hash_password
from nubes.server.routes.activity import SESSION_CHECK_SECONDS
from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto
from tests.server_harness import PASSWORD, serve

playwright = pytest.importorskip("playwright.sync_api")

STACK = """\
nubes: 1
name: shop
catalog:
  images:
    base: {{sim: img-ubuntu-2204, ec2: {{owner: "099720109477", name: "*xenial-16.04*"}}}}
providers:
  home: {{driver: sim}}
  aws: {{driver: ec2, region: us-east-1, endpoint: "{endpoint}"}}
resources:
  app:
    type: instance
    provider: home
    image: base
    size: {{cpus: 1, memory_gb: 1}}
"""
SLOW = """\
nubes: 1
name: slow
providers:
  home: {driver: sim, latency_ms: 150}
resources:
  k: {type: key, count: 60, name: "slow-${count.index}"}
"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("NUBES_SCREENSHOTS", "build/screenshots"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    moto, endpoint = start_moto()
    tmp = tmp_path_factory.mktemp("console-browser")
    stack = tmp / "shop.yaml"
    stack.write_text(STACK.format(endpoint=endpoint))
    (tmp / "slow.yaml").write_text(SLOW)
    config = ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "aws": Provider("aws", "ec2", {"region": "us-east-1", "endpoint": endpoint}),
            "down": Provider("down", "sim", {"region": "far-1", "latency_ms": 60_000}),
        },
        default_provider="home",
        users={"admin": hash_password(PASSWORD)},
        stacks=[stack, tmp / "slow.yaml"],
        limits=Limits(provider_seconds=2.0, refresh_seconds=0.5),
    )
    environ = {**FAKE_AWS_CREDENTIALS, "NUBES_CREDENTIALS_FILE": str(tmp / "none.yaml")}
    patch = pytest.MonkeyPatch()
    for key, value in environ.items():  # boto3 reads the process's environment
        patch.setenv(key, value)
    server, url = serve(config, tmp / "state", environ)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield {
            "url": url,
            "browser": browser,
            "moto": endpoint,
            "stack": stack,
            "app": server.config.app,
        }
        browser.close()
    server.should_exit = True
    patch.undo()
    moto.terminate()
    moto.wait(timeout=10)


@pytest.fixture
def api(site: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=site["url"],
        auth=("admin", PASSWORD),
        headers={"Accept": "application/json"},
        timeout=30,
    ) as c:
        yield c


@pytest.fixture
def page(site: dict[str, Any]) -> Iterator[Any]:
    context = site["browser"].new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.problems = problems
    page.goto(site["url"] + "/console/login")
    page.fill("input[name=user]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console")
    page.wait_for_selector("#live.on")  # the live channel is open
    yield page
    # no script error, no refused resource (a CSP violation shows here too)
    assert [p for p in problems if "409" not in p] == [], problems
    context.close()


def _ami(site: dict[str, Any]) -> str:
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=site["moto"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["*xenial-16.04*"]}]
    )["Images"]
    return str(images[0]["ImageId"])


def test_a_bad_login_says_so_and_signs_nobody_in(site: dict[str, Any]) -> None:
    context = site["browser"].new_context()
    page = context.new_page()
    page.goto(site["url"] + "/console")
    assert "/console/login" in page.url
    page.fill("input[name=user]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "not right" in page.inner_text("[role=alert]")
    page.screenshot(path=str(SHOTS / "login-refused.png"))
    page.goto(site["url"] + "/console/instances")
    assert "/console/login" in page.url
    context.close()


def test_the_overview_shows_every_cloud_and_the_unreachable_one(page: Any, api: Any) -> None:
    api.post("/api;provider=home/instances", data={"image_id": "img-debian-12", "name": "seen"})
    page.wait_for_selector("#card-down .bad")
    page.reload()
    assert "unreachable" in page.inner_text("#card-down")
    assert "did not answer" in page.inner_text("#card-down")
    page.wait_for_selector("#card-aws.up")
    assert "reachable" in page.inner_text("#card-aws .status")
    page.wait_for_selector("#chart .uplot")  # the chart of running instances drew
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)


def test_sim_and_ec2_instances_on_one_page_and_a_stop_seen_live(
    site: dict[str, Any], page: Any, api: Any
) -> None:
    sim = api.post(
        "/api;provider=home/instances", data={"image_id": "img-debian-12", "name": "sim-web"}
    ).json()["instance"]["id"]
    ec2 = api.post("/api;provider=aws/instances", data={"image_id": _ami(site), "name": "ec2-web"})
    assert ec2.status_code == 201, ec2.text
    page.goto(site["url"] + "/console/instances?q=-web")
    page.wait_for_selector("tr[data-name=sim-web]")
    if not page.query_selector("tr[data-name=ec2-web]"):
        page.wait_for_timeout(1500)
        page.reload()
    clouds = page.eval_on_selector_all("tr[data-id]", "rows => rows.map(r => r.dataset.provider)")
    assert {"home", "aws"} <= set(clouds)
    page.evaluate("window.notReloaded = true")
    sim_row = f"tr[data-id='{sim}']"
    page.check(f"{sim_row} .pick")
    page.click("button[data-bulk=stop]")
    assert "sim-web" in page.inner_text("#confirm-list")
    page.screenshot(path=str(SHOTS / "confirm-stop.png"))
    page.click("#confirm-ok")
    page.wait_for_selector(f"{sim_row}[data-state=stopped]")  # changed by the live channel
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(SHOTS / "instances.png"), full_page=True)
    # a running instance's page: the metrics chart drew from the metrics collection, stop is
    # offered and start not; a stop from there is followed live, buttons too
    probe = api.post(
        "/api;provider=home/instances", data={"image_id": "img-debian-12", "name": "probe"}
    ).json()["instance"]["id"]
    store = site["app"].state.calls.drivers["home"].cloud.store
    row = store.get(probe)
    row.attrs["launched_at"] = "2026-01-01T00:00:00Z"  # up for months: it has samples
    store.save(row)
    page.goto(site["url"] + f"/console/instances/home/{probe}")
    page.wait_for_selector("#metrics .uplot")
    assert page.is_enabled("button[data-act=stop]")
    assert not page.is_enabled("button[data-act=start]")
    page.screenshot(path=str(SHOTS / "instance.png"), full_page=True)
    page.click("button[data-act=stop]")
    page.click("#confirm-ok")
    page.wait_for_selector("#instance[data-state=stopped]")
    assert page.is_enabled("button[data-act=start]")


def test_a_bulk_action_confirms_every_instance_it_names(
    site: dict[str, Any], page: Any, api: Any
) -> None:
    ids = [
        api.post(
            "/api;provider=home/instances", data={"image_id": "img-debian-12", "name": f"bulk-{i}"}
        ).json()["instance"]["id"]
        for i in range(3)
    ]
    page.goto(site["url"] + "/console/instances?q=bulk-")
    page.wait_for_selector("tr[data-name=bulk-2]")
    page.check("#select-all")
    assert page.inner_text("#selected-count") == "3 selected"
    page.click("button[data-bulk=destroy]")
    names = page.inner_text("#confirm-list")
    assert all(f"bulk-{i}" in names for i in range(3))
    page.click("#confirm-ok")
    for id_ in ids:
        page.wait_for_selector(f"tr[data-id='{id_}'][data-state=terminated], "
                               f"tr[data-id='{id_}'][data-state=gone]")  # fmt: skip


def test_an_instance_made_while_the_page_is_open_appears_without_a_reload(
    site: dict[str, Any], page: Any, api: Any
) -> None:
    page.goto(site["url"] + "/console/instances?q=arrival-")
    page.wait_for_selector("#live.on")  # listening before the instances are made
    assert page.eval_on_selector_all("tr[data-id]", "rows => rows.length") == 0
    page.evaluate("window.notReloaded = true")
    ids = [
        api.post(
            "/api;provider=home/instances",
            data={"image_id": "img-debian-12", "name": f"arrival-{i}"},
        ).json()["instance"]["id"]
        for i in range(2)
    ]
    for id_ in ids:
        page.wait_for_selector(f"tr[data-id='{id_}']")  # the table asked again for this query
    assert page.evaluate("window.notReloaded") is True
    names = page.eval_on_selector_all("tr[data-id]", "rows => rows.map(r => r.dataset.name)")
    assert sorted(names) == ["arrival-0", "arrival-1"]  # the page's filter still holds
    # rows picked for an action are never swept away: the page says to reload instead
    page.check(f"tr[data-id='{ids[0]}'] .pick")
    ids.append(
        api.post(
            "/api;provider=home/instances", data={"image_id": "img-debian-12", "name": "arrival-2"}
        ).json()["instance"]["id"]
    )
    page.wait_for_selector("#notes >> text=New instances on home")
    assert page.is_checked(f"tr[data-id='{ids[0]}'] .pick")
    assert not page.query_selector(f"tr[data-id='{ids[2]}']")
    for id_ in ids:
        api.delete(f"/api;provider=home/instances/{id_}")


def test_signing_out_in_one_tab_takes_the_other_to_the_login_form(
    site: dict[str, Any], page: Any, api: Any
) -> None:
    page.goto(site["url"] + "/console/instances")
    page.wait_for_selector("#live.on")
    other = page.context.new_page()
    other.goto(site["url"] + "/console")
    other.click("form.signout button[type=submit]")
    other.wait_for_url("**/console/login**")
    time.sleep(SESSION_CHECK_SECONDS + 0.1)  # past the channel's last check of the session
    made = api.post(
        "/api;provider=home/instances", data={"image_id": "img-debian-12", "name": "unseen"}
    ).json()["instance"]["id"]
    page.wait_for_url("**/console/login?next=%2Fconsole%2Finstances")  # its next event ends it
    assert "unseen" not in page.content()
    api.delete(f"/api;provider=home/instances/{made}")


def test_a_change_without_the_csrf_token_is_refused(site: dict[str, Any], page: Any) -> None:
    status = page.evaluate(
        """async () => (await fetch('/api;provider=home/instances', {method: 'POST',
             headers: {'Accept': 'application/json'}, body: new URLSearchParams({image_id:
             'img-debian-12', name: 'forged'})})).status"""
    )
    assert status == 403
    page.problems.clear()  # the refused request is logged by the browser, as it should be
    html = httpx.get(
        site["url"] + "/api;provider=home/instances",
        auth=("admin", PASSWORD),
        headers={"Accept": "application/json"},
    ).text
    assert "forged" not in html


def test_apply_a_stack_then_see_drift_then_migrate_it_to_ec2(
    site: dict[str, Any], page: Any, api: Any
) -> None:
    page.goto(site["url"] + "/console/stacks/shop")
    page.click("button[data-plan]")
    page.wait_for_selector("#plan #changes")
    assert "create" in page.inner_text("#changes")
    page.screenshot(path=str(SHOTS / "stack-plan.png"), full_page=True)
    page.click("button[data-apply-plan]")
    page.wait_for_selector("#job[data-job]")
    page.wait_for_selector("#job[data-state=succeeded], #job[data-state=failed]")
    assert page.inner_text("#job-state") == "succeeded", page.inner_text("#job")
    assert "done: create app" in page.inner_text("#steps")
    page.screenshot(path=str(SHOTS / "stack-apply.png"), full_page=True)
    # drift: the instance is stopped behind nubes's back
    app = next(r for r in api.get("/api/stacks/shop/state").json()["resources"])
    assert api.post(f"/api;provider=home/instances/{app['id']}/stop").status_code == 202
    page.goto(site["url"] + "/console/stacks/shop")
    page.click("button[data-plan]")
    page.wait_for_selector("#plan table.drift")
    assert "app" in page.inner_text("table.drift")
    page.click("button[data-discard-plan]")
    page.wait_for_url("**/console/stacks/shop")
    api.post(f"/api;provider=home/instances/{app['id']}/start")
    # migrate it from the sim to EC2, through review and live progress
    page.goto(site["url"] + f"/console/instances/home/{app['id']}")
    page.click("a[href^='/console/migrate']")
    page.select_option("select[name=target]", "aws")
    page.click("button[data-plan-migration]")
    page.wait_for_selector("#review")
    assert "created on aws first" in page.inner_text("#review")
    page.screenshot(path=str(SHOTS / "migration-review.png"), full_page=True)
    page.click("button[data-apply-migration]")
    page.wait_for_selector("#job[data-state=succeeded], #job[data-state=failed]")
    assert page.inner_text("#job-state") == "succeeded", page.inner_text("#job")
    page.screenshot(path=str(SHOTS / "migration-progress.png"), full_page=True)
    moved = next(r for r in api.get("/api/stacks/shop/state").json()["resources"])
    assert moved["provider"] == "aws"
    assert 'provider: "aws"' in site["stack"].read_text()


def test_a_running_job_is_cancelled_from_its_page(site: dict[str, Any], page: Any) -> None:
    page.goto(site["url"] + "/console/stacks/slow")
    page.click("button[data-plan]")
    page.wait_for_selector("#plan #changes")
    page.click("button[data-apply-plan]")
    page.wait_for_selector("#job[data-job] #job-cancel")
    page.wait_for_selector("#steps li.done ~ li.done")  # two keys made
    page.click("#job-cancel")
    page.wait_for_selector("#job[data-state=cancelled]", timeout=60_000)
    assert page.inner_text("#job-summary").startswith("cancelled: ")
    assert page.query_selector("#job-cancel") is None
    assert "cancel_requested" in page.inner_text("#log")
    done = len(page.query_selector_all("#steps li.done"))
    assert 2 <= done < 60  # it stopped starting more; what it finished is kept
    page.screenshot(path=str(SHOTS / "job-cancelled.png"), full_page=True)


def test_the_activity_page_lists_what_the_console_did(site: dict[str, Any], page: Any) -> None:
    page.goto(site["url"] + "/console/activity?via=console")
    text = page.inner_text("#activity")
    assert "login" in text and "admin" in text
    page.screenshot(path=str(SHOTS / "activity.png"), full_page=True)
    with urllib.request.urlopen(site["url"] + "/api") as answer:
        assert answer.status == 200
