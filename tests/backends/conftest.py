"""Every state store the tests judge, behind one fixture: the local folder, S3 on a real moto
server (conditional-write locks, and a DynamoDB lock table), and a real PostgreSQL server.

`store_config(kind)` gives a fresh, empty store each test (a new bucket, a new schema), so the
tests share one server of each kind and stay independent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from nubes.engine.state.settings import BackendConfig
from nubes.engine.state.stores import Store, open_store
from tests import pg_harness
from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto

KINDS = ["local", "s3", "s3-dynamodb", "postgres"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    proc, endpoint = start_moto()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[dict[str, str]]:
    why = pg_harness.why_missing()
    if why:
        pytest.skip(why)
    with pg_harness.postgres() as env:
        yield env


class Stores:
    """Makes fresh stores of a kind and knows the environment that reaches them."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request = request
        self.tmp_path = tmp_path
        self.environ: dict[str, str] = dict(os.environ)

    def config(self, kind: str) -> BackendConfig:
        if kind == "local":
            return BackendConfig(
                "local", {"path": str(self.tmp_path / f"state-{uuid.uuid4().hex[:6]}")}
            )
        if kind.startswith("s3"):
            endpoint = self.request.getfixturevalue("moto_server")
            self.environ.update(FAKE_AWS_CREDENTIALS)
            bucket = f"state-{uuid.uuid4().hex[:12]}"
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            settings: dict[str, Any] = {"bucket": bucket, "prefix": "stacks/", "endpoint": endpoint}
            if kind == "s3-dynamodb":
                table = f"locks-{uuid.uuid4().hex[:8]}"
                dynamo = boto3.client(
                    "dynamodb", endpoint_url=endpoint, region_name="us-east-1", **_keys()
                )
                dynamo.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                settings["lock_table"] = table
            return BackendConfig("s3", settings)
        env = self.request.getfixturevalue("pg_server")
        self.environ.update(env)
        return BackendConfig("postgres", {"schema": f"t_{uuid.uuid4().hex[:12]}"})

    def open(self, config: BackendConfig) -> Store:
        return open_store(config, self.tmp_path / "state", self.environ)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Stores:
    for key, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return Stores(request, tmp_path)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(stores: Stores, kind: str) -> Iterator[Store]:
    opened = stores.open(stores.config(kind))
    yield opened
    opened.close()


StoreMaker = Callable[[str], Store]
