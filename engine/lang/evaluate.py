"""Evaluating stack values: walking YAML values and running the `${...}` inside them.

Before an expression runs, each reference it makes is resolved; if any resolves to something
holding `Unknown`, the expression's value is `Unknown` without running it. Expressions are pure
(the sandbox sees no clock, network or mutable state), so this is exact for known inputs and
conservative for unknown ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.exceptions import SecurityError

from nubes.engine.diag import Diagnostic, SourceRange, error
from nubes.engine.lang.budget import MAX_TEXT, BudgetError
from nubes.engine.lang.sandbox import ExpressionError
from nubes.engine.lang.template import Expression, ParseError, Ref, RefPath, parse_string
from nubes.engine.lang.unknown import Unknown, contains_unknown

Path = tuple[str | int, ...]
_MISSING = object()


@dataclass
class Scope:
    """Names an expression can see, and which of them are sensitive.

    `names` holds `var`, `each`, `count`, resource values and functions. `sensitive` maps a root
    name to the attribute names under it that are sensitive (for `var`: sensitive variables),
    or to dotted paths under it (`net.password` for `stack_outputs`).
    """

    names: dict[str, Any]
    sensitive: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def child(self, **extra: Any) -> Scope:
        return Scope({**self.names, **extra}, self.sensitive)


@dataclass
class Evaluated:
    value: Any
    sensitive: bool
    diags: list[Diagnostic]


def resolve_ref(ref: Ref, names: Mapping[str, Any]) -> Any:
    """The value a reference's constant part points at, `_MISSING` when it points nowhere."""
    value = names.get(ref.root, _MISSING)
    for _, key in ref.steps:
        if value is Unknown or value is _MISSING:
            return value
        if isinstance(value, Mapping):
            value = value.get(key, _MISSING) if isinstance(key, str) else _MISSING
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if -len(value) <= key < len(value) else _MISSING
        else:
            return _MISSING
    return value


def _is_sensitive(ref: Ref, scope: Scope) -> bool:
    secret = scope.sensitive.get(ref.root)
    if not secret:
        return False
    keys = [str(k) for _, k in ref.steps]
    for path in secret:  # "a.b": the value at a, then b (by attribute or by index)
        if "." in path:
            parts = path.split(".")
            n = min(len(keys), len(parts))
            if keys[:n] == parts[:n]:  # reads it, or an object that holds it
                return True
    attrs = ref.attrs
    if not attrs:
        return True  # the whole object, secrets included
    return any(a in secret for a in attrs)


