"""Driver calls from request handlers: in threads, never on the event loop.

Each provider has its own pool of threads (`limits.provider_threads`), so a slow or hung cloud
holds up only the requests that go to it. `AsyncDriver` is a driver whose every method is
awaited and runs in that provider's pool; `gather` runs one call per provider at once, each
within `limits.provider_seconds`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from providers.protocol import Driver

T = TypeVar("T")


class ProviderTimeout(Exception):
    """A provider did not answer within the time allowed."""


class Calls:
    def __init__(self, providers: Mapping[str, Driver], threads: int, seconds: float) -> None:
        self.drivers = dict(providers)
        self.seconds = seconds
        self._limiters = {name: anyio.CapacityLimiter(threads) for name in providers}
        self._spare = anyio.CapacityLimiter(threads)

    async def run(self, provider: str | None, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """`fn(*args, **kw)` in the provider's pool (or a spare one for work of no provider)."""
        limiter = self._limiters.get(provider or "", self._spare)
        call = functools.partial(fn, *args, **kw)
        return await anyio.to_thread.run_sync(call, limiter=limiter, abandon_on_cancel=True)

    def driver(self, provider: str) -> AsyncDriver:
        return AsyncDriver(self, provider, self.drivers[provider])

    async def gather(
        self, fn: Callable[[str, Driver], T], providers: list[str]
    ) -> dict[str, T | BaseException]:
        """`fn(name, driver)` for each provider at once; a provider past the time allowed (or
        failing) gives its exception instead of a result."""

        async def one(name: str) -> T | BaseException:
            try:
                return await asyncio.wait_for(
                    self.run(name, fn, name, self.drivers[name]), self.seconds
                )
            except TimeoutError:
                return ProviderTimeout(f"did not answer within {self.seconds:g} s")
            except Exception as exc:
                return exc

        results = await asyncio.gather(*(one(name) for name in providers))
        return dict(zip(providers, results, strict=True))


class AsyncDriver:
    """A driver whose methods are awaited: each call runs in the provider's own pool."""

    def __init__(self, calls: Calls, provider: str, driver: Driver) -> None:
        self._calls = calls
        self.provider = provider
        self.raw = driver

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.raw, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kw: Any) -> Any:
            return await self._calls.run(self.provider, method, *args, **kw)

        return call
