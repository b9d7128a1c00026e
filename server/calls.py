"""Driver calls from request handlers: in threads, never on the event loop.

Each provider has its own pool of threads (`limits.provider_threads`), and so does each stack
(its plans reach its clouds), so a slow or hung cloud holds up only the requests that go to it.
A call keeps its place in the pool until its thread is done, even when nobody waits for it any
more, so a hung cloud never holds more threads than its pool. `AsyncDriver` is a driver whose
every method is awaited and runs in its provider's pool; `gather` runs one call per provider at
once and reports one that has not answered within `limits.provider_seconds`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from nubes.providers.protocol import Driver

T = TypeVar("T")


class ProviderTimeout(Exception):
    """A provider did not answer within the time allowed."""


class Calls:
    def __init__(self, providers: Mapping[str, Driver], threads: int, seconds: float) -> None:
        self.drivers = dict(providers)
        self.seconds = seconds
        self.threads = threads
        self._limiters = {f"provider:{name}": anyio.CapacityLimiter(threads) for name in providers}

    def _limiter(self, pool: str) -> anyio.CapacityLimiter:
        if pool not in self._limiters:  # stacks and files: a bounded set, named by the server
            self._limiters[pool] = anyio.CapacityLimiter(self.threads)
        return self._limiters[pool]

    async def run(self, pool: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """`fn(*args, **kw)` in a pool's thread: `provider:NAME`, `stack:NAME` or `files`."""
        call = functools.partial(fn, *args, **kw)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter(pool))

    async def run_for(self, provider: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return await self.run(f"provider:{provider}", fn, *args, **kw)

    async def within(self, provider: str, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the provider's pool, waited for at most `seconds`: past that,
        ProviderTimeout, the call left to finish in its thread (holding its place in the pool,
        so a hung cloud never holds more threads than its pool)."""
        task = asyncio.ensure_future(self.run_for(provider, fn, *args))
        done, _ = await asyncio.wait([task], timeout=self.seconds)
        if not done:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise ProviderTimeout(f"did not answer within {self.seconds:g} s")
        return task.result()

    def driver(self, provider: str) -> AsyncDriver:
        return AsyncDriver(self, provider, self.drivers[provider])

    async def gather(
        self, fn: Callable[[str, Driver], T], providers: list[str]
    ) -> dict[str, T | BaseException]:
        """`fn(name, driver)` for each provider at once; a provider past the time allowed (or
        failing) gives its exception instead of a result."""

        tasks = {
            name: asyncio.ensure_future(self.run_for(name, fn, name, self.drivers[name]))
            for name in providers
        }
        if tasks:
            await asyncio.wait(tasks.values(), timeout=self.seconds)
        results: dict[str, T | BaseException] = {}
        for name, task in tasks.items():
            if not task.done():
                # left to finish in its thread, holding its place in the pool until it does
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
                results[name] = ProviderTimeout(f"did not answer within {self.seconds:g} s")
            elif task.exception() is not None:
                results[name] = task.exception()  # type: ignore[assignment]
            else:
                results[name] = task.result()
        return results


class AsyncDriver:
    """A driver whose methods are awaited: each call runs in the provider's own pool."""

    def __init__(self, calls: Calls, provider: str, driver: Driver) -> None:
        self._calls = calls
        self.provider = provider
        self.raw = driver

    async def next_chunk(self, chunks: Iterator[bytes]) -> bytes | None:
        """The next piece of a download, read in the provider's pool (None at the end)."""
        return await self._calls.run_for(self.provider, next, chunks, None)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.raw, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kw: Any) -> Any:
            return await self._calls.run_for(self.provider, method, *args, **kw)

        return call
