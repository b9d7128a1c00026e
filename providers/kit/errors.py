"""A cloud's error codes and HTTP statuses mapped to the `providers.errors` types.

A driver declares a table of its cloud's codes per type (and suffixes, such as EC2's
`.NotFound`); what no table names maps by status: 5xx and 429 are transient, 401 and 403 auth,
404 not found, 409 conflict, 413 quota, anything else a refusal. The message always quotes the
cloud's own code and text, so a user can search for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nubes.providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TransientError,
)

BY_STATUS: Mapping[int, type[ProviderError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: QuotaError,
    429: TransientError,
}


@dataclass(frozen=True)
class ErrorMap:
    """Codes (checked in the order given) and code suffixes per error type."""

    codes: Mapping[type[ProviderError], Iterable[str]]
    suffixes: Mapping[type[ProviderError], tuple[str, ...]] = field(default_factory=dict)
    by_status: Mapping[int, type[ProviderError]] = field(default_factory=lambda: dict(BY_STATUS))

    def kind(self, code: str, status: int) -> type[ProviderError]:
        for kind, names in self.codes.items():
            if code in names:
                return kind
        for kind, ends in self.suffixes.items():
            if code.endswith(ends):
                return kind
        if status >= 500:
            return TransientError
        return self.by_status.get(status, InvalidRequestError)

    def error(self, code: str, status: int, message: str) -> ProviderError:
        """The typed error, its message quoting the cloud: `code: message`."""
        text = message if message.startswith(f"{code}:") else f"{code}: {message or code}"
        return self.kind(code, status)(text, code)
