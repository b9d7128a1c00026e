"""Fixtures: the API server (tests/server_harness.py) with two sim providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nubes.engine.stack.model import Provider
from nubes.server.config import ServerConfig, hash_password, token_hash
from tests.server_harness import PASSWORD, TOKEN, serve

STACK = """
nubes: 1
name: shop
variables:
  replicas: {type: number, default: 2}
  secret: {type: string, default: s3cret-value, sensitive: true}
providers:
  home: {driver: sim, latency_ms: 30}
resources:
  files: {type: bucket, count: "${var.replicas}", name: "shop-${count.index}"}
  key: {type: key, name: shop-key}
outputs:
  secret: {value: "${var.secret}", sensitive: true}
"""


@pytest.fixture(scope="module")
def api_state(api: str) -> Path:
    return STATE_DIRS[api]


STATE_DIRS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state_dir = tmp_path_factory.mktemp("api-state")
    stack = state_dir.parent / "api-stack.yaml"
    stack.write_text(STACK)
    config = ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "lab": Provider("lab", "sim", {"region": "sim-2"}),
        },
        default_provider="home",
        users={"admin": hash_password(PASSWORD)},
        tokens={"ci": token_hash(TOKEN)},
        stacks=[stack],
    )
    server, url = serve(config, state_dir)
    STATE_DIRS[url] = state_dir
    yield url
    server.should_exit = True


@pytest.fixture
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=30) as c:
        yield c
