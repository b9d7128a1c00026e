"""A live server with the console: two sim clouds and one that hangs, a stack that manages an
instance, and a signed-in browser-like client (cookie and CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nubes.engine.stack.model import Provider
from nubes.server.config import Limits, ServerConfig, hash_password, token_hash
from tests.server_harness import PASSWORD, TOKEN, serve

STACK = """\
nubes: 1
name: web
providers:
  home: {driver: sim}
  lab: {driver: sim, region: eu-1}
  full: {driver: sim, region: full-1, max_instances: 0}
resources:
  app:
    type: instance
    provider: home
    image: debian-12
    size: {cpus: 1, memory_gb: 1}
    tags: {role: app}
"""


@dataclass
class Site:
    url: str
    state_dir: Path
    stack_file: Path


def site_config(tmp: Path, hang_ms: float = 60_000) -> ServerConfig:
    stack = tmp / "web.yaml"
    stack.write_text(STACK)
    return ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "lab": Provider("lab", "sim", {"region": "eu-1"}),
            # a cloud whose quota is used up: every create there fails
            "full": Provider("full", "sim", {"region": "full-1", "max_instances": 0}),
            # answers after a minute: the console must show it as unreachable, never wait
            "slow": Provider("slow", "sim", {"region": "far-1", "latency_ms": hang_ms}),
        },
        default_provider="home",
        users={"admin": hash_password(PASSWORD)},
        tokens={"ci": token_hash(TOKEN)},
        stacks=[stack],
        limits=Limits(provider_seconds=0.5, refresh_seconds=0.2),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("console")
    state_dir = tmp / "state"
    config = site_config(tmp)
    server, url = serve(config, state_dir)
    yield Site(url, state_dir, config.stacks[0])
    server.should_exit = True


def sign_in(url: str, user: str = "admin", password: str = PASSWORD) -> httpx.Client:
    """A client holding a console session's cookie, with the page's CSRF token at hand."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    answer = client.post("/console/login", data={"user": user, "password": password})
    assert answer.status_code == 303, answer.text
    page = client.get("/console/activity")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


@pytest.fixture
def browser_like(site: Site) -> Iterator[httpx.Client]:
    client = sign_in(site.url)
    yield client
    client.close()


@pytest.fixture
def api(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=site.url,
        auth=("admin", PASSWORD),
        timeout=30,
        headers={"Accept": "application/json"},
    ) as c:
        yield c
