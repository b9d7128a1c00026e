"""Each service's own error documents, as the real services write them.

OpenStackError                  an answer of 400 or more, in its service's shape
├── Fault                       Nova and Cinder: {"itemNotFound": {"code": 404, "message": ...}}
│   ├── ItemNotFound            404 itemNotFound
│   ├── BadRequest              400 badRequest
│   ├── Forbidden               403 forbidden (Nova's quota answer since v2.1)
│   ├── Conflict                409 conflictingRequest
│   └── OverLimit               413 overLimit with retryAfter (Cinder's quota answer, and
│                               the rate limit), and a Retry-After header
├── IdentityError               Keystone: {"error": {"code", "title", "message"}}
│   └── Unauthorized            401, with WWW-Authenticate naming Keystone
├── NeutronError                {"NeutronError": {"type", "message", "detail"}}
├── PlainError                  Glance and Swift: a short text body
└── Injected                    a fault the knobs asked for (503 or 500, the service's shape)
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class OpenStackError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = {}

    def body(self) -> tuple[bytes, str]:
        return self.message.encode(), "text/plain; charset=UTF-8"


class Fault(OpenStackError):
    name = "computeFault"

    def __init__(self, message: str, status: int | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.status = status or self.status
        self.name = name or self.name

    def document(self) -> dict[str, Any]:
        return {self.name: {"code": self.status, "message": self.message}}

    def body(self) -> tuple[bytes, str]:
        return json.dumps(self.document()).encode(), "application/json"


class ItemNotFound(Fault):
    status, name = 404, "itemNotFound"


class BadRequest(Fault):
    status, name = 400, "badRequest"


class Forbidden(Fault):
    status, name = 403, "forbidden"


class Conflict(Fault):
    status, name = 409, "conflictingRequest"


class OverLimit(Fault):
    status, name = 413, "overLimit"

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers["Retry-After"] = str(retry_after)

    def document(self) -> dict[str, Any]:
        doc = super().document()
        doc[self.name]["retryAfter"] = str(self.retry_after)
        return doc


class IdentityError(OpenStackError):
    TITLES: ClassVar[dict[int, str]] = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
    }

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def body(self) -> tuple[bytes, str]:
        title = self.TITLES.get(self.status, "Error")
        doc = {"error": {"code": self.status, "title": title, "message": self.message}}
        return json.dumps(doc).encode(), "application/json"


class Unauthorized(IdentityError):
    def __init__(
        self,
        message: str = "The request you have made requires authentication.",
        realm: str = "",
    ) -> None:
        super().__init__(message, 401)
        if realm:
            self.headers["WWW-Authenticate"] = f'Keystone uri="{realm}"'


class NeutronError(OpenStackError):
    def __init__(self, type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type = type
        self.status = status

    def body(self) -> tuple[bytes, str]:
        doc = {"NeutronError": {"type": self.type, "message": self.message, "detail": ""}}
        return json.dumps(doc).encode(), "application/json"


class PlainError(OpenStackError):
    REASONS: ClassVar[dict[int, str]] = {
        400: "Bad Request",
        404: "Not Found",
        409: "Conflict",
        413: "Request Entity Too Large",
    }

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status

    def body(self) -> tuple[bytes, str]:
        reason = self.REASONS.get(self.status, "Error")
        return (
            f"{self.status} {reason}\n\n{self.message}\n\n   ".encode(),
            "text/plain; charset=UTF-8",
        )


class Injected(Fault):
    """A fault the knobs injected, before the request did anything."""

    def __init__(self, status: int) -> None:
        name = "serviceUnavailable" if status == 503 else "computeFault"
        super().__init__("injected fault: the service is unavailable, try again", status, name)
