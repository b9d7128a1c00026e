"""Moving states between backends: `nubes state push | pull` and `nubes backend migrate`.

Nothing is lost and nothing is overwritten by mistake: a state only replaces one of the same
lineage and no newer serial (`--force` for the rest), never while an apply's journal holds
unfinished work, and a migration copies every workspace's state and history, then reads each
back and compares before it says it is done. The source is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from nubes.engine.state.backend import Backend
from nubes.engine.state.codec import decode_state
from nubes.engine.state.model import State, StateError
from nubes.engine.state.stores import Store


def parse_pushed(raw: bytes, where: str, stack: str) -> State:
    return decode_state(raw, where, stack)


def _refuse_unfinished(backend: Backend) -> None:
    if backend.journal.intents():
        raise StateError(
            f"{backend.describe()} has an interrupted apply's unfinished work in its journal; "
            "run nubes plan (or apply) there first. Nothing was changed."
        )


def push_state(backend: Backend, state: State, force: bool, lock_timeout: float = 0.0) -> int:
    """Make `state` the backend's state (under its lock); returns the serial written."""
    with backend.lock("state push", lock_timeout):
        _refuse_unfinished(backend)
        current = backend.read()
        if current is not None and not force:
            if current.lineage != state.lineage:
                raise StateError(
                    f"{backend.describe()} holds lineage {current.lineage}, the file lineage "
                    f"{state.lineage}: it is another state, not a version of this one. "
                    "Nothing was changed (--force replaces it)."
                )
            if current.serial > state.serial:
                raise StateError(
                    f"{backend.describe()} is at serial {current.serial}, newer than the file's "
                    f"{state.serial}; pushing it would lose changes. Nothing was changed "
                    "(--force replaces it)."
                )
        pushed = state.copy()
        if current is not None:
            if current.lineage != pushed.lineage:
                backend.delete()  # --force over another lineage: the old one goes
            else:
                pushed.serial = current.serial
        backend.write(pushed)
        return pushed.serial


@dataclass
class Copied:
    workspace: str
    serial: int
    resources: int
    history: int


def migrate_stack(
    source: Store, target: Store, stack: str, force: bool = False, lock_timeout: float = 0.0
) -> list[Copied]:
    """Copy `stack`'s state and history, in every workspace, from `source` to `target`."""
    done: list[Copied] = []
    for workspace in source.workspaces(stack):
        src, dst = source.backend(stack, workspace), target.backend(stack, workspace)
        with src.lock("backend migrate", lock_timeout, shared=True):
            state = src.read()
            if state is None:
                continue  # the default workspace, never applied
            _refuse_unfinished(src)
            entries = src.history()
            texts = {e.digest: e.stack_text() for e in entries}
            with dst.lock("backend migrate", lock_timeout):
                _refuse_unfinished(dst)
                there = dst.read()
                if there is not None and not force:
                    if there.lineage != state.lineage:
                        raise StateError(
                            f"{dst.describe()} already holds another state of {stack} (lineage "
                            f"{there.lineage}); nothing more was copied (--force replaces it)"
                        )
                    if there.serial > state.serial:
                        raise StateError(
                            f"{dst.describe()} is at serial {there.serial}, newer than the "
                            f"source's {state.serial}; nothing more was copied"
                        )
                if there is not None:
                    dst.delete()
                copy = state.copy()
                copy.serial = state.serial - 1  # the write bumps it back: the same serial
                dst.write(copy)
                for e in entries:
                    marker = State(stack, lineage=state.lineage, serial=e.serial)
                    dst.record_apply(
                        marker, texts[e.digest], e.digest, e.file, e.who, e.summary, e.applied_at
                    )
                check = dst.read()
                if check is None or check.to_json() != state.to_json():
                    raise StateError(
                        f"{dst.describe()} did not read back as written; the source is unchanged"
                    )
                if [h.to_json() for h in dst.history()] != [e.to_json() for e in entries]:
                    raise StateError(f"the history copied to {dst.describe()} does not match")
            done.append(Copied(workspace, state.serial, len(state.resources), len(entries)))
    return done
