"""OpenStack's fault documents to typed errors (a kit error map).

Each service writes faults its own way: Nova and Cinder `{"itemNotFound": {"code", "message"}}`,
Neutron `{"NeutronError": {"type", "message"}}`, Keystone `{"error": {"code", "title",
"message"}}`, Glance and Swift a short text. `fault` reads whichever came and quotes it. Quotas:
Nova answers 403 "Quota exceeded", Cinder 413 overLimit naming the limit, Neutron 409 OverQuota;
an overLimit that names no quota is the rate limit, retried after its Retry-After.
"""

from __future__ import annotations

import json

import httpx

from nubes.providers.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    QuotaError,
    TransientError,
)
from nubes.providers.kit.errors import ErrorMap

ERRORS = ErrorMap(
    codes={
        NotFoundError: ("itemNotFound", "NotFound", "Not Found"),
        InvalidRequestError: ("badRequest", "HTTPBadRequest", "Bad Request"),
        ConflictError: (
            "conflictingRequest",
            "SecurityGroupInUse",
            "SecurityGroupRuleExists",
            "SecurityGroupCannotRemoveDefault",
            "FloatingIPPortAlreadyAssociated",
            "Conflict",
        ),
        QuotaError: ("OverQuota",),
        AuthError: ("Unauthorized",),
        TransientError: ("serviceUnavailable", "computeFault"),
    },
    suffixes={NotFoundError: ("NotFound",)},
)


def fault(response: httpx.Response) -> ProviderError:
    status = response.status_code
    code, message = str(status), response.text.strip()[:500]
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and len(doc) == 1:
        ((name, body),) = doc.items()
        if isinstance(body, dict):
            if name == "NeutronError":
                code = str(body.get("type") or code)
            elif name == "error":
                code = str(body.get("title") or code).replace(" ", "")
            else:
                code = name
            message = str(body.get("message") or message)
    elif message:
        # Glance and Swift: "404 Not Found\n\nNo image found with ID x"
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].startswith(str(status)):
            message = " ".join(lines[1:])
    if isinstance(doc, dict) and "error" in doc and not isinstance(doc["error"], dict):
        message = json.dumps(doc)[:500]
    quota = "quota" in message.lower() or "LimitExceeded" in message
    if (status == 413 and quota) or (status == 403 and quota):
        return QuotaError(f"{code}: {message}", code)
    if status == 413:  # overLimit with no quota named: the rate limit
        return TransientError(f"{code}: {message}", code)
    return ERRORS.error(code, status, message)
