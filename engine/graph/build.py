"""Building the dependency graph: references and `depends_on` become edges.

Two levels: resources (where cycles are found and reported with every reference on them) and
resource instances (one node per `count`/`for_each` instance; what plan and apply walk). A
reference to `web[0]` ties to that instance alone; a reference to `web` ties to all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nubes.engine.addrs import InstanceAddr
from nubes.engine.diag import Diagnostics, SourceRange
from nubes.engine.graph.clouds import check_clouds
from nubes.engine.lang import (
    BUILTIN_NAMES,
    FUNCTION_NAMES,
    ParseError,
    Ref,
    Scope,
    evaluate,
    parse_string,
)
from nubes.engine.lang.unknown import contains_unknown
from nubes.engine.stack.model import Resource, Stack
from nubes.engine.stack.yamlpos import Positions
from nubes.engine.stack_outputs import STACK_OUTPUTS
from nubes.providers.protocol import TypeSchema

MAX_INSTANCES = 100_000  # of one resource
MAX_STACK_INSTANCES = 200_000  # of all a stack's resources together
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Edge:
    """`source` refers to `target` (so `target` comes first), written at `where`."""

    source: str
    target: str
    positions: Positions = field(repr=False, compare=False)
    path: Path  # where the reference was written
    text: str
    index: int | str | None = None  # set when the reference names one instance
    same_key: bool = False  # `vm[count.index]`: each instance reads the target's of its key

    @property
    def where(self) -> SourceRange:
        return self.positions.at(self.path)


@dataclass
class Instance:
    addr: InstanceAddr
    resource: Resource
    each_value: Any = None


@dataclass
class Graph:
    # resource name -> each resource it refers to -> the references that make the edge
    resources: dict[str, dict[str, list[Edge]]]
    instances: dict[InstanceAddr, Instance]
    deps: dict[InstanceAddr, tuple[InstanceAddr, ...]] = field(default_factory=dict)
    order: list[InstanceAddr] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    keys: dict[str, list[int | str | None]] = field(default_factory=dict)  # resource -> keys
    # references to stack_outputs.NAME (source: a resource, or output.NAME)
    reads: list[Edge] = field(default_factory=list)

    def by_resource(self, name: str) -> list[InstanceAddr]:
        return [InstanceAddr(name, k) for k in self.keys.get(name, ())]


def _walk_strings(raw: Any, path: Path) -> list[tuple[str, Path]]:
    if isinstance(raw, str):
        return [(raw, path)] if "${" in raw else []
    if isinstance(raw, dict):
        return [s for k, v in raw.items() for s in _walk_strings(v, (*path, k))]
    if isinstance(raw, list):
        return [s for i, v in enumerate(raw) for s in _walk_strings(v, (*path, i))]
    return []


def collect_refs(raw: Any, path: Path, stack: Stack, diags: Diagnostics) -> list[tuple[Ref, Path]]:
    out: list[tuple[Ref, Path]] = []
    for text, where in _walk_strings(raw, path):
        try:
            parsed = parse_string(text)
        except ParseError as exc:
            diags.error(str(exc), where=stack.at(where))
            continue
        out.extend((ref, where) for ref in parsed.refs)
    return out


def _check_ref(
    ref: Ref,
    path: Path,
    owner: Resource | None,
    stack: Stack,
    schemas: Mapping[str, Mapping[str, TypeSchema]],
    diags: Diagnostics,
) -> Edge | None:
    root = ref.root
    if root == "var":
        if not ref.steps or ref.steps[0][1] not in stack.variables:
            name = ref.steps[0][1] if ref.steps else ""
            diags.error(
                f"reference to undeclared variable var.{name}",
                f"declared: {', '.join(stack.variables) or 'none'}",
                where=stack.at(path),
            )
        return None
    if root in ("each", "count"):
        needed = "for_each" if root == "each" else "count"
        if owner is None or getattr(owner, needed) is None:
            diags.error(
                f"{root}.* can only be used in a resource that sets {needed}", where=stack.at(path)
            )
        elif ref.steps and ref.steps[0][1] not in (
            ("key", "value") if root == "each" else ("index",)
        ):
            names = "each.key, each.value" if root == "each" else "count.index"
            diags.error(f"{ref} is not defined (use {names})", where=stack.at(path))
        return None
    if root == "stack_outputs":
        return _check_read(ref, owner, stack, path, diags)
    if root in FUNCTION_NAMES or root in BUILTIN_NAMES:
        return None
    target = stack.resources.get(root)
    if target is None:
        diags.error(
            f"reference to undeclared resource or name {root!r}",
            f"in {ref}; resources: {', '.join(stack.resources) or 'none'}",
            where=stack.at(path),
        )
        return None
    if owner is not None and target.name == owner.name:
        diags.error(f"resource {owner.name!r} refers to itself ({ref})", where=stack.at(path))
        return None
    expanded = target.count is not None or target.for_each is not None
    steps = list(ref.steps)
    index: int | str | None = None
    if expanded and steps and steps[0][0] == "attr":
        how = "web[0].id" if target.count is not None else 'web["key"].id'
        diags.error(
            f"{root} has {'count' if target.count is not None else 'for_each'}; "
            f"refer to one instance ({how.replace('web', root)}) or to all of them",
            where=stack.at(path),
        )
        return None
    if expanded and steps:
        index = steps.pop(0)[1]
    elif not expanded and steps and steps[0][0] == "index":
        diags.error(
            f"{root} is a single resource; it has no instances to index", where=stack.at(path)
        )
        return None
    if steps:
        schema = schemas.get(target.provider, {}).get(target.type)
        attr = steps[0][1]
        if schema is not None and attr not in schema.attrs:
            diags.error(
                f"{target.type} {root} has no attribute {attr!r}",
                f"attributes: {', '.join(schema.attrs)}",
                where=stack.at(path),
            )
            return None
    source = owner.name if owner is not None else ""
    same = (
        not steps
        and index is None
        and owner is not None
        and (
            (ref.same_key == "count.index" and owner.count is not None and target.count is not None)
            or (ref.same_key == "each.key" and owner.for_each is not None
                and target.for_each is not None)
        )
    )  # fmt: skip
    return Edge(source, root, stack.positions, path, str(ref), index, same)


def _check_read(
    ref: Ref, owner: Resource | None, stack: Stack, path: Path, diags: Diagnostics
) -> Edge | None:
    """`stack_outputs.NAME.OUTPUT`: NAME must be declared; the edge shows what reads it."""
    name = ref.steps[0][1] if ref.steps and ref.steps[0][0] == "attr" else None
    if not isinstance(name, str) or name not in stack.stack_outputs:
        diags.error(
            f"{ref} names no stack_outputs entry",
            f"declared: {', '.join(stack.stack_outputs) or 'none'}",
            where=stack.at(path),
        )
        return None
    read = stack.cache.get(STACK_OUTPUTS)  # known at plan, after the outputs were read
    if read is not None and len(ref.steps) > 1 and ref.steps[1][0] == "attr":
        have = read.values.get(name, {})
        if ref.steps[1][1] not in have:
            diags.error(
                f"{ref}: stack {read.stacks.get(name, name)} has no output {ref.steps[1][1]!r}",
                f"its outputs: {', '.join(sorted(have)) or 'none'}",
                where=stack.at(path),
            )
            return None
    source = owner.name if owner is not None else ""
    return Edge(source, f"stack_outputs.{name}", stack.positions, path, str(ref))


def expansion(
    resource: Resource, stack: Stack, scope: Scope, diags: Diagnostics
) -> list[tuple[int | str | None, Any]]:
    """The instance keys of a resource (with each.value), from count or for_each."""
    if resource.count is None and resource.for_each is None:
        return [(None, None)]
    arg = "count" if resource.count is not None else "for_each"
    path: Path = (*resource.path, arg)
    raw = resource.count if resource.count is not None else resource.for_each
    for ref, where in collect_refs(raw, path, stack, Diagnostics()):
        if ref.root not in ("var",) and ref.root not in FUNCTION_NAMES | BUILTIN_NAMES:
            diags.error(
                f"{arg} must be known before apply; it may use variables, not {ref}",
                where=stack.at(where),
                address=resource.name,
            )
            return []
    result = evaluate(raw, scope, stack.at, path, resource.name)
    diags.extend(result.diags)
    if result.diags:
        return []
    value = result.value
    if contains_unknown(value):
        diags.error(f"{arg} must be known before apply", where=stack.at(path))
        return []
    if arg == "count":
        if isinstance(value, bool) or not isinstance(value, int):
            diags.error(
                f"count must be a whole number, not {type(value).__name__}",
                where=stack.at(path),
                address=resource.name,
            )
            return []
        if not 0 <= value <= MAX_INSTANCES:
            diags.error(
                f"count must be between 0 and {MAX_INSTANCES:,}, not {value}",
                where=stack.at(path),
                address=resource.name,
            )
            return []
        return [(i, None) for i in range(value)]
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            diags.error(
                "for_each over a list needs strings (they become the keys)",
                where=stack.at(path),
                address=resource.name,
            )
            return []
        if len(set(value)) != len(value):
            diags.error(
                "for_each list has duplicate keys", where=stack.at(path), address=resource.name
            )
            return []
        items: list[tuple[int | str | None, Any]] = [(v, v) for v in value]
    elif isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    else:
        diags.error(
            f"for_each must be a list of strings or a map, not {type(value).__name__}",
            where=stack.at(path),
            address=resource.name,
        )
        return []
    if len(items) > MAX_INSTANCES:
        diags.error(f"for_each makes more than {MAX_INSTANCES:,} instances", where=stack.at(path))
        return []
    return items


def build_graph(
    stack: Stack,
    schemas: Mapping[str, Mapping[str, TypeSchema]],
    scope: Scope,
) -> tuple[Graph | None, Diagnostics]:
    """The instance graph of a stack; `scope` needs `var` and the functions."""
    diags = Diagnostics()
    rgraph: dict[str, dict[str, list[Edge]]] = {}
    edges: list[Edge] = []
    for name, res in stack.resources.items():
        rgraph[name] = {}
        raw = {**res.attributes, "count": res.count, "for_each": res.for_each}
        for ref, path in collect_refs(raw, res.path, stack, diags):
            edge = _check_ref(ref, path, res, stack, schemas, diags)
            if edge is not None:
                edges.append(edge)
        for i, dep in enumerate(res.depends_on):
            if dep == name:
                diags.error(
                    f"resource {name!r} depends on itself",
                    where=stack.at((*res.path, "depends_on", i)),
                )
            elif dep in stack.resources:
                edges.append(Edge(name, dep, stack.positions, (*res.path, "depends_on", i), dep))
    for output in stack.outputs.values():
        for ref, path in collect_refs(output.value, output.path, stack, diags):
            edge = _check_ref(ref, path, None, stack, schemas, diags)
            if edge is not None and edge.target.startswith("stack_outputs."):
                edges.append(
                    Edge(
                        f"output.{output.name}", edge.target, stack.positions, edge.path, edge.text
                    )
                )
    reads = [e for e in edges if e.target.startswith("stack_outputs.")]
    edges = [e for e in edges if not e.target.startswith("stack_outputs.")]
    if len(stack.providers) > 1:
        check_clouds(stack, edges, diags)
    for e in edges:
        rgraph[e.source].setdefault(e.target, []).append(e)
    ordered = _dependencies_first(rgraph)
    if len(ordered) < len(rgraph):
        _report_cycles(rgraph, diags)
    if diags.has_errors:
        return None, diags
    instances: dict[InstanceAddr, Instance] = {}
    keys: dict[str, list[int | str | None]] = {}
    addrs: dict[str, dict[int | str | None, InstanceAddr]] = {}  # each address made once
    for name in ordered:
        res = stack.resources[name]
        keys[name] = []
        addrs[name] = {}
        for key, each_value in expansion(res, stack, scope, diags):
            if len(instances) < MAX_STACK_INSTANCES:
                addr = InstanceAddr(name, key)
                instances[addr] = Instance(addr, res, each_value)
                keys[name].append(key)
                addrs[name][key] = addr
                continue
            diags.error(
                f"the stack expands to more than {MAX_STACK_INSTANCES:,} instances",
                "lower count or for_each, or split the stack",
                where=stack.at((*res.path, "count" if res.count is not None else "for_each")),
                address=name,
            )
            return None, diags
    if diags.has_errors:
        return None, diags
    found: dict[InstanceAddr, list[InstanceAddr]] = {}
    for e in edges:
        sources = addrs[e.source].values()
        held = addrs[e.target]
        if e.index is not None:
            if e.index not in held:
                have = ", ".join(str(a) for a in held.values())
                diags.error(
                    f"{e.text} refers to an instance that does not exist",
                    f"{e.target} has instances: {have or 'none'}",
                    where=e.where,
                )
                continue
            targets = [held[e.index]]
        elif e.same_key:  # each instance ties to the target's instance of its own key
            every = list(held.values())
            for s in sources:
                found.setdefault(s, []).extend([held[s.key]] if s.key in held else every)
            continue
        else:
            targets = list(held.values())
        for s in sources:
            found.setdefault(s, []).extend(targets)
    if diags.has_errors:  # an index past count: said once here, not again by evaluating it
        return None, diags
    # a tuple a node (a set costs over 200 bytes even when it holds one address)
    deps = {a: tuple(set(found[a])) if a in found else () for a in instances}
    order = [a for name in ordered for a in addrs[name].values()]
    return Graph(rgraph, instances, deps, order, edges, keys, reads), diags


def _dependencies_first(rgraph: dict[str, dict[str, list[Edge]]]) -> list[str]:
    """Resources ordered so that each comes after everything it refers to: the reverse of a
    topological order of "refers to", generation by generation, each in stack order. Shorter
    than the graph when there is a cycle."""
    indegree = dict.fromkeys(rgraph, 0)
    for targets in rgraph.values():
        for target in targets:
            indegree[target] += 1
    generation = [name for name, n in indegree.items() if n == 0]
    order: list[str] = []
    while generation:
        order.extend(generation)
        following = []
        for name in generation:
            for target in rgraph[name]:
                indegree[target] -= 1
                if indegree[target] == 0:
                    following.append(target)
        generation = following
    return order[::-1]


def _report_cycles(rgraph: dict[str, dict[str, list[Edge]]], diags: Diagnostics) -> None:
    # only on this error path: networkx costs every command 0.2 s of import otherwise
    import networkx as nx

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(rgraph)
    for source, targets in rgraph.items():
        for target, refs in targets.items():
            graph.add_edge(source, target, refs=refs)
    for component in nx.strongly_connected_components(graph):
        first_name = next(iter(component))
        if len(component) < 2 and not graph.has_edge(first_name, first_name):
            continue
        cycle = nx.find_cycle(graph.subgraph(component))
        names = [u for u, _ in cycle]
        lines = []
        for u, v in cycle:
            for ref in graph.edges[u, v]["refs"]:
                lines.append(f"  {u} refers to {v} ({ref.text}) at {ref.where}")
        first = graph.edges[cycle[0][0], cycle[0][1]]["refs"][0]
        diags.error(
            f"dependency cycle: {' -> '.join([*names, names[0]])}",
            "\n".join(lines),
            where=first.where,
        )
