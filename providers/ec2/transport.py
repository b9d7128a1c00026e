"""The EC2 driver's transport: boto3 clients with botocore's retries, pagination, and waits.

Throttling, 5xx and connection errors are retried by botocore's `standard` retry mode (exponential
backoff with jitter); state transitions are awaited by polling with backoff up to a deadline.
Every call goes through `call`, which turns AWS's errors into nubes' typed errors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from nubes.providers.ec2.errors import translate
from nubes.providers.ec2.settings import Settings
from nubes.providers.kit.waits import FAST, Pacing, wait_until

T = TypeVar("T")


class Transport:
    def __init__(
        self,
        settings: Settings,
        credentials: Mapping[str, str],
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.cancel = cancel
        session = boto3.session.Session(
            aws_access_key_id=credentials.get("access_key_id"),
            aws_secret_access_key=credentials.get("secret_access_key"),
            aws_session_token=credentials.get("session_token"),
            profile_name=settings.profile,
            region_name=settings.region,
        )
        config = Config(
            retries={"mode": "standard", "max_attempts": settings.max_attempts},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
        )
        self.ec2 = session.client("ec2", endpoint_url=settings.endpoint, config=config)
        self.s3 = session.client("s3", endpoint_url=settings.endpoint, config=config)
        self._session, self._config = session, config
        self._lazy: dict[str, Any] = {}
        self.calls = 0  # API calls made, pages and polls included, for tests and benchmarks
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        """A client made on first use, once: boto3's session is not safe to share between
        threads, and the server's pool calls from many."""
        with self._lock:
            if service not in self._lazy:
                self._lazy[service] = self._session.client(
                    service, endpoint_url=self.settings.endpoint, config=self._config
                )
            return self._lazy[service]

    @property
    def elb(self) -> Any:
        """Elastic Load Balancing (classic)."""
        return self._client("elb")

    @property
    def cloudwatch(self) -> Any:
        return self._client("cloudwatch")

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        self._count()
        try:
            result: dict[str, Any] = getattr(client, operation)(**params)
        except Exception as exc:  # botocore raises more than its own hierarchy (parser errors)
            raise translate(exc) from None
        return result

    def upload(
        self,
        bucket: str,
        key: str,
        data: Any,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """S3's managed upload from a file object: multipart past 8 MB, so memory stays flat."""
        self._count()
        extra: dict[str, Any] = {"ContentType": content_type}
        if metadata:
            extra["Metadata"] = dict(metadata)
        try:
            self.s3.upload_fileobj(data, bucket, key, ExtraArgs=extra)
        except Exception as exc:  # boto3's transfer wraps the client's errors
            cause = getattr(exc, "last_exception", None) or exc.__cause__ or exc
            raise translate(cause if isinstance(cause, Exception) else exc) from None

    def pages(self, client: Any, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item of a paginated list call, following NextToken to the end."""
        if not client.can_paginate(operation):
            yield from self.call(client, operation, **params).get(key, [])
            return
        paginator = client.get_paginator(operation)
        try:
            for page in paginator.paginate(**params):
                self._count()
                yield from page.get(key, [])
        except Exception as exc:
            raise translate(exc) from None

    def wait(
        self,
        what: str,
        probe: Callable[[], T | None],
        timeout: float | None = None,
        failed: Callable[[T], str | None] | None = None,
    ) -> T:
        """Poll `probe` until it returns a value, with backoff, within `timeout` seconds (fast
        against a local endpoint such as moto's), ending early if the run is cancelled."""
        pacing = FAST if self.settings.endpoint else Pacing()
        return wait_until(
            what, probe, timeout or self.settings.wait_seconds, pacing, self.cancel, failed
        )
