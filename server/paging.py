"""Pages of a collection (additive to Deltacloud's API, which answers whole collections):
`?page=N&per_page=M` on any listing answers the Nth page of M objects, with the total in
`X-Total-Count` and the other pages in `Link` (RFC 8288: first, prev, next, last), as GitHub's API
does. Only the page's objects are turned into views and rendered, so a page costs the same
however large the cloud. Without either parameter the whole collection is answered, as
Deltacloud's clients expect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request

from nubes.providers.protocol import CloudObject, PagedListing
from nubes.server.calls import AsyncDriver
from nubes.server.http import ApiError, api_base

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
MAX_PAGE = 10_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    number: int  # from 1
    size: int
    url: str  # the request's own address (the public base, its path and query), for Link
    query: tuple[tuple[str, str], ...]  # the request's parameters other than the page's

    @property
    def start(self) -> int:
        """The index of the page's first object, from 0."""
        return (self.number - 1) * self.size

    def of(self, rows: Sequence[T]) -> Sequence[T]:
        """This page's rows of the whole collection's."""
        return rows[self.start : self.start + self.size]

    def href(self, number: int) -> str:
        pairs = [*self.query, ("page", str(number)), ("per_page", str(self.size))]
        return f"{self.url}?{urlencode(pairs)}"


def _whole(text: str, name: str, top: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 8 and 1 <= int(text) <= top):
        raise ApiError(400, f"{name} must be a whole number from 1 to {top:,}")
    return int(text)


def page_of(
    request: Request,
    page: Annotated[
        str | None,
        Query(description="the page, from 1; answers carry X-Total-Count and Link (RFC 8288)"),
    ] = None,
    per_page: Annotated[
        str | None,
        Query(
            description=f"objects a page, 1 to {MAX_PER_PAGE:,} ({DEFAULT_PER_PAGE} if left out)"
        ),
    ] = None,
) -> Page | None:
    """The page a listing asks for, or None for the whole collection; 400 for a bad one (the
    parameters are taken as text, so that a bad one gets the API's own error shape)."""
    params = request.query_params
    if page is None and per_page is None:
        return None
    number = _whole(page if page is not None else "1", "page", MAX_PAGE)
    size = _whole(
        per_page if per_page is not None else str(DEFAULT_PER_PAGE), "per_page", MAX_PER_PAGE
    )
    query = tuple((k, v) for k, v in params.multi_items() if k not in ("page", "per_page"))
    # the path as matrix parameters left it, under the API's address with its driver and provider
    url = api_base(request) + request.url.path.removeprefix("/api")
    return Page(number, size, url, query)


def page_items(
    rows: Sequence[T],
    view: Callable[[T], dict[str, Any]],
    page: Page | None,
    total: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The views of the page's rows (of all of them without a page), and the page's headers.
    With `total`, `rows` are the page's rows already, fetched alone (`list_rows`)."""
    if page is None:
        return [view(r) for r in rows], {}
    if total is None:
        total = len(rows)
        rows = page.of(rows)
    items = [view(r) for r in rows]
    return items, page_headers(page, total)


def page_headers(page: Page, total: int) -> dict[str, str]:
    last = max(1, -(-total // page.size))
    links = [(1, "first")]
    if page.number > 1:
        links.append((min(page.number - 1, last), "prev"))
    if page.number < last:
        links.append((page.number + 1, "next"))
    links.append((last, "last"))
    return {
        "X-Total-Count": str(total),
        "Link": ", ".join(f'<{page.href(n)}>; rel="{rel}"' for n, rel in links),
    }


async def list_rows(
    driver: AsyncDriver, type: str, page: Page | None
) -> tuple[list[CloudObject], int | None]:
    """A listing's objects: a driver that lists a page alone (PagedListing) is asked for the
    page's objects and their total; any other lists them all (the total is then None)."""
    if page is not None and isinstance(driver.raw, PagedListing):
        total, rows = await driver.list_page(type, {}, page.start, page.size)
        return rows, total
    return await driver.list(type, {}), None
