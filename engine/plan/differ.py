"""The differ: desired instances against refreshed state, giving one Change per instance.

`plan()` is the whole pipeline stage: check the stack against the providers' schemas, build the
graph, refresh, then walk instances in dependency order, evaluating each one's attributes with
the planned values of what it depends on (computed values of new objects are `Unknown`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nubes.engine.addrs import InstanceAddr
from nubes.engine.catalog import Resolver
from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers
from nubes.engine.graph import Graph, build_graph
from nubes.engine.lang import Scope, evaluate, make_functions
from nubes.engine.lang.budget import run_budget
from nubes.engine.lang.unknown import Unknown, contains_unknown
from nubes.engine.plan.check import check_resource, conform, has_expression, value_problem
from nubes.engine.plan.model import Action, Change, Drift, OutputChange, Plan
from nubes.engine.plan.recover import Recovered, recover
from nubes.engine.plan.refresh import refresh
from nubes.engine.sensitive import HIDDEN, stack_sensitivity
from nubes.engine.stack.model import Resource, Stack
from nubes.engine.stack_outputs import STACK_OUTPUTS
from nubes.engine.state.journal import Intent
from nubes.engine.state.model import ResourceState, State
from nubes.providers.errors import ProviderError
from nubes.providers.planning import same_value
from nubes.providers.protocol import PlannedChange, TypeSchema, VolumeData


@dataclass(frozen=True)
class PlanOptions:
    destroy: bool = False
    refresh: bool = True
    allow_data_loss: bool = False  # let volumes move between clouds that cannot carry their data


def base_scope(stack: Stack, variables: dict[str, Any], drivers: Drivers) -> Scope:
    """The names every expression of the stack sees, before any resource is planned."""
    sensitive: dict[str, frozenset[str]] = {
        "var": frozenset(n for n, v in stack.variables.items() if v.sensitive)
    }
    for name, secret in stack_sensitivity(stack, drivers.schemas()).resources.items():
        if secret:
            sensitive[name] = secret
    private = (drivers.state_dir,) if drivers.state_dir is not None else ()
    read = stack.cache.get(STACK_OUTPUTS)  # set by engine.stack_outputs at each plan
    if stack.stack_outputs:
        sensitive["stack_outputs"] = read.secret if read is not None else frozenset()
    names: dict[str, Any] = {
        "var": dict(variables),
        "workspace": stack.workspace,
        # unread (validate, graph): known after they are read, at plan
        "stack_outputs": read.values
        if read is not None
        else dict.fromkeys(stack.stack_outputs, Unknown),
        **make_functions(stack.directory, private),
    }
    for name, res in stack.resources.items():
        names[name] = no_instances(res)
    return Scope(names, sensitive)


def no_instances(res: Resource) -> Any:
    """What expressions see of a resource before any of its instances is known: an empty list
    (count), an empty map (for_each), or None."""
    return [] if res.count is not None else {} if res.for_each is not None else None


def set_value(names: dict[str, Any], res: Resource, addr: InstanceAddr, value: Any) -> None:
    """Record an instance's values where expressions look for them."""
    if res.count is not None:
        items = names[res.name]
        assert isinstance(addr.key, int)
        while len(items) <= addr.key:
            items.append(None)
        items[addr.key] = value
    elif res.for_each is not None:
        names[res.name][addr.key] = value
    else:
        names[res.name] = value


def instance_names(names: dict[str, Any], res: Resource, addr: InstanceAddr, each: Any) -> None:
    names.pop("count", None)
    names.pop("each", None)
    if res.count is not None:
        names["count"] = {"index": addr.key}
    elif res.for_each is not None:
        names["each"] = {"key": addr.key, "value": each}


