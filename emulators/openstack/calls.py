"""One request as the handlers see it (`Call`), and one answer (`Answer`).

A handler is a function `(call, **path_parts) -> Answer`, named after the API action it serves;
`urls` routes to it. The call carries the request's parts, the token it bears (checked by the
server before any handler of a service runs), the project's state in the request's region, and
the microversion asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from nubes.emulators.openstack.exceptions import BadRequest, ItemNotFound
from nubes.emulators.openstack.models import Cloud, Project, Token


@dataclass
class Call:
    cloud: Cloud
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base: str  # the origin the client used, `http://127.0.0.1:PORT`
    region: str
    token: Token | None = None
    microversion: tuple[int, int] = (2, 1)

    @property
    def project(self) -> Project:
        assert self.token is not None and self.token.project is not None
        return self.cloud.project(self.token.project, self.region)

    def arg(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def args(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def json(self, required: str | None = None) -> Any:
        """The body as JSON; with `required`, the object under that key (400 without it)."""
        try:
            doc = json.loads(self.body or b"null")
        except ValueError:
            raise BadRequest("Malformed request body") from None
        if required is not None:
            if not isinstance(doc, dict) or not isinstance(doc.get(required), dict):
                raise BadRequest(f"Missing '{required}' in request body")
            return doc[required]
        return doc

    def url(self, path: str) -> str:
        """An absolute URL on the origin the client used, in the request's region."""
        return self.base + region_prefix(self.cloud, self.region) + path

    def at_least(self, major: int, minor: int) -> bool:
        return self.microversion >= (major, minor)


def proxy_only(call: Call) -> None:
    """Nova's image, volume and network proxies answer 404 from microversion 2.36, as Nova's."""
    if call.at_least(2, 36):
        raise ItemNotFound("The resource could not be found.")


def region_prefix(cloud: Cloud, region: str) -> str:
    """Services of the first region live at the root; every other region's under its name."""
    return "" if region == cloud.regions[0] else f"/regions/{region}"


@dataclass
class Answer:
    status: int = 200
    doc: Any = None  # JSON, or None for an empty body
    raw: bytes | None = None  # a body that is not JSON (Swift's objects and listings)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.doc is None:
            return b""
        return json.dumps(self.doc).encode()


def ok(doc: Any = None, status: int = 200, **headers: str) -> Answer:
    return Answer(status, doc, headers=dict(headers))


def page(
    call: Call, items: list[Any], key: str, link: str, ident: Any = lambda i: i["id"]
) -> tuple[list[Any], list[dict[str, str]]]:
    """A page of `items` by the `limit` and `marker` query parameters, and the `next` links a
    client follows (Nova's `*_links`, Cinder's likewise), as OpenStack pages every list."""
    marker = call.arg("marker")
    start = 0
    if marker is not None:
        ids = [str(ident(i)) for i in items]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found", 400)
        start = ids.index(marker) + 1
    limit_text = call.arg("limit")
    limit = 1000
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            raise BadRequest(
                f"Invalid input for query parameters limit. Value: {limit_text}."
            ) from None
        if limit < 0:
            raise BadRequest("limit param must be positive")
    chunk = items[start : start + limit]
    links: list[dict[str, str]] = []
    if chunk and start + limit < len(items):
        others = [(k, v) for k, v in call.query if k != "marker"]
        query = urlencode([*others, ("marker", str(ident(chunk[-1])))])
        links.append({"rel": "next", "href": f"{call.url(link)}?{query}"})
    return chunk, links
