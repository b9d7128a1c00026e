"""Functions callable from `${...}` expressions.

Paths given to `file()` and `template()` are resolved relative to the stack file's folder and may
not leave it (symlinks included).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError

from engine.lang.sandbox import ExpressionError, StackEnvironment
from engine.lang.unknown import UnknownType

MAX_FILE_BYTES = 4 * 1024 * 1024
_NO_DEFAULT = object()


def _to_json(value: Any) -> Any:
    if isinstance(value, UnknownType):
        raise ExpressionError("value is not known until apply")
    return value


def resolve_path(base_dir: Path, path: object) -> Path:
    """The file `path` names under `base_dir`; refuses paths that leave it."""
    if not isinstance(path, str) or not path:
        raise ExpressionError("a path must be a non-empty string")
    root = base_dir.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise ExpressionError(f"path {path!r} leaves the stack's folder {root}")
    return target


def _read(base_dir: Path, path: object) -> str:
    target = resolve_path(base_dir, path)
    try:
        if target.stat().st_size > MAX_FILE_BYTES:
            raise ExpressionError(f"file {path!r} is larger than {MAX_FILE_BYTES} bytes")
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExpressionError(f"no such file {path!r} (looked in {base_dir})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpressionError(f"cannot read {path!r}: {exc}") from None


def make_functions(base_dir: Path) -> dict[str, Callable[..., Any]]:
    """The expression functions, bound to one stack's folder."""
    templates = StackEnvironment(
        loader=FileSystemLoader(str(base_dir)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )

    def file(path: str) -> str:
        return _read(base_dir, path)

    def template(path: str, **variables: Any) -> str:
        resolve_path(base_dir, path)
        try:
            return templates.get_template(path).render(**variables)
        except TemplateError as exc:
            raise ExpressionError(f"template {path!r}: {exc}") from None

    def base64encode(text: str) -> str:
        if not isinstance(text, str):
            raise ExpressionError("base64encode takes a string")
        return base64.b64encode(text.encode()).decode()

    def base64decode(text: str) -> str:
        try:
            return base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
            raise ExpressionError(f"base64decode: {exc}") from None

    def jsonencode(value: Any) -> str:
        try:
            return json.dumps(value, default=_to_json, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"jsonencode: {exc}") from None

    def jsondecode(text: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"jsondecode: {exc}") from None

    def yamlencode(value: Any) -> str:
        return yaml.safe_dump(value, sort_keys=False)

    def lookup(mapping: Mapping[str, Any], key: str, default: Any = _NO_DEFAULT) -> Any:
        if not isinstance(mapping, Mapping):
            raise ExpressionError("lookup takes a map as its first argument")
        if key in mapping:
            return mapping[key]
        if default is _NO_DEFAULT:
            raise ExpressionError(f"lookup: no key {key!r} (keys: {', '.join(map(str, mapping))})")
        return default

    def merge(*maps: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in maps:
            if not isinstance(m, Mapping):
                raise ExpressionError("merge takes maps")
            out.update(m)
        return out

    def concat(*lists: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in lists:
            if not isinstance(item, list | tuple):
                raise ExpressionError("concat takes lists")
            out.extend(item)
        return out

    def keys(mapping: Mapping[str, Any]) -> list[str]:
        return list(mapping)

    def values(mapping: Mapping[str, Any]) -> list[Any]:
        return list(mapping.values())

    def length(value: Any) -> int:
        return len(value)

    return {
        "file": file,
        "template": template,
        "base64encode": base64encode,
        "base64decode": base64decode,
        "jsonencode": jsonencode,
        "jsondecode": jsondecode,
        "yamlencode": yamlencode,
        "lookup": lookup,
        "merge": merge,
        "concat": concat,
        "keys": keys,
        "values": values,
        "length": length,
    }


FUNCTION_NAMES = frozenset(make_functions(Path(".")))
# jinja2's own globals, which stay callable from expressions
BUILTIN_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
