"""The state document's bytes, shared by every backend: one encoding, one set of checks on what
is read back (corrupt, another format, another stack, another lineage)."""

from __future__ import annotations

import json
from typing import Any

from nubes.engine.state.model import STATE_FORMAT, State, StateError
from nubes.engine.state.upgrade import upgrade


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a state may hold")


def encode_state(state: State) -> bytes:
    return json.dumps(state.to_json(), indent=1).encode() + b"\n"


def decode_state(raw: bytes, where: str, stack: str, backup: str = "") -> State:
    """The state in `raw` (read from `where`); `backup` says how to restore the previous one."""
    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("it starts with a byte order mark")
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise StateError(f"state file {where} nests too deeply to be a state.{backup}") from None
    except ValueError as exc:
        raise StateError(f"state file {where} is corrupt or truncated ({exc}).{backup}") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise StateError(f"state file {where} is not a nubes state document.{backup}")
    if fmt > STATE_FORMAT:
        raise StateError(
            f"state file {where} has format {fmt}, newer than this nubes "
            f"understands ({STATE_FORMAT}); upgrade nubes"
        )
    try:
        state = State.from_json(upgrade(doc))
    except StateError as exc:
        raise StateError(f"state file {where} is malformed: {exc}.{backup}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"state file {where} is malformed ({exc}).{backup}") from None
    if state.stack != stack:
        raise StateError(
            f"state file {where} holds the state of stack {state.stack!r}, not {stack!r}"
        )
    return state


def next_version(state: State, current: tuple[str, int] | None, where: str) -> bytes:
    """Bump `state`'s serial past `current` (lineage, serial) and encode it; refuses to
    overwrite a state of another lineage."""
    if current is not None and current[0] != state.lineage:
        raise StateError(
            f"state file {where} belongs to lineage {current[0]}, not "
            f"{state.lineage}; refusing to overwrite it"
        )
    state.serial = (current[1] if current else state.serial) + 1
    return encode_state(state)


def version_of(raw: bytes) -> tuple[str, int] | None:
    """(lineage, serial) of encoded state bytes, without building the state."""
    try:
        doc = json.loads(raw)
        return str(doc["lineage"]), int(doc["serial"])
    except (ValueError, KeyError, TypeError):
        return None
