"""Importing an existing cloud object into a stack's state (`nubes import`, and the console's
migration of an instance no stack manages): the checks that keep one object at one address of one
stack, the ownership tags, and the state write, under the stack's lock."""

from __future__ import annotations

import uuid

from nubes.engine.addrs import InstanceAddr
from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers
from nubes.engine.stack import Stack
from nubes.engine.state import Backend, ResourceState, State, StateError
from nubes.providers.errors import ProviderError
from nubes.providers.protocol import STACK_TAG, Claims, CloudObject, Ownership

Problem = tuple[str, str]  # summary, detail ("" where there is none)


def _a(word: str) -> str:
    """`a bucket`, `an instance`, `an address`."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def destination_problem(
    stack: Stack, addr: InstanceAddr, type: str, verb: str, what: str
) -> Problem | None:
    """An address may only receive an object that the stack declares there, of its type."""
    res = stack.resources.get(addr.name)
    if res is None:
        return (
            f"cannot {verb} {what} to {addr}: the stack has no resource {addr.name!r}",
            "write the resource into the stack first; nothing was changed",
        )
    if res.lookup is not None:
        return (
            f"cannot {verb} {what} to {addr}: {addr.name} looks an object up, and nubes does not "
            "manage what it looks up; nothing was changed",
            "",
        )
    if res.type != type:
        return (
            f"cannot {verb} {what} to {addr}: {addr.name} is {_a(res.type)}, not {_a(type)}",
            "an address only holds objects of its resource's type; nothing was changed",
        )
    expanded = "count" if res.count is not None else "for_each" if res.for_each is not None else ""
    fits = {
        "count": isinstance(addr.key, int),
        "for_each": isinstance(addr.key, str),
        "": addr.key is None,
    }[expanded]
    if not fits:
        return (
            f"{addr} does not match how {addr.name} is declared",
            'use an index (web[0]) with count, a key (web["k"]) with for_each, '
            "and none otherwise; nothing was changed",
        )
    return None


def unmanaged_problem(state: State, stack: str, provider: str, obj: CloudObject) -> Problem | None:
    """An object is managed at one address of one stack, never two."""
    for rs in [*state.resources.values(), *state.deposed]:
        if rs.provider == provider and rs.type == obj.type and rs.id == obj.id:
            return (
                f"{obj.type} {obj.id} is already managed as {rs.address}",
                "two addresses managing one object would change it twice and destroy it twice; "
                f"to give it a new address, use nubes state mv {rs.address} <new address>. "
                "Nothing was changed.",
            )
    owner = obj.tags.get(STACK_TAG)
    if owner is not None and owner not in (stack, "api"):
        return (
            f"{obj.type} {obj.id} belongs to stack {owner!r} (as {obj.address or '?'})",
            f"forget it there first (nubes state rm, in stack {owner}), then import it here. "
            "Nothing was changed.",
        )
    return None


def other_stacks_problem(backend: Backend, provider: str, obj: CloudObject) -> Problem | None:
    """An object another stack in this state store manages (one that a cloud without tags, or
    an older nubes, left untagged) is refused too."""
    for name in backend.stack_names():
        if name == backend.stack:
            continue
        try:
            other = backend.sibling(name).read()
        except StateError:
            continue  # not a state of ours, or damaged: its own commands will say so
        if other is None:
            continue
        for rs in [*other.resources.values(), *other.deposed]:
            if rs.type == obj.type and rs.id == obj.id:
                return (
                    f"{obj.type} {obj.id} is managed by stack {name!r} (as {rs.address})",
                    f"forget it there first (nubes state rm, in stack {name}), then import it "
                    "here. Nothing was changed.",
                )
    return None


def import_object(
    stack: Stack,
    drivers: Drivers,
    backend: Backend,
    addr: InstanceAddr,
    native_id: str,
    sensitive: frozenset[str] = frozenset(),
    lock_timeout: float = 0.0,
    claim: bool = True,
) -> tuple[ResourceState | None, Diagnostics]:
    """Bring `native_id` under `stack`'s management at `addr`; the diagnostics say why not (and
    then nothing was changed). LockHeld and StateError are raised, as they are about the state.
    `claim=False` leaves the cloud's ownership tags to the caller (a review that may be
    discarded tags nothing; the state keeps the token to tag with)."""
    diags = Diagnostics()

    def refuse(problem: Problem) -> tuple[None, Diagnostics]:
        diags.error(*problem)
        return None, diags

    res = stack.resources.get(addr.name)
    if res is None:
        return refuse(
            (
                f"the stack has no resource {addr.name!r}",
                "write the resource into the stack first, then import into it",
            )
        )
    problem = destination_problem(stack, addr, res.type, "import", f"{res.type} {native_id}")
    if problem:
        return refuse(problem)
    with backend.lock("import", lock_timeout):
        state = backend.read() or State(stack.name)
        if addr in state.resources:
            return refuse((f"{addr} is already in state (id {state.resources[addr].id})", ""))
        driver = drivers[res.provider]
        try:
            obj = driver.read(res.type, native_id)
        except ProviderError as exc:
            return refuse((f"reading {res.type} {native_id} failed: {exc}", ""))
        if obj is None:
            return refuse(
                (f"provider {res.provider!r} has no {res.type} with id {native_id!r}", "")
            )
        problem = unmanaged_problem(state, stack.name, res.provider, obj) or (
            other_stacks_problem(backend, res.provider, obj)
        )
        if problem:
            return refuse(problem)
        token = uuid.uuid4().hex
        if claim and isinstance(driver, Claims):  # tagged as this stack's, as a create would be
            try:
                driver.claim(res.type, obj.id, Ownership(stack.name, str(addr), token))
            except ProviderError as exc:
                return refuse((f"tagging {res.type} {native_id} as this stack's failed: {exc}", ""))
        schema = driver.schema()[res.type]
        imported = ResourceState(
            addr,
            res.type,
            res.provider,
            obj.id,
            obj.attributes,
            sensitive=sorted(schema.sensitive | sensitive),
            token=token if isinstance(driver, Claims) else None,
        )
        state.resources[addr] = imported
        backend.write(state)
    return imported, diags
