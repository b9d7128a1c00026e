"""The instance graph as Graphviz DOT, for `nubes graph`."""

from __future__ import annotations

from nubes.engine.graph.build import Graph
from nubes.engine.stack.model import Stack


def _quote(*lines: str) -> str:
    """A DOT string of these lines (an id, a label): each line's backslashes and quotes
    escaped, the lines joined by DOT's `\\n` (a for_each key's quotes would otherwise end the
    string; JSON's escapes are not DOT's)."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def to_dot(graph: Graph, stack_name: str, stack: Stack | None = None) -> str:
    lines = [f"digraph {_quote(stack_name)} {{", '  rankdir = "RL";', "  node [shape = box];"]
    for addr in graph.order:
        inst = graph.instances[addr]
        label = _quote(str(addr), f"{inst.resource.type} ({inst.resource.provider})")
        lines.append(f"  {_quote(str(addr))} [label = {label}];")
    for addr in graph.order:
        for dep in sorted(graph.deps[addr]):
            lines.append(f"  {_quote(str(addr))} -> {_quote(str(dep))};")
    _reads(graph, stack, lines)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _reads(graph: Graph, stack: Stack | None, lines: list[str]) -> None:
    """Another stack's outputs as a node of their own, with an edge from each reader."""
    declared = stack.stack_outputs if stack is not None else {}
    shown: set[str] = set()
    drawn: set[tuple[str, str]] = set()
    for e in graph.reads:
        if e.target not in shown:
            shown.add(e.target)
            entry = declared.get(e.target.removeprefix("stack_outputs."))
            parts = [e.target]
            if entry is not None:
                where = entry.backend.describe() if entry.backend else "this stack's backend"
                parts.append(f"stack {entry.stack} ({entry.workspace or 'default'}, {where})")
            lines.append(f"  {_quote(e.target)} [shape = note, label = {_quote(*parts)}];")
        sources = [str(a) for a in graph.by_resource(e.source)] or [e.source]
        for source in sources:
            if (source, e.target) not in drawn:
                drawn.add((source, e.target))
                lines.append(f"  {_quote(source)} -> {_quote(e.target)};")
