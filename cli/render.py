"""The human view of plans, state and values, in Terraform's notation.

`+` create, `~` update in place, `-/+` delete then create, `+/-` create then delete, `-` delete.
Returns rich markup lines; user text is escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape as _rich_escape

from nubes.engine.lang.unknown import Unknown
from nubes.engine.plan.model import Action, Change, Drift, OutputChange, Plan
from nubes.engine.stack_outputs import STACK_OUTPUTS
from nubes.engine.state.model import ResourceState
from nubes.providers.planning import same_value

SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.DELETE_CREATE: ("-/+", "magenta"),
    Action.CREATE_DELETE: ("+/-", "magenta"),
    Action.MIGRATE: ("⇄", "cyan"),
    Action.NOOP: (" ", ""),
}
HEADLINE = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.DELETE: "will be destroyed",
    Action.DELETE_CREATE: "must be replaced",
    Action.CREATE_DELETE: "must be replaced (create before destroy)",
    Action.MIGRATE: "will migrate",
}
KNOWN_AFTER = "(known after apply)"
SENSITIVE = "(sensitive)"


def value_text(value: Any, sensitive: bool = False, indent: int = 0) -> str:
    if sensitive and value is not None:
        return SENSITIVE
    if value is Unknown:
        return KNOWN_AFTER
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        pad = " " * (indent + 4)
        body = "\n".join(pad + line for line in value.rstrip("\n").split("\n"))
        return f"<<-EOT\n{body}\n{' ' * indent}EOT"
    text = _compact(value)
    if len(text) + indent <= 100 or not isinstance(value, list | dict):
        return text
    pad = " " * (indent + 4)
    if isinstance(value, list):
        items = [pad + _compact(v) + "," for v in value]
        return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
    items = [f"{pad}{json.dumps(k)}: {_compact(v)}," for k, v in value.items()]
    return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"


def escape(text: str) -> str:
    """rich's `escape`, without its work where there is nothing to escape (most names and
    values: a large plan escapes millions)."""
    if "[" not in text and not text.endswith("\\"):
        return text
    return _rich_escape(text)


_quoted = json.encoder.encode_basestring_ascii  # json.dumps of a str, without its dispatch


def _compact(value: Any) -> str:
    """JSON, except that unknown values read as (known after apply), unquoted."""
    if type(value) is str:
        return _quoted(value)
    if value is None:
        return "null"
    if value is Unknown:
        return KNOWN_AFTER
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _sym(action: Action) -> str:
    symbol, color = SYMBOL[action]
    return f"[{color}]{escape(symbol)}[/]" if color else symbol


def _attr_lines(change: Change) -> list[str]:
    before = change.before or {}
    after = change.after or {}
    sensitive = set(change.sensitive)
    lines: list[tuple[str, str, str, str]] = []  # (mark, name, text, trailing markup)
    names = list(after) if change.after is not None else list(before)
    hidden = 0
    for name in names:
        secret = name in sensitive
        b, a = before.get(name), after.get(name)
        note = f"  [dim]# {escape(change.notes[name])}[/]" if name in change.notes else ""
        if change.action is Action.CREATE:
            if a is not None:
                lines.append(("+", name, value_text(a, secret, 6), note))
        elif change.action is Action.DELETE:
            if b is not None:
                lines.append(("-", name, value_text(b, secret, 6), ""))
        elif same_value(b, a):
            if change.action.replaces and name == "id":
                lines.append((" ", name, value_text(b, secret, 6), ""))
            else:
                hidden += 1
        elif b is None:
            lines.append(("+", name, value_text(a, secret, 6), note))
        elif a is None:
            lines.append(("-", name, value_text(b, secret, 6) + " -> null", ""))
        else:
            text = f"{value_text(b, secret, 6)} -> {value_text(a, secret, 6)}"
            if name in change.requires_replace:
                spelled = f"{escape(change.notes[name])}, " if name in change.notes else ""
                note = f"  [red]# {spelled}forces replacement[/]"
            lines.append(("~", name, text, note))
    width = max((len(n) for _, n, _, _ in lines), default=0)
    out = []
    for mark, name, text, tail in lines:
        color = {"+": "green", "-": "red", "~": "yellow"}.get(mark, "")
        marked = f"[{color}]{escape(mark)}[/]" if color else mark
        out.append(f"      {marked} {escape(name.ljust(width))} = {escape(text)}{tail}")
    if hidden and (change.action is Action.UPDATE or change.action.replaces):
        out.append(f"        [dim]# ({hidden} unchanged attributes hidden)[/]")
    return out


def change_lines(change: Change) -> list[str]:
    what = f"{change.addr}" + (f" (deposed object {change.id})" if change.deposed else "")
    headline = HEADLINE[change.action]
    shown = change.reason and change.reason != "destroy"
    reason = f"\n  [dim]# ({escape(change.reason)})[/]" if shown else ""
    head = f"  [bold]# {escape(what)}[/] {headline}{reason}"
    opener = f"{_sym(change.action)} {escape(change.type)} {escape(json.dumps(str(change.addr)))}"
    if change.action is Action.MIGRATE and change.before_provider:
        opener += f" from {escape(change.before_provider)} to {escape(change.provider)} {{"
    else:
        opener += f" [dim]on {escape(change.provider)}[/] {{"
    pad = " " * max(0, 4 - len(SYMBOL[change.action][0]) - 1)
    return [head, f"{pad}{opener}", *_attr_lines(change), "    }", ""]


def drift_lines(drift: list[Drift]) -> list[str]:
    if not drift:
        return []
    out = [
        "[bold]Objects changed outside nubes[/] (the plan starts from what the clouds hold now):",
        "",
    ]
    for d in drift:
        if d.kind == "deleted":
            out.append(
                f"  [bold]# {escape(str(d.addr))}[/] ({escape(d.id)}) was deleted outside nubes"
            )
            continue
        out.append(f"  [bold]# {escape(str(d.addr))}[/] ({escape(d.id)}) changed outside nubes")
        for name, (b, a) in d.changes.items():
            out.append(
                f"      [yellow]~[/] {escape(name)} = {escape(value_text(b))} -> "
                f"{escape(value_text(a))}"
            )
    out.append("")
    return out


def output_lines(outputs: dict[str, OutputChange]) -> list[str]:
    changed = [o for o in outputs.values() if o.action is not Action.NOOP]
    if not changed:
        return []
    width = max(len(o.name) for o in changed)
    out = ["Changes to outputs:"]
    for o in changed:
        name = escape(o.name.ljust(width))
        if o.action is Action.CREATE:
            out.append(f"  {_sym(o.action)} {name} = {escape(value_text(o.after, o.sensitive, 2))}")
        elif o.action is Action.DELETE:
            out.append(
                f"  {_sym(o.action)} {name} = {escape(value_text(o.before, o.sensitive, 2))} "
                "-> null"
            )
        else:
            out.append(
                f"  {_sym(o.action)} {name} = {escape(value_text(o.before, o.sensitive, 2))}"
                f" -> {escape(value_text(o.after, o.sensitive, 2))}"
            )
    out.append("")
    return out


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    if not any(c.action is not Action.NOOP for c in plan.changes):
        if any(o.action is not Action.NOOP for o in plan.outputs.values()):
            return "No resource changes; only outputs change."
        if plan.recovered:
            return "No resource changes; apply records what the interrupted apply left."
        if plan.destroy:
            return "[green]No changes.[/] No objects need to be destroyed."
        return "[green]No changes.[/] The clouds match the stack."
    n = counts["migrate"]
    moving = f"; {n} instance{'s' if n != 1 else ''} migrate{'s' if n == 1 else ''}" if n else ""
    return (
        f"[bold]Plan:[/] {counts['add']} to add, {counts['change']} to change, "
        f"{counts['destroy']} to destroy{moving}."
    )


def recovered_lines(plan: Plan) -> list[str]:
    if not plan.recovered:
        return []
    out = ["[bold]Finishing an interrupted apply[/] (from the journal, before anything else):", ""]
    for note in plan.recovered:
        out.append(f"  [bold]# {escape(note.address)}[/]: {escape(note.describe())}")
    out.append("")
    return out


def read_lines(plan: Plan) -> list[str]:
    """The other stacks' outputs this plan read (stack_outputs)."""
    read = plan.stack.cache.get(STACK_OUTPUTS)
    if read is None or not read.sources:
        return []
    out = [f"Read stack_outputs.{escape(k)}: {escape(v)}" for k, v in read.sources.items()]
    return [*out, ""]


