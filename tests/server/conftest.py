"""Fixtures: the API server (tests/server_harness.py) with two sim providers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_harness import PASSWORD, TOKEN, serve

from engine.stack.model import Provider
from server.config import ServerConfig, hash_password, token_hash


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state_dir = tmp_path_factory.mktemp("api-state")
    config = ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "lab": Provider("lab", "sim", {"region": "sim-2"}),
        },
        default_provider="home",
        users={"admin": hash_password(PASSWORD)},
        tokens={"ci": token_hash(TOKEN)},
    )
    server, url = serve(config, state_dir)
    yield url
    server.should_exit = True


@pytest.fixture
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, auth=("admin", PASSWORD), timeout=30) as c:
        yield c
