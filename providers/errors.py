"""Errors a driver raises, mapped from each cloud's own codes.

ProviderError                the cloud refused or failed; message quotes the cloud
├── TransientError           throttling, 5xx, lost connections: worth retrying
├── NotFoundError            the object does not exist
├── ConflictError            the object's state does not allow it (in use, name taken)
├── QuotaError               an account limit was reached; retrying will not help
├── InvalidRequestError      the request itself is wrong (bad image, bad rule)
├── AuthError                credentials missing or refused
├── TimeoutError_            the object did not reach the wanted state in time
├── CancelledError           a wait was cancelled (the run is stopping); the object may exist
└── CreateIncompleteError    the object was created but did not become usable

Only TransientError leaves it unknown whether a create or delete took effect; every other error
means the cloud refused the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nubes.providers.protocol import CloudObject


class ProviderError(Exception):
    """A cloud refused or failed an operation."""

    code: str = "ProviderError"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class TransientError(ProviderError):
    """Throttling, server errors and lost connections: retrying may succeed."""

    code = "Transient"


class NotFoundError(ProviderError):
    """The object does not exist."""

    code = "NotFound"


class ConflictError(ProviderError):
    """The object's current state does not allow the operation."""

    code = "Conflict"


class QuotaError(ProviderError):
    """An account limit was reached."""

    code = "QuotaExceeded"


class InvalidRequestError(ProviderError):
    """The request is wrong and will not succeed on retry."""

    code = "InvalidRequest"


class AuthError(ProviderError):
    """Credentials are missing or were refused."""

    code = "AuthFailure"


class TimeoutError_(ProviderError):
    """An object did not reach the wanted state within its deadline."""

    code = "Timeout"


class CancelledError(ProviderError):
    """A wait was given up because the run is stopping; what was asked may still happen."""

    code = "Cancelled"


class CreateIncompleteError(ProviderError):
    """The object exists but did not become usable (it failed to boot, or timed out).

    The engine records it in state as tainted, so the next plan replaces it."""

    code = "CreateIncomplete"

    def __init__(self, message: str, obj: CloudObject, code: str | None = None) -> None:
        super().__init__(message, code)
        self.object = obj
