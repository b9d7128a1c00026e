"""The HTTP transport the drivers of HTTP clouds share (OpenStack, OpenNebula, oVirt, vCloud,
Terremark, RimuHosting, GoGrid), on httpx.

* An auth hook signs each request (a token header, Basic, a query signature) and may renew the
  credentials once when the cloud answers 401.
* Retries: transport errors, 429 and 5xx, and answers the cloud marks as retryable, with
  exponential backoff and full jitter, honouring Retry-After (seconds or an HTTP date), within
  `max_attempts` and a deadline per call. Only idempotent methods are retried after the request
  was sent, unless the caller says the call is safe to repeat (a create with an idempotency
  token).
* Errors: any answer of 400 or more becomes the driver's typed error through its `errors`
  function (a kit ErrorMap over the cloud's fault documents).
* Pagination: `pages` follows a next link or marker the driver reads from each page.
* Counters (`calls`, `retries`) for tests and benchmarks, timeouts per request, an injectable
  `httpx.Client` (tests pass one on `httpx.MockTransport` or an emulator), and cancelling: a set
  `cancel` event ends waits between attempts with CancelledError.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from nubes.providers.errors import CancelledError, ProviderError, TransientError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Auth(Protocol):
    def sign(self, request: httpx.Request) -> None:
        """Add the credentials to a request about to be sent."""
        ...

    def renew(self) -> bool:
        """Get fresh credentials after a 401 (a new token); False when there is nothing to
        renew, so the 401 stands."""
        ...


class NoAuth:
    def sign(self, request: httpx.Request) -> None:
        pass

    def renew(self) -> bool:
        return False


@dataclass(frozen=True)
class Retries:
    max_attempts: int = 6
    first_pause: float = 0.5
    max_pause: float = 30.0
    deadline: float = 300.0  # seconds one call may spend, retries included


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def default_errors(response: httpx.Response) -> ProviderError:
    from nubes.providers.kit.errors import ErrorMap

    return ErrorMap(codes={}).error(
        str(response.status_code), response.status_code, response.text[:500]
    )


class HttpTransport:
    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        errors: Callable[[httpx.Response], ProviderError] = default_errors,
        retries: Retries = Retries(),
        timeout: float = 60.0,
        client: httpx.Client | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], object] = time.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth or NoAuth()
        self.errors = errors
        self.retries = retries
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.timeout = timeout
        self.cancel = cancel
        self._sleep = sleep
        self.headers = dict(headers or {})
        self.calls = 0
        self.retried = 0
        self._lock = threading.Lock()

    def _count(self, retry: bool = False) -> None:
        with self._lock:
            self.calls += 1
            self.retried += retry

    def _pause(self, seconds: float) -> None:
        if self.cancel is not None:
            if self.cancel.wait(seconds):
                raise CancelledError("the run is stopping: no more retries")
        else:
            self._sleep(seconds)

    def url(self, path: str) -> str:
        """A path under the base URL, or an absolute URL of the same origin (a next-page link).
        Another origin is refused: the request would carry this cloud's credentials there."""
        if not path.startswith(("http://", "https://")):
            return f"{self.base_url}{path}"
        if httpx.URL(path).netloc != httpx.URL(self.base_url).netloc or (
            httpx.URL(path).scheme != httpx.URL(self.base_url).scheme
        ):
            raise ProviderError(
                f"the cloud pointed at {httpx.URL(path).host}, not its own endpoint: not followed",
                "ForeignLink",
            )
        return path

    def request(
        self,
        method: str,
        path: str,
        *,
        safe_to_repeat: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call, retried as the module says; an answer of 400 or more raises the mapped
        error. `safe_to_repeat` allows retrying a non-idempotent method (a create carrying an
        idempotency token the cloud honours)."""
        method = method.upper()
        repeatable = safe_to_repeat or method in IDEMPOTENT
        headers = {**self.headers, **kwargs.pop("headers", {})}
        started = time.monotonic()
        pause = self.retries.first_pause
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            if self.cancel is not None and self.cancel.is_set():
                raise CancelledError(f"the run is stopping: {method} {path} not sent")
            request = self.client.build_request(
                method,
                self.url(path),
                headers=headers,
                timeout=self.timeout,
                **kwargs,
            )
            self.auth.sign(request)
            self._count(retry=attempt > 1)
            wait: float | None = None
            try:
                response = self.client.send(request)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if sent and not repeatable:
                    raise TransientError(
                        f"{method} {path}: the connection failed after the request was sent "
                        f"({type(exc).__name__}); it may have taken effect",
                        "ConnectionError",
                    ) from None
                failure: ProviderError = TransientError(
                    f"{method} {path}: {type(exc).__name__}: {exc}", "ConnectionError"
                )
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 401 and not renewed and self.auth.renew():
                    renewed = True
                    continue
                failure = self.errors(response)
                retryable = response.status_code in RETRY_STATUSES or isinstance(
                    failure, TransientError
                )
                if not retryable or not repeatable:
                    raise failure
                wait = retry_after(response)
            elapsed = time.monotonic() - started
            if attempt >= self.retries.max_attempts:
                raise failure
            nap = wait if wait is not None else random.uniform(0, pause)
            if elapsed + nap > self.retries.deadline:
                raise failure
            self._pause(nap)
            pause = min(pause * 2, self.retries.max_pause)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{method} {path}: the answer is not JSON: {response.text[:200]!r}",
                "UnparsableResponse",
            ) from None

    def pages(
        self,
        path: str,
        items: Callable[[Any], list[Any]],
        next_page: Callable[[Any, httpx.Response], str | None],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Every item of a paginated list: `items` reads a page's items, `next_page` the path
        (or full URL) of the next page from the page and its response, None at the end."""
        url: str | None = path
        query: Mapping[str, Any] | None = params
        while url is not None:
            response = self.request("GET", url, params=query)
            doc = response.json() if response.content else {}
            yield from items(doc)
            url = next_page(doc, response)
            query = None  # the next link carries its own query

    def close(self) -> None:
        self.client.close()


def link_header_next(response: httpx.Response) -> str | None:
    """The `rel="next"` target of a Link header (RFC 8288), as GitHub-style APIs page."""
    link = response.links.get("next")
    return link.get("url") if link else None
