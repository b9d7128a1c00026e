from __future__ import annotations

from nubes.engine.addrs import parse_instance_addr
from nubes.engine.apply.ordering import operations
from nubes.engine.plan.model import Action, Change
from nubes.engine.state import ResourceState, State


def change(addr: str, action: Action, deps: list[str] | None = None) -> Change:
    a = parse_instance_addr(addr)
    assert a is not None
    return Change(
        a,
        "instance",
        "sim",
        action,
        {} if action is not Action.CREATE else None,
        None if action is Action.DELETE else {},
        id=f"id-{addr}",
        dependencies=deps or [],
    )


def prior(*pairs: tuple[str, list[str]]) -> State:
    state = State("s")
    for addr, deps in pairs:
        a = parse_instance_addr(addr)
        assert a is not None
        state.resources[a] = ResourceState(a, "instance", "sim", f"id-{addr}", {}, deps)
    return state


def edges(changes: list[Change], state: State) -> set[tuple[str, str]]:
    _, deps = operations(changes, state)
    return {(f"{op.kind} {op.label}", f"{d.kind} {d.label}") for op, ds in deps.items() for d in ds}


def test_delete_then_create_and_dependents_after() -> None:
    found = edges(
        [change("fw", Action.DELETE_CREATE), change("web", Action.UPDATE, ["fw"])],
        prior(("fw", []), ("web", ["fw"])),
    )
    assert ("create fw", "delete fw") in found
    assert ("update web", "create fw") in found


def test_create_before_destroy_deletes_after_users_moved() -> None:
    found = edges(
        [change("fw", Action.CREATE_DELETE), change("web", Action.UPDATE, ["fw"])],
        prior(("fw", []), ("web", ["fw"])),
    )
    assert ("delete fw", "create fw") in found
    assert ("delete fw", "update web") in found


def test_deletes_run_dependents_first() -> None:
    found = edges(
        [change("fw", Action.DELETE), change("web", Action.DELETE)],
        prior(("fw", []), ("web", ["fw"])),
    )
    assert found == {("delete fw", "delete web")}


def test_removed_dependency_waits_for_the_update_that_drops_it() -> None:
    found = edges(
        [change("fw", Action.DELETE), change("web", Action.UPDATE, [])],
        prior(("fw", []), ("web", ["fw"])),
    )
    assert found == {("delete fw", "update web")}


def test_leftover_deposed_objects_are_deleted_before_what_they_use() -> None:
    deposed = change("web", Action.DELETE, ["fw"])
    deposed.deposed = True
    found = edges([change("fw", Action.DELETE), deposed], prior(("fw", [])))
    assert found == {("delete fw", "delete web (deposed id-web)")}


def test_migration_order_new_first_dependents_then_old_one_by_one() -> None:
    web0, web1 = change("web[0]", Action.MIGRATE), change("web[1]", Action.MIGRATE)
    ip = change("ip", Action.CREATE_DELETE, ["web[0]"])
    found = edges([web0, web1, ip], prior(("web[0]", []), ("web[1]", []), ("ip", ["web[0]"])))
    assert ("delete web[0]", "create web[0]") in found  # the new one first
    assert ("create ip", "create web[0]") in found  # dependents move to the new one
    assert ("delete web[0]", "delete ip") in found  # the old one goes after its old dependents
    assert ("create web[1]", "delete web[0]") in found  # one replica at a time
