"""Variable values: `--var k=v`, then `--var-file`, then `NUBES_VAR_k`, then the default.

Values given as text (on the command line or in the environment) are read according to the
variable's declared type; values from var files keep their YAML type and are checked against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nubes.engine.diag import Diagnostics, SourceRange
from nubes.engine.files import InputFileError, read_regular
from nubes.engine.lang.budget import Budget, BudgetError
from nubes.engine.stack.model import Stack, Variable
from nubes.engine.stack.yamlpos import load_yaml

ENV_PREFIX = "NUBES_VAR_"
MAX_VAR_FILE_BYTES = 4 * 1024 * 1024
MAX_VALUE_TEXT = 1024 * 1024  # a value given on the command line or in the environment


def type_matches(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    return isinstance(value, dict)


def parse_text(kind: str, text: str) -> tuple[Any, str | None]:
    """A variable's value from text; (value, None) or (None, why not)."""
    if kind == "string":
        return text, None
    if kind == "number":
        try:
            whole = int(text)
        except ValueError:
            pass
        else:
            if whole.bit_length() > 4096:
                return None, "the number is too large (at most 4,096 bits, about 1,233 digits)"
            return whole, None
        shown = text if len(text) <= 60 else text[:57] + "..."
        try:
            number = float(text)
        except ValueError:
            return None, f"{shown!r} is not a number"
        if number != number or number in (float("inf"), float("-inf")):
            return None, f"{shown!r} is not a finite number"
        return number, None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True, None
        if lowered in ("false", "0", "no"):
            return False, None
        return None, f"{text!r} is not a bool (true or false; yes, no, 1 and 0 are taken too)"
    shown = text if len(text) <= 60 else text[:57] + "..."
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return None, "the value nests too deeply"
    except ValueError:
        value, _, errors = load_yaml(text, "<value>")
        if errors:
            return None, f"{shown!r} is not a {kind} (write it as JSON, e.g. {_example(kind)})"
    if not type_matches(kind, value):
        return None, f"{shown!r} is not a {kind} (write it as JSON, e.g. {_example(kind)})"
    try:
        Budget().deep(value)  # nesting, numbers too big or not finite
    except BudgetError as exc:
        return None, str(exc)
    return value, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _example(kind: str) -> str:
    return '["a", "b"]' if kind == "list" else '{"k": "v"}'


def resolve_variables(
    stack: Stack,
    cli_vars: Mapping[str, str] | None = None,
    var_files: list[str | Path] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], Diagnostics]:
    diags = Diagnostics()
    given: dict[str, tuple[Any, SourceRange | None, bool]] = {}  # name -> (value, where, typed)
    env = environ or {}
    for key, text in env.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] in stack.variables:
            given[key[len(ENV_PREFIX) :]] = (text, None, False)
    for vf in var_files or []:
        _read_var_file(Path(vf), stack, given, diags)
    for name, text in (cli_vars or {}).items():
        if name not in stack.variables:
            diags.error(
                f"--var {name}=...: this stack has no variable {name!r}", _declared(stack.variables)
            )
            continue
        given[name] = (text, None, False)
    values: dict[str, Any] = {}
    for name, var in stack.variables.items():
        where = stack.at(("variables", name))
        if name in given:
            value, source, typed = given[name]
            if not typed and isinstance(value, str) and len(value) > MAX_VALUE_TEXT:
                diags.error(
                    f"variable {name!r}: the value is {len(value):,} characters, more than the "
                    f"{MAX_VALUE_TEXT:,} allowed (use a --var-file)",
                    where=source or where,
                )
                continue
            if not typed:
                value, why = parse_text(var.type, value)
                if why is not None:
                    diags.error(f"variable {name!r}: {why}", where=source or where)
                    continue
            elif not type_matches(var.type, value):
                diags.error(
                    f"variable {name!r} must be a {var.type}, not {_kind(value)}",
                    where=source or where,
                )
                continue
            values[name] = value
        elif var.has_default:
            if var.default is not None and not type_matches(var.type, var.default):
                diags.error(
                    f"the default of variable {name!r} must be a {var.type}, not "
                    f"{_kind(var.default)}",
                    where=stack.at(("variables", name, "default")),
                )
                continue
            values[name] = var.default
        else:
            diags.error(
                f"variable {name!r} has no value",
                f"set it with --var {name}=..., a --var-file, or {ENV_PREFIX}{name}",
                where=where,
            )
    return values, diags


def _read_var_file(
    path: Path,
    stack: Stack,
    given: dict[str, tuple[Any, SourceRange | None, bool]],
    diags: Diagnostics,
) -> None:
    try:
        text = read_regular(path, MAX_VAR_FILE_BYTES, "var file")
    except InputFileError as exc:
        diags.error(str(exc))
        return
    value, pos, errors = load_yaml(text, str(path))
    diags.extend(errors)
    if errors:
        return
    if value is None:
        return
    if not isinstance(value, dict):
        diags.error("a var file must be a mapping of variable names to values", where=pos.at(()))
        return
    for name, item in value.items():
        if name not in stack.variables:
            diags.error(
                f"this stack has no variable {name!r}",
                _declared(stack.variables),
                where=pos.key_at((name,)),
            )
            continue
        given[name] = (item, pos.at((name,)), True)


def _declared(variables: Mapping[str, Variable]) -> str:
    return f"declared variables: {', '.join(variables) or 'none'}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return "null"
