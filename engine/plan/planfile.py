"""Plans as JSON: the `--json` view's document and saved plan files (`--out`).

Unknown values are written as null with a parallel `after_unknown` mask, as Terraform does, so
a saved plan reads back exactly. A saved plan carries the state's lineage and serial and the
stack's text and digest; applying it against anything else is refused as stale.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nubes.engine.addrs import parse_instance_addr
from nubes.engine.diag import Diagnostics
from nubes.engine.files import InputFileError, read_regular
from nubes.engine.lang.unknown import Unknown, unknown_mask
from nubes.engine.plan.model import Action, Change, Drift, OutputChange, Plan
from nubes.engine.plan.recover import Recovered
from nubes.engine.stack.load import parse_stack
from nubes.engine.state.model import State, StateError

PLAN_FILE_FORMAT = 1
SENSITIVE = "(sensitive)"


def strip_unknown(value: Any) -> Any:
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: strip_unknown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_unknown(v) for v in value]
    return value


def restore_unknown(value: Any, mask: Any) -> Any:
    if mask is True:
        return Unknown
    if isinstance(mask, dict) and isinstance(value, dict):
        return {k: restore_unknown(v, mask.get(k, False)) for k, v in value.items()}
    if isinstance(mask, list) and isinstance(value, list):
        return [restore_unknown(v, m) for v, m in zip(value, mask, strict=False)]
    return value


def _mask(values: dict[str, Any] | None, sensitive: list[str]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (SENSITIVE if k in sensitive and v is not None else v) for k, v in values.items()}


def change_to_json(change: Change, hide_sensitive: bool = True) -> dict[str, Any]:
    after = change.after
    mask = unknown_mask(after) if after is not None else False
    hidden = change.sensitive if hide_sensitive else []
    out: dict[str, Any] = {
        "address": str(change.addr),
        "type": change.type,
        "provider": change.provider,
        "action": str(change.action),
        "before": _mask(change.before, hidden),
        "after": _mask(strip_unknown(after), hidden) if after is not None else None,
        "after_unknown": mask or {},
        "reason": change.reason,
    }
    if change.id is not None:
        out["id"] = change.id
    if change.requires_replace:
        out["requires_replace"] = change.requires_replace
    if change.deposed:
        out["deposed"] = True
    return out


def drift_to_json(d: Drift) -> dict[str, Any]:
    return {
        "address": str(d.addr),
        "type": d.type,
        "provider": d.provider,
        "id": d.id,
        "kind": d.kind,
        "changes": {k: {"before": b, "after": a} for k, (b, a) in d.changes.items()},
    }


def output_to_json(o: OutputChange, hide_sensitive: bool = True) -> dict[str, Any]:
    def show(v: Any) -> Any:
        return SENSITIVE if o.sensitive and hide_sensitive and v is not None else strip_unknown(v)

    return {
        "action": str(o.action),
        "before": show(o.before),
        "after": show(o.after),
        "after_unknown": o.after is Unknown,
        "sensitive": o.sensitive,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The `nubes plan --json` document."""
    return {
        "format_version": 1,
        "stack": plan.stack.name,
        "destroy": plan.destroy,
        "resource_changes": [change_to_json(c) for c in plan.changes],
        "output_changes": {k: output_to_json(o) for k, o in plan.outputs.items()},
        "drift": [drift_to_json(d) for d in plan.drift],
        "recovered": [asdict(r) for r in plan.recovered],
        "summary": plan.counts(),
    }


def write_plan_file(plan: Plan, path: Path) -> None:
    doc = plan_document(plan)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=1)


def plan_document(plan: Plan) -> dict[str, Any]:
    """Everything a saved plan holds (sensitive values too: keep it as private as state)."""
    changes = []
    for c in plan.changes:
        doc = change_to_json(c, hide_sensitive=False)
        doc.update(
            dependencies=c.dependencies,
            sensitive=c.sensitive,
            each_value=c.each_value,
            before_provider=c.before_provider,
            before_type=c.before_type,
        )
        changes.append(doc)
    doc = {
        "nubes_plan": PLAN_FILE_FORMAT,
        "stack": {
            "name": plan.stack.name,
            "file": str(plan.stack.file),
            "digest": plan.stack.digest,
            "text": plan.stack.text,
            "workspace": plan.stack.workspace,
        },
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "variables": plan.variables,
        "destroy": plan.destroy,
        "prior": plan.prior.to_json(),
        "changes": changes,
        "drift": [drift_to_json(d) for d in plan.drift],
        "recovered": [asdict(r) for r in plan.recovered],
        "outputs": {
            k: {**output_to_json(o, hide_sensitive=False), "name": k}
            for k, o in plan.outputs.items()
        },
    }
    return doc


