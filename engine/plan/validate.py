"""`nubes validate`: everything about a stack that can be checked without a cloud.

Beyond its shape, references and cycles, every instance's attributes are evaluated with what
the clouds would compute left unknown, so expressions that fail (a missing file, a value too big
to build, a wrong type) and values out of bounds (a size of 0, a state that does not exist, a
bucket name with a NUL) are found here, where they cost nothing, and not at apply.
"""

from __future__ import annotations

from typing import Any

from nubes.engine.diag import Diagnostics
from nubes.engine.drivers import Drivers
from nubes.engine.graph import Graph, build_graph
from nubes.engine.lang import evaluate
from nubes.engine.lang.budget import run_budget
from nubes.engine.lang.unknown import Unknown, contains_unknown
from nubes.engine.plan.check import check_resource, conform, has_expression, value_problem
from nubes.engine.plan.differ import base_scope, evaluate_attributes, instance_names
from nubes.engine.stack.model import Stack
from nubes.providers.protocol import TypeSchema


def validate_stack(
    stack: Stack, variables: dict[str, Any], drivers: Drivers
) -> tuple[Graph | None, Diagnostics]:
    with run_budget():
        return _validate(stack, variables, drivers)


def _validate(
    stack: Stack, variables: dict[str, Any], drivers: Drivers
) -> tuple[Graph | None, Diagnostics]:
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
    if graph is None:
        return graph, diags
    names = scope.names
    for name, res in stack.resources.items():  # what the clouds compute is not known yet
        keys = [a.key for a in graph.by_resource(name)]
        if res.count is not None:
            names[name] = [Unknown for _ in keys]
        elif res.for_each is not None:
            names[name] = {k: Unknown for k in keys}
        else:
            names[name] = Unknown
    for addr in graph.order:
        inst = graph.instances[addr]
        res = inst.resource
        instance_names(names, res, addr, inst.each_value)
        if res.lookup is not None:
            result = evaluate(res.lookup, scope, stack.at, (*res.path, "lookup"), str(addr))
            diags.extend(result.diags)
            continue
        schema = checked.get(res.name)
        config, _ = evaluate_attributes(res, addr, scope, stack, diags)
        if schema is None:
            continue
        for attr, value in config.items():
            if value is Unknown or attr not in schema.attrs:
                continue
            if not has_expression(res.attributes.get(attr)):
                continue  # a literal: check_resource judged it
            value = conform(schema.attrs[attr], value)
            problem = value_problem(schema.attrs[attr], value)
            if problem and not (contains_unknown(value) and "must be a" in problem):
                diags.error(
                    f"{res.type}.{attr} {problem}",
                    where=stack.at((*res.path, attr)),
                    address=str(addr),
                )
    names.pop("count", None)
    names.pop("each", None)
    for name, output in stack.outputs.items():
        result = evaluate(output.value, scope, stack.at, output.path, f"output.{name}")
        diags.extend(result.diags)
    return graph, diags
