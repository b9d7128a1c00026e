"""A real moto server on 127.0.0.1, started for these tests and stopped after them.

Tests talk to it through boto3 over HTTP, exactly as the driver talks to AWS. Each test starts
from an empty cloud (moto's reset endpoint).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto

FAKE_CREDENTIALS = FAKE_AWS_CREDENTIALS


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    proc, endpoint = start_moto()
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """An empty moto cloud and AWS credentials in the environment; returns the endpoint."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NUBES_CREDENTIALS_FILE", str(tmp_path / "no-credentials.yaml"))
    return moto_endpoint


@pytest.fixture
def ec2(aws: str):  # type: ignore[no-untyped-def]
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=aws)


@pytest.fixture
def ami(ec2) -> str:  # type: ignore[no-untyped-def]
    """An image moto serves in us-east-1."""
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[{"Name": "name", "Values": ["ubuntu/images/hvm-ssd/ubuntu-xenial-16.04*"]}],
    )["Images"]
    return str(images[0]["ImageId"])
