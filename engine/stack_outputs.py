"""`stack_outputs`: read other stacks' outputs from their states (Terraform's
`terraform_remote_state`), at every plan, before anything is planned.

```yaml
stack_outputs:
  net:
    stack: network                  # the other stack's name (may use ${var.*}, ${workspace})
    workspace: ${workspace}         # optional; default: the default workspace
    backend: {type: s3, bucket: team-state, prefix: stacks/}   # optional: this stack's store
resources:
  web: {type: instance, subnet: "${stack_outputs.net.subnet_id}", ...}
```

A read takes no lock (a state is one document, written whole) and changes nothing. Sensitive
outputs stay sensitive here. A stack that has no state yet, a store that cannot be reached, or
an entry that names an unknown variable is a diagnostic at the entry, and nothing is planned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubes.engine.addrs import NAME_RE
from nubes.engine.diag import Diagnostics
from nubes.engine.stack.model import Stack, StackOutputs
from nubes.engine.state.settings import DEFAULT_WORKSPACE, workspace_problem

STACK_OUTPUTS = "stack_outputs"  # the key in Stack.cache


@dataclass(frozen=True)
class Read:
    values: dict[str, dict[str, Any]]  # entry -> output -> value
    secret: frozenset[str]  # "entry.output" of each output that is sensitive in its stack
    sources: dict[str, str] = field(default_factory=dict)  # entry -> what was read, for plans
    stacks: dict[str, str] = field(default_factory=dict)  # entry -> the stack it read


def _name(
    entry: StackOutputs, key: str, text: str, stack: Stack, variables: Mapping[str, Any]
) -> tuple[str | None, Diagnostics]:
    """An entry's stack or workspace name, its expressions evaluated (var.*, workspace)."""
    from nubes.engine.lang import Scope, evaluate, make_functions

    diags = Diagnostics()
    if "${" not in text:
        return text, diags
    scope = Scope(
        {"var": dict(variables), "workspace": stack.workspace, **make_functions(stack.directory)}
    )
    result = evaluate(text, scope, stack.at, (*entry.path, key), f"stack_outputs.{entry.name}")
    diags.extend(result.diags)
    if result.diags:
        return None, diags
    if not isinstance(result.value, str) or not result.value:
        diags.error(
            f"stack_outputs.{entry.name}.{key} must be a name, not {result.value!r}",
            where=stack.at((*entry.path, key)),
        )
        return None, diags
    return result.value, diags


def read_stack_outputs(
    stack: Stack,
    variables: Mapping[str, Any],
    own_store: Any,
    state_dir: Path,
    environ: Mapping[str, str],
) -> Diagnostics:
    """Read every entry's outputs into `stack.cache` for the plan; diagnostics when one
    cannot be read. `own_store` is the store of this stack's state (entries without a backend
    read from it)."""
    from nubes.engine.state.model import StateError
    from nubes.engine.state.stores import LocalStore, open_store

    diags = Diagnostics()
    values: dict[str, dict[str, Any]] = {}
    secret: set[str] = set()
    sources: dict[str, str] = {}
    stacks: dict[str, str] = {}
    for entry in stack.stack_outputs.values():
        where = stack.at(entry.path)
        name, problems = _name(entry, "stack", entry.stack, stack, variables)
        workspace, more = _name(
            entry, "workspace", entry.workspace or DEFAULT_WORKSPACE, stack, variables
        )
        diags.extend(problems)
        diags.extend(more)
        if name is None or workspace is None:
            continue
        if not NAME_RE.match(name):
            diags.error(
                f"stack_outputs.{entry.name}.stack: {name!r} is not a stack name",
                where=stack.at((*entry.path, "stack")),
            )
            continue
        problem = workspace_problem(workspace)
        if problem:
            diags.error(f"stack_outputs.{entry.name}: {problem}", where=where)
            continue
        if entry.backend is not None:
            store = open_store(entry.backend, state_dir, environ)
            if hasattr(store, "read_only"):
                store.read_only = True  # another team's database: read, never altered
        else:
            store = own_store if own_store is not None else LocalStore(state_dir)
        try:
            state = store.backend(name, workspace).read()
            described = store.describe()
        except StateError as exc:
            diags.error(f"stack_outputs.{entry.name}: cannot read stack {name}: {exc}", where=where)
            continue
        finally:
            if store is not own_store:
                store.close()
        if state is None:
            diags.error(
                f"stack_outputs.{entry.name}: stack {name} has no state in workspace "
                f"{workspace} of {described}",
                "apply that stack first, or check its name, workspace and backend",
                where=stack.at((*entry.path, "stack")),
            )
            continue
        stacks[entry.name] = name
        values[entry.name] = {k: o.value for k, o in state.outputs.items()}
        secret.update(f"{entry.name}.{k}" for k, o in state.outputs.items() if o.sensitive)
        sources[entry.name] = (
            f"stack {name}, workspace {workspace}, serial {state.serial} ({described})"
        )
    if diags.has_errors:
        stack.cache.pop(STACK_OUTPUTS, None)  # never an older read's values
    else:
        stack.cache[STACK_OUTPUTS] = Read(values, frozenset(secret), sources, stacks)
    return diags