def evaluate_attributes(
    res: Resource,
    addr: InstanceAddr,
    scope: Scope,
    stack: Stack,
    diags: Diagnostics,
    only: set[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """An instance's attributes evaluated, and which of them are sensitive."""
    config: dict[str, Any] = {}
    sensitive: list[str] = []
    for name, raw in res.attributes.items():
        if only is not None and name not in only:
            continue
        result = evaluate(raw, scope, stack.at, (*res.path, name), str(addr))
        diags.extend(result.diags)
        config[name] = result.value
        if result.sensitive:
            sensitive.append(name)
    return config, sensitive


def plan(
    stack: Stack,
    variables: dict[str, Any],
    state: State | None,
    drivers: Drivers,
    options: PlanOptions = PlanOptions(),
    intents: list[Intent] | None = None,
) -> tuple[Plan | None, Diagnostics]:
    """Plan `stack` against `state`, first finishing what an interrupted apply left in the
    journal (`intents`), then refreshing."""
    with run_budget():
        return _plan(stack, variables, state, drivers, options, intents or [])


def _plan(
    stack: Stack,
    variables: dict[str, Any],
    state: State | None,
    drivers: Drivers,
    options: PlanOptions,
    intents: list[Intent],
) -> tuple[Plan | None, Diagnostics]:
    diags = Diagnostics()
    schemas = drivers.schemas()
    checked: dict[str, TypeSchema] = {}
    for res in stack.resources.values():
        schema = check_resource(res, stack, schemas, diags)
        if schema is not None:
            checked[res.name] = schema
    scope = base_scope(stack, variables, drivers)
    graph, graph_diags = build_graph(stack, schemas, scope)
    diags.extend(graph_diags)
    if diags.has_errors or graph is None:
        return None, diags
    prior = state if state is not None else State(stack.name)
    _managed_twice(prior, diags)
    if diags.has_errors:
        return None, diags
    recovered: list[Recovered] = []
    if intents:
        prior, recovered, recover_diags = recover(prior, intents, drivers)
        diags.extend(recover_diags)
        if diags.has_errors:
            return None, diags
    drift: list[Drift] = []
    if options.refresh:
        fresh, drift, refresh_diags = refresh(prior, drivers)
        diags.extend(refresh_diags)
        if diags.has_errors:
            return None, diags
    else:
        fresh = prior.shallow_copy()
    if options.destroy:
        changes = _destroy_changes(fresh, stack, diags)
    else:
        changes = _instance_changes(stack, graph, fresh, drivers, checked, scope, diags, options)
        changes.extend(_removed(stack, graph, fresh, diags))
    outputs = _outputs(stack, scope, prior, options.destroy, diags)
    if diags.has_errors:
        return None, diags
    _hide(stack, schemas, fresh, changes, drift, outputs)
    result = Plan(
        stack=stack,
        variables=variables,
        changes=changes,
        drift=drift,
        outputs=outputs,
        prior=fresh,
        lineage=state.lineage if state is not None else None,
        serial=state.serial if state is not None else None,
        destroy=options.destroy,
        recovered=recovered,
        state_changed=state is None
        or fresh.resources != state.resources
        or fresh.deposed != state.deposed,
    )
    return result, diags


def _hide(
    stack: Stack,
    schemas: Mapping[str, Mapping[str, TypeSchema]],
    fresh: State,
    changes: list[Change],
    drift: list[Drift],
    outputs: dict[str, OutputChange],
) -> None:
    """Mark as sensitive all the stack and the schemas make secret, whatever state recorded."""
    sens = stack_sensitivity(stack, schemas)
    for change in changes:
        own = sens.resources.get(change.addr.name, frozenset())
        kind = sens.by_type.get((change.provider, change.type), frozenset())
        change.sensitive = sorted(set(change.sensitive) | own | kind)
    for d in drift:
        rs = fresh.resources.get(d.addr)
        hidden = sens.of(rs) if rs is not None else sens.resources.get(d.addr.name, frozenset())
        d.changes = {k: ((HIDDEN, HIDDEN) if k in hidden else v) for k, v in d.changes.items()}
    for name, o in outputs.items():
        o.sensitive = sens.output(name, o.sensitive)


def _managed_twice(state: State, diags: Diagnostics) -> None:
    """One object at two addresses would be changed twice and deleted twice: refuse to plan."""
    seen: dict[tuple[str, str, str], str] = {}
    for rs in state.resources.values():
        key = (rs.provider, rs.type, rs.id)
        if key in seen:
            diags.error(
                f"state manages {rs.type} {rs.id} twice, as {seen[key]} and {rs.address}",
                f"forget one of them with nubes state rm {rs.address} (the object stays)",
            )
        seen[key] = str(rs.address)


def _instance_changes(
    stack: Stack,
    graph: Graph,
    fresh: State,
    drivers: Drivers,
    schemas: dict[str, TypeSchema],
    scope: Scope,
    diags: Diagnostics,
    options: PlanOptions,
) -> list[Change]:
    changes: list[Change] = []
    names = scope.names
    resolver = Resolver(stack.catalog, drivers.by_provider, stack.providers)
    for addr in graph.order:
        inst = graph.instances[addr]
        res = inst.resource
        schema = schemas[res.name]
        instance_names(names, res, addr, inst.each_value)
        if res.lookup is not None:
            found = _lookup(addr, res, fresh, drivers, scope, stack, diags)
            if found is not None:
                changes.append(found)
                set_value(names, res, addr, found.after)
            continue
        config, sensitive = evaluate_attributes(res, addr, scope, stack, diags)
        notes = resolve_portable(res, config, resolver, stack, diags, addr)
        for name, value in config.items():
            config[name] = value = conform(schema.attrs[name], value)
            if not has_expression(res.attributes.get(name)):
                continue  # a literal, which check_resource has judged
            problem = value_problem(schema.attrs[name], value)
            if problem:
                diags.error(
                    f"{res.type}.{name} {problem}",
                    where=stack.at((*res.path, name)),
                    address=str(addr),
                )
        prior = fresh.resources.get(addr)
        change = _change_for(addr, res, schema, prior, config, drivers, stack, diags)
        change.notes = notes
        if change.before_provider and res.type == "volume":
            _volume_data(change, drivers, options, stack, diags)
        change.dependencies = sorted(str(d) for d in graph.deps[addr])
        change.each_value = inst.each_value
        change.sensitive = sorted(set(sensitive) | schema.sensitive)
        changes.append(change)
        set_value(names, res, addr, change.after)
    names.pop("count", None)
    names.pop("each", None)
    return changes


def _volume_data(
    change: Change, drivers: Drivers, options: PlanOptions, stack: Stack, diags: Diagnostics
) -> None:
    """A volume moving between clouds: its data is copied where both drivers can, or it starts
    empty, which the user must accept with --allow-data-loss."""
    assert change.before_provider is not None
    source, target = drivers[change.before_provider], drivers[change.provider]
    if isinstance(source, VolumeData) and isinstance(target, VolumeData):
        change.reason += "; its data is copied"
        return
    cannot = change.before_provider if not isinstance(source, VolumeData) else change.provider
    if options.allow_data_loss:
        change.reason += "; it starts empty (--allow-data-loss)"
        return
    res = stack.resources[change.addr.name]
    diags.error(
        f"{change.addr} moves from {change.before_provider} to {change.provider} and would "
        f"start empty: provider {cannot!r} cannot export or import volume data",
        "copy the data yourself, then plan again with --allow-data-loss",
        where=stack.at((*res.path, "provider")),
        address=str(change.addr),
    )


def resolve_portable(
    res: Resource,
    config: dict[str, Any],
    resolver: Resolver,
    stack: Stack,
    diags: Diagnostics,
    addr: InstanceAddr,
) -> dict[str, str]:
    """Portable images, sizes and realms in `config`, replaced by the provider's own names."""
    wanted = {"instance": ("image", "size", "realm"), "volume": ("realm",)}.get(res.type, ())
    notes: dict[str, str] = {}
    for attr in wanted:
        if attr not in config:
            continue
        how = getattr(resolver, attr)
        resolved = how(res.provider, config[attr])
        if resolved.problem:
            diags.error(
                f"{addr}: {resolved.problem}", where=stack.at((*res.path, attr)), address=str(addr)
            )
            continue
        config[attr] = resolved.value
        if resolved.note:
            notes[attr] = resolved.note
    return notes


def _lookup(
    addr: InstanceAddr,
    res: Resource,
    fresh: State,
    drivers: Drivers,
    scope: Scope,
    stack: Stack,
    diags: Diagnostics,
) -> Change | None:
    """A looked-up object: read at plan time, never created, changed or deleted."""
    where = stack.at((*res.path, "lookup"))
    if addr in fresh.resources:
        diags.error(
            f"{addr} is a lookup now, but state manages an object at this address",
            "destroy it first, or forget it with `nubes state rm`",
            where=where,
            address=str(addr),
        )
        return None
    result = evaluate(res.lookup, scope, stack.at, (*res.path, "lookup"), str(addr))
    diags.extend(result.diags)
    if result.diags:
        return None
    if contains_unknown(result.value):
        diags.error(
            f"{addr}: lookup criteria must be known before apply", where=where, address=str(addr)
        )
        return None
    try:
        obj = drivers[res.provider].lookup(res.type, result.value)
    except ProviderError as exc:
        diags.error(f"{addr}: {exc}", where=where, address=str(addr))
        return None
    if obj is None:
        diags.error(
            f"{addr}: no {res.type} on provider {res.provider!r} matches "
            f"{json.dumps(result.value)}",
            where=where,
            address=str(addr),
        )
        return None
    after = {**obj.attributes, "id": obj.id}
    return Change(
        addr, res.type, res.provider, Action.NOOP, None, after, obj.id, reason="looked up"
    )


def _change_for(
    addr: InstanceAddr,
    res: Resource,
    schema: TypeSchema,
    prior: ResourceState | None,
    config: dict[str, Any],
    drivers: Drivers,
    stack: Stack,
    diags: Diagnostics,
) -> Change:
    driver = drivers[res.provider]
    moved = prior is not None and (prior.provider != res.provider or prior.type != res.type)
    if prior is not None and not moved:
        # ignored attributes are planned as if the stack still said what the object has
        config = {
            **config,
            **{
                n: prior.attributes.get(n)
                for n, a in schema.attrs.items()
                if a.settable and res.lifecycle.ignores(n)
            },
        }
    # a tainted object is made again: planned as a new one, so what it computes (its id) is
    # known only after the apply and what refers to it follows the new object
    planned_from = None if prior is None or moved or prior.tainted else prior.attributes
    forcing: list[str] | None = None  # what would force a replacement anyway, said as ever
    try:
        planned = driver.plan_change(res.type, planned_from, config)
        if prior is not None and prior.tainted and not moved:
            forcing = list(driver.plan_change(res.type, prior.attributes, config).requires_replace)
    except ProviderError as exc:  # a driver that asks its cloud while planning, and fails
        diags.error(
            f"{addr}: planning failed: {exc.code}: {exc}",
            where=stack.at((*res.path, "type")),
            address=str(addr),
        )
        planned = PlannedChange(dict(config))
    for attr, problem in planned.problems:
        diags.error(f"{addr}: {problem}", where=stack.at((*res.path, attr)), address=str(addr))
    after = planned.planned
    replace = list(planned.requires_replace) if forcing is None else forcing
    change = Change(
        addr,
        res.type,
        res.provider,
        Action.NOOP,
        prior.attributes if prior is not None else None,
        after,
        prior.id if prior is not None else None,
        requires_replace=replace,
    )
    if prior is not None and moved:
        change.before_provider, change.before_type = prior.provider, prior.type
    cbd = res.lifecycle.create_before_destroy
    replace_action = Action.CREATE_DELETE if cbd else Action.DELETE_CREATE
    if prior is None:
        change.action = Action.CREATE
    elif moved and prior.provider != res.provider:
        # across clouds the new object always comes first: the old one stays in service until
        # the new one (and what depends on it) is ready
        change.action = Action.MIGRATE if res.type == "instance" else Action.CREATE_DELETE
        change.reason = f"moves from {prior.provider} to {res.provider}"
    elif moved:
        change.action = replace_action
        change.reason = f"type changed from {prior.type} to {res.type}"
    elif prior.tainted:
        change.action, change.reason = replace_action, "tainted: an earlier apply did not finish it"
    elif replace:
        change.action = replace_action
        change.reason = f"{', '.join(replace)} cannot be changed in place"
    elif any(
        attr.settable and not same_value(prior.attributes.get(n), after.get(n))
        for n, attr in schema.attrs.items()
    ):
        change.action = Action.UPDATE
    if change.action.destroys and res.lifecycle.prevent_destroy:
        diags.error(
            f"{addr} has lifecycle.prevent_destroy, but this plan would destroy it",
            f"{change.reason}. Remove prevent_destroy to allow it, or change the plan.",
            where=stack.at((*res.path, "lifecycle", "prevent_destroy")),
            address=str(addr),
        )
    return change


def _removed(stack: Stack, graph: Graph, fresh: State, diags: Diagnostics) -> list[Change]:
    out = []
    for addr, rs in sorted(fresh.resources.items()):
        if addr in graph.instances:
            continue
        res = stack.resources.get(addr.name)
        if res is None:
            reason = f"{addr.name} is not in the stack"
        elif res.count is not None:
            reason = (
                f"count is {len(graph.by_resource(addr.name))}"
                if isinstance(addr.key, int)
                else f"{addr.name} now uses count"
            )
        elif res.for_each is not None:
            reason = (
                f"for_each has no key {addr.key!r}"
                if isinstance(addr.key, str)
                else f"{addr.name} now uses for_each"
            )
        else:
            reason = f"{addr.name} no longer uses count or for_each"
        if res is not None and res.lifecycle.prevent_destroy:
            diags.error(
                f"{addr} has lifecycle.prevent_destroy, but this plan would destroy it",
                reason,
                where=stack.at((*res.path, "lifecycle", "prevent_destroy")),
                address=str(addr),
            )
        out.append(_delete(rs, reason))
    out.extend(
        _delete(rs, "left over from a create-before-destroy replacement", deposed=True)
        for rs in fresh.deposed
    )
    return out


def _delete(rs: ResourceState, reason: str, deposed: bool = False) -> Change:
    return Change(
        rs.address,
        rs.type,
        rs.provider,
        Action.DELETE,
        rs.attributes,
        None,
        rs.id,
        reason=reason,
        dependencies=list(rs.dependencies),
        sensitive=list(rs.sensitive),
        deposed=deposed,
    )


def _destroy_changes(fresh: State, stack: Stack, diags: Diagnostics) -> list[Change]:
    out = []
    for addr, rs in sorted(fresh.resources.items()):
        res = stack.resources.get(addr.name)
        if res is not None and res.lifecycle.prevent_destroy:
            diags.error(
                f"{addr} has lifecycle.prevent_destroy; destroy refuses to delete it",
                where=stack.at((*res.path, "lifecycle", "prevent_destroy")),
                address=str(addr),
            )
        out.append(_delete(rs, "destroy"))
    out.extend(_delete(rs, "destroy", deposed=True) for rs in fresh.deposed)
    return out


def _outputs(
    stack: Stack, scope: Scope, prior: State, destroy: bool, diags: Diagnostics
) -> dict[str, OutputChange]:
    out: dict[str, OutputChange] = {}
    for name, output in stack.outputs.items():
        before = prior.outputs[name].value if name in prior.outputs else None
        if destroy:
            if name in prior.outputs:
                out[name] = OutputChange(name, Action.DELETE, before, None, output.sensitive)
            continue
        result = evaluate(output.value, scope, stack.at, output.path, f"output.{name}")
        diags.extend(result.diags)
        sensitive = output.sensitive or result.sensitive
        if name not in prior.outputs:
            action = Action.CREATE
        elif same_value(before, result.value):
            action = Action.NOOP
        else:
            action = Action.UPDATE
        out[name] = OutputChange(name, action, before, result.value, sensitive)
    for name, old in prior.outputs.items():
        if name not in stack.outputs:
            out[name] = OutputChange(name, Action.DELETE, old.value, None, old.sensitive)
    return out