MAX_PLAN_BYTES = 1024 * 1024 * 1024


def is_plan_file(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 64)
    except OSError:
        return False
    finally:
        os.close(fd)
    return head.lstrip().startswith(b"{") and b'"nubes_plan"' in head


def read_plan_file(path: Path) -> tuple[Plan | None, Diagnostics]:
    diags = Diagnostics()
    try:
        doc = json.loads(read_regular(path, MAX_PLAN_BYTES, "plan file"))
    except InputFileError as exc:
        diags.error(str(exc))
        return None, diags
    except (OSError, ValueError) as exc:
        diags.error(f"cannot read plan file {path}: {exc}")
        return None, diags
    except RecursionError:
        diags.error(f"cannot read plan file {path}: it nests too deeply")
        return None, diags
    return plan_from_document(doc, str(path))


def plan_from_document(doc: Any, where: str) -> tuple[Plan | None, Diagnostics]:
    """The plan a `plan_document` holds; diagnostics naming `where` when it is no plan."""
    diags = Diagnostics()
    try:
        if doc.get("nubes_plan") != PLAN_FILE_FORMAT:
            diags.error(
                f"{where} is a plan file of format {doc.get('nubes_plan')}, "
                f"which this nubes cannot read"
            )
            return None, diags
        stack_doc = doc["stack"]
        stack, stack_diags = parse_stack(stack_doc["text"], Path(stack_doc["file"]))
        diags.extend(stack_diags)
        if stack is None:
            return None, diags
        stack.workspace = str(stack_doc.get("workspace", "default"))
        changes = [_change_from_json(c) for c in doc["changes"]]
        outputs = {
            k: OutputChange(
                k,
                Action(o["action"]),
                o["before"],
                Unknown if o["after_unknown"] else o["after"],
                o["sensitive"],
            )
            for k, o in doc["outputs"].items()
        }
        drift = [
            Drift(
                _addr(d["address"]),
                d["type"],
                d["provider"],
                d["id"],
                d["kind"],
                {k: (v["before"], v["after"]) for k, v in d["changes"].items()},
            )
            for d in doc["drift"]
        ]
        plan = Plan(
            stack=stack,
            variables=doc["variables"],
            changes=changes,
            drift=drift,
            outputs=outputs,
            prior=State.from_json(doc["prior"]),
            lineage=doc["state"]["lineage"],
            serial=doc["state"]["serial"],
            destroy=bool(doc["destroy"]),
            recovered=[Recovered(**r) for r in doc.get("recovered", [])],
        )
    except (ValueError, KeyError, TypeError, AttributeError, StateError) as exc:
        diags.error(f"cannot read plan file {where}: {exc}")
        return None, diags
    except RecursionError:
        diags.error(f"cannot read plan file {where}: it nests too deeply")
        return None, diags
    return plan, diags


def _addr(text: str) -> Any:
    addr = parse_instance_addr(text)
    if addr is None:
        raise ValueError(f"invalid address {text!r}")
    return addr


def _change_from_json(c: dict[str, Any]) -> Change:
    after = c["after"]
    if after is not None:
        after = restore_unknown(after, c.get("after_unknown") or {})
    return Change(
        addr=_addr(c["address"]),
        type=c["type"],
        provider=c["provider"],
        action=Action(c["action"]),
        before=c["before"],
        after=after,
        id=c.get("id"),
        reason=c.get("reason", ""),
        requires_replace=list(c.get("requires_replace") or []),
        dependencies=list(c.get("dependencies") or []),
        sensitive=list(c.get("sensitive") or []),
        deposed=bool(c.get("deposed", False)),
        before_provider=c.get("before_provider"),
        before_type=c.get("before_type"),
        each_value=c.get("each_value"),
    )
