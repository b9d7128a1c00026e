"""The instance graph as Graphviz DOT, for `nubes graph`."""

from __future__ import annotations

import json

from nubes.engine.graph.build import Graph


def to_dot(graph: Graph, stack_name: str) -> str:
    lines = [f"digraph {json.dumps(stack_name)} {{", '  rankdir = "RL";', "  node [shape = box];"]
    for addr in graph.order:
        inst = graph.instances[addr]
        label = f"{addr}\\n{inst.resource.type} ({inst.resource.provider})"
        lines.append(f'  {json.dumps(str(addr))} [label = "{label}"];')
    for addr in graph.order:
        for dep in sorted(graph.deps[addr]):
            lines.append(f"  {json.dumps(str(addr))} -> {json.dumps(str(dep))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
