"""The driver kit's parts, each against what a cloud does: settings problems, the HTTP
transport's retries and errors (on httpx.MockTransport), waits, maps, ownership and choosing."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from nubes.providers.errors import (
    AuthError,
    CancelledError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TimeoutError_,
    TransientError,
)
from nubes.providers.kit import checks, ownership
from nubes.providers.kit.choose import newest_image, smallest_profile
from nubes.providers.kit.errors import ErrorMap
from nubes.providers.kit.handlers import Handlers
from nubes.providers.kit.http import HttpTransport, Retries, link_header_next
from nubes.providers.kit.settings import STRICT, parse_settings
from nubes.providers.kit.states import StateMap
from nubes.providers.kit.waits import Pacing, TaskStatus, follow_task, wait_until
from nubes.providers.protocol import CloudObject, HardwareProfile, Image, Ownership, PlannedChange
from nubes.providers.values import Unknown

# ---- settings ---------------------------------------------------------------------------------


class Demo(BaseModel):
    model_config = STRICT

    endpoint: str = Field(default="http://x", pattern="^https?://", description="an http:// URL")
    retries: int = Field(default=3, ge=0, description="a whole number of at least 0")


def test_settings_problems_read_as_sentences_and_keep_the_blocks_order() -> None:
    parsed, problems = parse_settings(Demo, "demo", {"retries": -1, "endpont": "x"})
    assert parsed is None
    assert problems == [
        ("retries", "retries must be a whole number of at least 0"),
        ("endpont", "unknown demo setting 'endpont' (settings: endpoint, retries)"),
    ]
    assert parse_settings(Demo, "demo", {"retries": True})[1][0][0] == "retries"  # not a number
    assert parse_settings(Demo, "demo", {"retries": "3"})[0] is None  # strict: text is not 3
    good, none = parse_settings(Demo, "demo", {"retries": 2, "endpoint": None})
    assert none == [] and good is not None and (good.retries, good.endpoint) == (2, "http://x")


# ---- the HTTP transport -----------------------------------------------------------------------


def transport(handler: Any, **kwargs: Any) -> tuple[HttpTransport, list[float]]:
    naps: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(handler))
    kwargs.setdefault("errors", fault_errors)
    return HttpTransport("http://cloud.test/v2", client=client, sleep=naps.append, **kwargs), naps


def fault_errors(response: httpx.Response) -> ProviderError:
    doc = response.json() if response.content else {}
    return ErrorMap(codes={QuotaError: ["overLimit"]}).error(
        doc.get("code", str(response.status_code)), response.status_code, doc.get("message", "")
    )


def test_retries_honour_retry_after_then_succeed() -> None:
    answers = [
        httpx.Response(503, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"ok": True}),
    ]
    t, naps = transport(lambda request: answers.pop(0))
    assert t.json("GET", "/servers") == {"ok": True}
    assert naps == [7.0, 2.0] and (t.calls, t.retried) == (3, 2)


def test_a_create_is_not_repeated_unless_it_is_safe_to() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(503, json={"code": "serviceUnavailable", "message": "busy"})

    t, _ = transport(handler)
    with pytest.raises(TransientError, match="serviceUnavailable: busy"):
        t.request("POST", "/servers", json={})
    assert seen == ["POST"]
    seen.clear()
    t2, naps = transport(handler, retries=Retries(max_attempts=3))
    with pytest.raises(TransientError):
        t2.request("POST", "/servers", json={}, safe_to_repeat=True)
    assert seen == ["POST"] * 3 and len(naps) == 2


def test_errors_are_typed_and_quote_the_cloud() -> None:
    t, _ = transport(
        lambda r: httpx.Response(413, json={"code": "overLimit", "message": "quota exceeded"})
    )
    with pytest.raises(QuotaError) as info:
        t.request("GET", "/servers")
    assert str(info.value) == "overLimit: quota exceeded" and info.value.code == "overLimit"
    t404, _ = transport(lambda r: httpx.Response(404))
    with pytest.raises(NotFoundError):
        t404.request("GET", "/servers/x")


def test_a_401_renews_the_credentials_once() -> None:
    class Token:
        def __init__(self) -> None:
            self.value, self.renewed = "old", 0

        def sign(self, request: httpx.Request) -> None:
            request.headers["X-Auth-Token"] = self.value

        def renew(self) -> bool:
            self.renewed += 1
            self.value = "new"
            return True

    auth = Token()
    t, _ = transport(
        lambda r: httpx.Response(200 if r.headers["X-Auth-Token"] == "new" else 401), auth=auth
    )
    assert t.request("GET", "/servers").status_code == 200 and auth.renewed == 1
    always, _ = transport(lambda r: httpx.Response(401), auth=Token())
    with pytest.raises(AuthError):
        always.request("GET", "/servers")


def test_pages_follow_the_next_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        marker = request.url.params.get("marker")
        if marker is None:
            return httpx.Response(
                200,
                json={"items": [1, 2]},
                headers={"Link": '<http://cloud.test/v2/items?marker=2>; rel="next"'},
            )
        return httpx.Response(200, json={"items": [3]})

    t, _ = transport(handler)
    found = list(t.pages("/items", lambda doc: doc["items"], lambda doc, r: link_header_next(r)))
    assert found == [1, 2, 3] and t.calls == 2


def test_a_next_link_to_another_host_is_not_followed_with_our_credentials() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200, json={"items": [1]}, headers={"Link": '<http://evil.test/steal>; rel="next"'}
        )

    t, _ = transport(handler)
    with pytest.raises(ProviderError, match=r"evil\.test") as info:
        list(t.pages("/items", lambda doc: doc["items"], lambda doc, r: link_header_next(r)))
    assert info.value.code == "ForeignLink"
    assert seen == ["http://cloud.test/v2/items"]


def test_connection_failures_are_retried_and_cancelling_stops_them() -> None:
    tries = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        if len(tries) < 3:
            raise httpx.ConnectError("refused")
        return httpx.Response(204)

    t, naps = transport(handler)
    assert t.request("DELETE", "/servers/1").status_code == 204 and len(naps) == 2
    cancel = threading.Event()
    cancel.set()
    stopped, _ = transport(handler, cancel=cancel)
    with pytest.raises(CancelledError):
        stopped.request("GET", "/servers")


# ---- waits ------------------------------------------------------------------------------------


def test_waits_poll_until_done_and_end_on_timeout_or_cancel() -> None:
    states = iter(["BUILD", "BUILD", "ACTIVE"])
    naps: list[float] = []
    found = wait_until(
        "server", lambda: s if (s := next(states)) == "ACTIVE" else None, 60, sleep=naps.append
    )
    assert found == "ACTIVE" and len(naps) == 2
    with pytest.raises(TimeoutError_, match="server to boot"):
        wait_until("server to boot", lambda: None, 0.0, Pacing(first=0.001))
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(CancelledError):
        wait_until("server", lambda: None, 60, Pacing(first=10), cancel=cancel)


def test_a_failed_task_quotes_the_cloud() -> None:
    statuses = iter([TaskStatus(False, progress=0.5), TaskStatus(False, error="disk full")])
    with pytest.raises(ProviderError, match="deploy vApp: disk full"):
        follow_task("deploy vApp", lambda: next(statuses), 60, Pacing(first=0.001))


# ---- maps -------------------------------------------------------------------------------------


def test_error_map_by_code_suffix_then_status() -> None:
    errors = ErrorMap(
        codes={TransientError: ["RequestLimitExceeded"], ConflictError: ["InUse"]},
        suffixes={NotFoundError: (".NotFound",), QuotaError: ("LimitExceeded",)},
    )
    assert errors.kind("RequestLimitExceeded", 400) is TransientError  # the code before suffix
    assert errors.kind("Volume.NotFound", 400) is NotFoundError
    assert errors.kind("InUse", 400) is ConflictError
    assert errors.kind("Weird", 503) is TransientError
    assert errors.kind("Weird", 403) is AuthError
    assert errors.kind("Weird", 400) is InvalidRequestError
    assert ErrorMap(codes={}, by_status={}).kind("Weird", 403) is InvalidRequestError


def test_state_map_defaults_to_unknown() -> None:
    states = StateMap({"ACTIVE": "running", "SHUTOFF": "stopped"})
    assert [states("ACTIVE"), states("SHUTOFF"), states("RESCUE"), states(None)] == [
        "running",
        "stopped",
        "unknown",
        "unknown",
    ]


# ---- ownership --------------------------------------------------------------------------------


def test_ownership_in_a_name_round_trips() -> None:
    owner = Ownership("web shop", "vm[0]", "0123456789abcdef")
    text = f"my-server {ownership.encode(owner)}"
    assert ":" not in ownership.encode(owner).removeprefix("nubes:").replace(":", "", 2)
    assert ownership.decode(text) == owner.tags()
    assert ownership.decode("my-server") == {}


def test_adopting_takes_only_the_object_with_our_token() -> None:
    owner = Ownership("s", "key", "feedface00")
    ours = CloudObject("key", "k-1", {"name": "deploy"}, owner.tags())
    theirs = CloudObject("key", "k-2", {"name": "deploy"}, {})
    assert ownership.adopt("key", owner, lambda: [theirs, ours], "deploy") is ours
    with pytest.raises(ConflictError, match="already exists and is not this stack's"):
        ownership.adopt("key", owner, lambda: [theirs], "deploy")


# ---- choosing and checks ----------------------------------------------------------------------

PROFILES = [
    HardwareProfile("big", "big", 8, 32, 100),
    HardwareProfile("small", "small", 1, 2, 20),
    HardwareProfile("medium", "medium", 2, 4, 40),
    HardwareProfile("arm", "arm", 2, 4, 40, "arm64"),
    HardwareProfile("flex", "flex", (1.0, 64.0), (1.0, 256.0), 0),
]


def test_the_smallest_profile_that_fits() -> None:
    assert smallest_profile(PROFILES, {"cpus": 2})[0] == PROFILES[2]
    assert smallest_profile(PROFILES, {"cpus": 2, "arch": "arm64"})[0] == PROFILES[3]
    assert smallest_profile(PROFILES, {"cpus": 16, "memory_gb": 8})[0] == PROFILES[4]  # ranged
    none, why = smallest_profile(PROFILES, {"cpus": 128})
    assert none is None and why is not None and "at least 128 cpus" in why
    assert (
        smallest_profile(PROFILES, {"gpus": 1})[1]
        == "size takes arch, cpus, disk_gb, memory_gb, not gpus"
    )


def test_the_newest_image_by_date_else_by_name() -> None:
    dated = [Image("a", "x-1", created="2024-01-01"), Image("b", "x-0", created="2024-03-01")]
    assert newest_image(dated) == dated[1]
    undated = [Image("a", "ubuntu-20240301"), Image("b", "ubuntu-20240101")]
    assert newest_image(undated) == undated[0] and newest_image([]) is None


def test_plan_checks_add_problems_in_the_clouds_words() -> None:
    change = PlannedChange(planned={})
    checks.check_realm({"realm": "mars"}, lambda: ["a", "b"], "region r1", change)
    checks.check_rules_planned({"rules": [{"protocol": "tcp", "ports": "99999"}]}, change)
    assert checks.check_value("image", {"image": Unknown}, lambda v: 1 / 0, change) is None
    assert [attr for attr, _ in change.problems] == ["realm", "rules"]
    assert change.problems[0][1] == "realm 'mars' is not in region r1 (realms: a, b)"
    ok = PlannedChange(planned={})
    checks.check_rules_planned({"rules": [{"protocol": "tcp", "ports": "22"}]}, ok)
    assert ok.problems == [] and ok.planned["rules"][0]["sources"]  # defaults filled in


def test_a_type_without_a_handler_is_one_clear_error() -> None:
    handlers = Handlers("demo", {})
    with pytest.raises(InvalidRequestError, match="demo has no volume resources"):
        handlers["volume"]
    assert "volume" not in handlers