def plan_text(plan: Plan) -> Iterator[str]:
    """The plan's lines, made as they are printed: a 100,000-resource plan is a million lines,
    which held at once would cost about 180 MB."""
    yield from read_lines(plan)
    yield from recovered_lines(plan)
    yield from drift_lines(plan.drift)
    first = True
    for change in plan.changes:
        if change.action is Action.NOOP:
            continue
        if first:
            yield from ("nubes will perform the following actions:", "")
            first = False
        yield from change_lines(change)
    yield from output_lines(plan.outputs)
    yield summary_line(plan)


def resource_lines(rs: ResourceState, hidden: frozenset[str] = frozenset()) -> list[str]:
    secret = set(rs.sensitive) | hidden
    attrs = {k: v for k, v in rs.attributes.items() if v is not None}
    width = max((len(k) for k in attrs), default=0)
    out = [
        f"# {escape(str(rs.address))}: {escape(rs.type)} on {escape(rs.provider)}"
        + (" [red](tainted)[/]" if rs.tainted else ""),
        f"{escape(rs.type)} {escape(json.dumps(str(rs.address)))} {{",
    ]
    for k, v in attrs.items():
        out.append(f"    {escape(k.ljust(width))} = {escape(value_text(v, k in secret, 4))}")
    out += ["}", ""]
    return out


WRITE_LINES = 4096  # lines to a file or pipe per write


def print_lines(console: Console, lines: Iterable[str]) -> None:
    """Print markup lines: styled on a terminal; to a file or pipe, as plain text, some
    thousands of lines a write (a 10,000-resource plan is 100,000 lines, which rich renders one
    by one at ~50 us each)."""
    if console.is_terminal:
        for line in lines:
            console.print(line, highlight=False)
        return
    chunk: list[str] = []
    for line in lines:
        chunk.append(plain_text(line))
        if len(chunk) == WRITE_LINES:
            console.file.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        console.file.write("\n".join(chunk) + "\n")
    console.file.flush()


_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")  # rich.markup's own pattern


def plain_text(markup: str) -> str:
    """`Text.from_markup(markup, emoji=False).plain` without building styled text (a regular
    expression over the line, many times faster): tags dropped, escaped brackets kept."""
    if "[" not in markup:
        return markup
    if "\\" not in markup:  # nothing escaped: every match is a tag
        return _TAGS.sub("", markup)
    out: list[str] = []
    position = 0
    for found in _TAGS.finditer(markup):
        start, end = found.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        whole, escapes, _ = found.groups()
        backslashes, escaped = divmod(len(escapes), 2)
        out.append("\\" * backslashes)
        if escaped:
            out.append(whole[len(escapes) :])
        position = end
    out.append(markup[position:].replace("\\[", "["))
    return "".join(out)
