"""Whose an object is: a stack, an address and an idempotency token, carried by the object.

Where a cloud has tags (EC2, OpenStack metadata, oVirt and vCloud metadata) they carry the three
as `Ownership.tags()`. Where it has none (RimuHosting, GoGrid), they are encoded in the one text
the object keeps (its name or description) as `nubes:<stack>:<address>:<token>` and read back
with `decode`. Either way, a create whose response was lost, or that met "name already taken"
after a retry, adopts the object that carries its own token instead of making a second one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, unquote

from nubes.providers.errors import ConflictError
from nubes.providers.protocol import ADDRESS_TAG, STACK_TAG, TOKEN_TAG, CloudObject, Ownership

_ENCODED = re.compile(r"nubes:([^:\s]+):([^:\s]+):([0-9a-f]{8,64})")


def encode(owner: Ownership) -> str:
    """Ownership as text for a cloud without tags (safe in names: no spaces, no colons)."""
    return f"nubes:{quote(owner.stack, safe='')}:{quote(owner.address, safe='')}:{owner.token}"


def decode(text: str | None) -> dict[str, str]:
    """The ownership tags encoded in a name or description, or none."""
    found = _ENCODED.search(text or "")
    if found is None:
        return {}
    return {
        STACK_TAG: unquote(found.group(1)),
        ADDRESS_TAG: unquote(found.group(2)),
        TOKEN_TAG: found.group(3),
    }


def earlier(
    find: Callable[[Mapping[str, str]], Iterable[CloudObject]], owner: Ownership
) -> CloudObject | None:
    """What an earlier attempt of this create made, for a cloud whose create takes no token:
    `find` lists objects by tags (a handler's `list`)."""
    return next(iter(find({TOKEN_TAG: owner.token})), None)


def adopt(
    type: str,
    owner: Ownership,
    candidates: Callable[[], Iterable[CloudObject]],
    name: str | None = None,
    code: str = "Duplicate",
) -> CloudObject:
    """The object a lost or repeated create made: one of `candidates` carrying `owner`'s token
    (and `name`, when given). ConflictError when the name is someone else's."""
    for obj in candidates():
        if obj.token == owner.token and (name is None or obj.attributes.get("name") == name):
            return obj
    raise ConflictError(
        f"a {type} named {name!r} already exists and is not this stack's"
        if name is not None
        else f"a {type} like this already exists and is not this stack's",
        code,
    )


def balancer_name(owner: Ownership) -> str:
    """A name for a load balancer the stack left unnamed, by ELB's rule (at most 32 letters,
    digits and inner hyphens): `<stack>-<address>`, shortened with a digest when too long."""
    name = re.sub("[^A-Za-z0-9-]+", "-", f"{owner.stack}-{owner.address}").strip("-")
    if len(name) > 32:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = name[:23].rstrip("-") + "-" + digest
    return name or "lb"
