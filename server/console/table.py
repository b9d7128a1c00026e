"""The instances page's query: filters, one sort, one page, over every cloud's rows.

Done on the server over the inventory's snapshot, never in the browser and never by asking the
clouds: a page costs one pass over the rows in the order asked for (each order is sorted once per
inventory version; each query's rows are cached until the inventory or the query changes) and a
slice.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SORTS = ("name", "provider", "state", "realm", "profile", "image", "stack", "launched_at")
PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True)
class Query:
    provider: str = ""
    state: str = ""
    stack: str = ""
    tag: str = ""  # KEY or KEY=VALUE
    text: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1
    size: int = 50

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> tuple[Query, list[str]]:
        """The query a page's parameters ask for, and what was wrong with them (ignored)."""
        problems = []
        sort = params.get("sort", "name")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in SORTS:
            problems.append(f"cannot sort by {sort[:40]!r}: sort by one of {', '.join(SORTS)}")
            sort, descending = "name", False
        page = _number(params.get("page", "1"), 1, 10**9, "page", problems)
        size = _number(params.get("size", "50"), 1, 200, "size", problems)
        return (
            cls(
                provider=params.get("provider", "")[:200],
                state=params.get("state", "")[:40],
                stack=params.get("stack", "")[:200],
                tag=params.get("tag", "")[:400],
                text=params.get("q", "")[:400],
                sort=sort,
                descending=descending,
                page=page,
                size=size,
            ),
            problems,
        )

    def args(self, **changes: Any) -> dict[str, str]:
        """This query's parameters, with `changes`, as a link would carry them."""
        values = {
            "provider": self.provider,
            "state": self.state,
            "stack": self.stack,
            "tag": self.tag,
            "q": self.text,
            "sort": ("-" if self.descending else "") + self.sort,
            "page": str(self.page),
            "size": str(self.size),
        }
        for key, value in changes.items():
            values[key] = str(value)
        return {k: v for k, v in values.items() if v and (k, v) not in DEFAULTS}


DEFAULTS = {("sort", "name"), ("page", "1"), ("size", "50")}


def _number(text: str, low: int, high: int, name: str, problems: list[str]) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12 or not low <= int(text) <= high:
        problems.append(f"{name} must be a whole number from {low} to {high:,}")
        return low if name == "page" else 50
    return int(text)


def passes(row: Mapping[str, Any], q: Query) -> bool:
    if q.provider and row["provider"] != q.provider:
        return False
    if q.state and row["state"] != q.state:
        return False
    if q.stack and (row["stack"] or "") != q.stack and not (q.stack == "-" and not row["stack"]):
        return False
    if q.tag:
        key, has_value, value = q.tag.partition("=")
        tags = row["tags"]
        if key not in tags or (has_value and tags[key] != value):
            return False
    return not q.text or q.text.lower() in row["search"]


def _key(sort: str) -> Any:
    if sort == "name":
        return lambda r: (r["name"].lower(), r["provider"], r["id"])
    return lambda r: (str(r.get(sort) or "").lower(), r["name"].lower(), r["provider"], r["id"])


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int  # rows that passed the filters
    pages: int
    query: Query


class Order:
    """Every row in one order, with their search texts joined into one string, so that a text
    filter is a scan at the speed of `str.find` plus a step per match, not a step per row."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.starts: list[int] = []
        at = 0
        for r in rows:
            self.starts.append(at)
            at += len(r["search"]) + 1
        self.text = "\n".join(r["search"] for r in rows)

    def matching(self, text: str) -> list[dict[str, Any]]:
        """The rows whose search text holds `text`, in this order."""
        found: list[dict[str, Any]] = []
        at = self.text.find(text)
        while at >= 0:
            i = bisect.bisect_right(self.starts, at) - 1
            row = self.rows[i]
            if text in row["search"]:  # not a match across two rows' texts
                found.append(row)
                at = self.text.find(text, self.starts[i] + len(row["search"]) + 1)
            else:
                at = self.text.find(text, at + 1)
        return found


class Sorted:
    """Sorted views of the rows: each order over every row once per inventory version, and
    each query's rows taken from it in order (a new filter is one scan, never a sort)."""

    def __init__(self) -> None:
        self._orders: dict[tuple[Any, ...], Order] = {}
        self._cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def page(self, rows: list[dict[str, Any]], version: int, q: Query) -> Page:
        key = (version, q.provider, q.state, q.stack, q.tag, q.text, q.sort, q.descending)
        found = self._cache.get(key)
        if found is None:
            order = self._ordered(rows, version, q.sort, q.descending)
            found = order.matching(q.text.lower()) if q.text else order.rows
            if q.provider or q.state or q.stack or q.tag:
                found = [r for r in found if passes(r, q)]
            _keep(self._cache, key, found)
        pages = max(1, -(-len(found) // q.size))
        q = replace(q, page=min(q.page, pages))  # past the end is the last page, links too
        start = (q.page - 1) * q.size
        return Page(found[start : start + q.size], len(found), pages, q)

    def _ordered(
        self, rows: list[dict[str, Any]], version: int, sort: str, descending: bool
    ) -> Order:
        key = (version, sort, descending)
        found = self._orders.get(key)
        if found is None:
            ordered = sorted(rows, key=_key(sort))
            if descending:
                ordered.reverse()
            found = Order(ordered)
            _keep(self._orders, key, found)
        return found


def _keep(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    if len(cache) > 16:
        cache.clear()
    cache[key] = value