def to_text(value: Any) -> str:
    """How a value reads when interpolated into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Evaluator:
    """Evaluates values in one scope; collects diagnostics with source positions."""

    def __init__(self, scope: Scope, at: Callable[[Path], SourceRange], address: str | None = None):
        self.scope = scope
        self.at = at
        self.address = address
        self.diags: list[Diagnostic] = []
        self.sensitive = False

    def value(self, raw: Any, path: Path) -> Any:
        if isinstance(raw, str):
            return self.string(raw, path) if "${" in raw else raw
        if isinstance(raw, dict):
            return {k: self.value(v, (*path, k)) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v, (*path, i)) for i, v in enumerate(raw)]
        return raw

    def string(self, text: str, path: Path) -> Any:
        try:
            parsed = parse_string(text)
        except ParseError as exc:
            self._fail(str(exc), path)
            return Unknown
        lone = parsed.lone
        if lone is not None:
            return self.run(lone, path)
        pieces: list[str] = []
        unknown = False
        size = 0
        for part in parsed.parts:
            if isinstance(part, str):
                pieces.append(part)
                size += len(part)
                continue
            result = self.run(part, path)
            if result is Unknown or contains_unknown(result):
                unknown = True
            else:
                pieces.append(to_text(result))
                size += len(pieces[-1])
            if size > MAX_TEXT:
                self._fail(f"the string would be longer than {MAX_TEXT:,} characters", path)
                return Unknown
        return Unknown if unknown else "".join(pieces)

    def run(self, expr: Expression, path: Path) -> Any:
        names = self.scope.names
        if expr.simple is not None:
            found = resolve_ref(expr.simple, names)
            if found is not _MISSING:
                if _is_sensitive(expr.simple, self.scope):
                    self.sensitive = True
                if found is Unknown or contains_unknown(found):
                    return Unknown
                return _plain(found, self, expr, path)
        for ref in expr.refs:
            if _is_sensitive(ref, self.scope):
                self.sensitive = True
        for chain in expr.paths:
            target = self._follow(chain)
            if target is _MISSING:
                continue  # let the expression report it, with jinja's wording
            if target is Unknown or contains_unknown(target):
                return Unknown
        try:
            result = expr.run(**{n: names[n] for n in expr.names if n in names})
        except SecurityError as exc:
            self._fail(f"${{{expr.source}}} is not allowed: {exc}", path)
            return Unknown
        except ParseError as exc:
            self._fail(str(exc), path)
            return Unknown
        except ExpressionError as exc:
            self._fail(f"in ${{{expr.source}}}: {exc}", path)
            return Unknown
        except TemplateError as exc:
            self._fail(f"in ${{{expr.source}}}: {exc.message}", path)
            return Unknown
        except (
            ArithmeticError,
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            UnicodeError,
        ) as exc:
            self._fail(f"in ${{{expr.source}}}: {type(exc).__name__}: {exc}", path)
            return Unknown
        except BudgetError as exc:
            self._fail(f"in ${{{_short(expr.source)}}}: {exc}", path)
            return Unknown
        except RecursionError:
            self._fail(f"in ${{{_short(expr.source)}}}: expression nests too deeply", path)
            return Unknown
        except MemoryError:
            self._fail(f"in ${{{_short(expr.source)}}}: expression needs too much memory", path)
            return Unknown
        except Exception as exc:  # any other failure inside jinja2 or a filter: still the user's
            self._fail(f"in ${{{_short(expr.source)}}}: {type(exc).__name__}: {exc}", path)
            return Unknown
        if isinstance(result, Undefined):
            try:
                str(result)
            except SecurityError as exc:
                self._fail(f"${{{expr.source}}} is not allowed: {exc}", path)
                return Unknown
            except TemplateError as exc:
                self._fail(f"in ${{{expr.source}}}: {exc.message}", path)
                return Unknown
            self._fail(f"in ${{{expr.source}}}: value is undefined", path)
            return Unknown
        return _plain(result, self, expr, path)

    def _follow(self, path: RefPath) -> Any:
        """The deepest value a name chain reaches, computing its subscripts; what the
        expression can read of it is unknown only if this holds an unknown value."""
        root, steps = path
        value = self.scope.names.get(root, _MISSING)
        for kind, key in steps:
            if value is Unknown or value is _MISSING:
                return value
            if kind == "expr":
                quiet = Evaluator(self.scope, self.at, self.address)
                key = quiet.run(key, ())
                if quiet.diags or contains_unknown(key):
                    return Unknown if not quiet.diags else value
            if isinstance(value, Mapping) and isinstance(key, str):
                found = value.get(key, _MISSING)
            elif isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
                found = value[key] if -len(value) <= key < len(value) else _MISSING
            else:
                return value  # the expression decides what this step means
            if found is _MISSING:
                return _MISSING
            value = found
        return value

    def _fail(self, summary: str, path: Path) -> None:
        self.diags.append(error(summary, where=self.at(path), address=self.address))


def _short(source: str) -> str:
    return source if len(source) <= 200 else source[:200] + "..."


def _plain(value: Any, ev: Evaluator, expr: Expression, path: Path) -> Any:
    """Expression results as stack values: tuples and generators become lists."""
    if isinstance(value, str | int | float | bool) or value is None or value is Unknown:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, ev, expr, path) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, ev, expr, path) for v in value]
    if hasattr(value, "__iter__") and type(value).__name__ in ("generator", "map", "filter"):
        return [_plain(v, ev, expr, path) for v in value]
    ev._fail(
        f"${{{expr.source}}} gives a {type(value).__name__}, which is not a stack value "
        "(string, number, bool, list or map)",
        path,
    )
    return Unknown


def evaluate(
    raw: Any,
    scope: Scope,
    at: Callable[[Path], SourceRange],
    path: Path,
    address: str | None = None,
) -> Evaluated:
    ev = Evaluator(scope, at, address)
    value = ev.value(raw, path)
    return Evaluated(value, ev.sensitive, ev.diags)
