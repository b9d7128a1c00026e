"""Functions callable from `${...}` expressions.

Paths given to `file()` and `template()` (and a template's includes) are resolved relative to the
stack file's folder and may not leave it, judged by real path; each must be a regular file of at
most 1 MB. Every function's result is measured by the evaluation's budget (engine.lang.budget).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateError, TemplateNotFound

from nubes.engine.files import InputFileError, read_inside, resolve_inside
from nubes.engine.lang.bounded import json_text, json_value, yaml_text
from nubes.engine.lang.budget import MAX_TEXT, check_items, check_text, current
from nubes.engine.lang.sandbox import ExpressionError, StackEnvironment
from nubes.engine.lang.unknown import contains_unknown

MAX_FILE_BYTES = MAX_TEXT  # what file() reads: no more than one string may hold
MAX_TEMPLATE_BYTES = 64 * 1024  # a template's source (compiling costs about 25 us a character)
_NO_DEFAULT = object()


def resolve_path(base_dir: Path, path: object, private: tuple[Path, ...] = ()) -> Path:
    """The file `path` names under `base_dir`; refuses paths that leave it, and paths into
    nubes' own folders (the state folder: its state, journal and sim database hold secrets
    that a stack must not read out past their `(sensitive)` masks)."""
    try:
        target = resolve_inside(base_dir, path)
    except InputFileError as exc:
        raise ExpressionError(str(exc)) from None
    for folder in private:
        try:
            inside = target.is_relative_to(folder.resolve())
        except OSError:
            inside = False
        if inside:
            raise ExpressionError(f"{path!r} is in nubes' state folder, which a stack may not read")
    return target


def _read(base_dir: Path, path: object, private: tuple[Path, ...] = ()) -> str:
    target = resolve_path(base_dir, path, private)
    if not target.exists():
        raise ExpressionError(f"no such file {path!r} (looked in {base_dir})")
    try:
        return read_inside(base_dir, path, MAX_FILE_BYTES)
    except InputFileError as exc:
        raise ExpressionError(str(exc)) from None


class ContainedLoader(BaseLoader):
    """Templates and what they include, extend or import: from the stack's folder only, by real
    path, regular files of bounded size, each load a step of the evaluation's budget."""

    def __init__(self, root: Path, private: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.private = private

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        current().step()
        target = resolve_path(self.root, template, self.private)
        try:
            text = read_inside(self.root, template, MAX_TEMPLATE_BYTES, "template")
        except InputFileError as exc:
            if not target.exists():
                raise TemplateNotFound(template) from None
            raise ExpressionError(str(exc)) from None
        mtime = target.stat().st_mtime
        return text, str(target), lambda: target.exists() and target.stat().st_mtime == mtime


def render(env: StackEnvironment, path: str, variables: dict[str, Any]) -> str:
    """A template's output, measured as it is produced."""
    out: list[str] = []
    size = 0
    for chunk in env.get_template(path).generate(**variables):
        size += len(chunk)
        check_text(size, "a template's output")
        current().step()
        out.append(chunk)
    return "".join(out)


def make_functions(base_dir: Path, private: tuple[Path, ...] = ()) -> dict[str, Callable[..., Any]]:
    """The expression functions, bound to one stack's folder (and kept out of `private`)."""
    templates = StackEnvironment(
        loader=ContainedLoader(base_dir, private),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )

    def file(path: str) -> str:
        return _read(base_dir, path, private)

    def template(path: str, **variables: Any) -> str:
        resolve_path(base_dir, path, private)
        try:
            return render(templates, path, variables)
        except TemplateNotFound as exc:
            raise ExpressionError(f"template {path!r}: no such template {exc.name!r}") from None
        except TemplateError as exc:
            raise ExpressionError(f"template {path!r}: {exc}") from None
        except (RecursionError, SyntaxError):  # SyntaxError: Python's limit on nested blocks
            raise ExpressionError(f"template {path!r} nests or includes too deeply") from None

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
        if contains_unknown(value):
            raise ExpressionError("jsonencode: value is not known until apply")
        try:
            return json_text(value)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"jsonencode: {exc}") from None

    def jsondecode(text: str) -> Any:
        try:
            return json_value(text)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"jsondecode: {exc}") from None
        except RecursionError:
            raise ExpressionError("jsondecode: the document nests too deeply") from None

    def yamlencode(value: Any) -> str:
        try:
            return yaml_text(value)
        except yaml.YAMLError as exc:
            raise ExpressionError(f"yamlencode: {exc}") from None

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
            check_items(len(out) + len(item))
            out.extend(item)
        return out

    def keys(mapping: Mapping[str, Any]) -> list[str]:
        if not isinstance(mapping, Mapping):
            raise ExpressionError("keys takes a map")
        return list(mapping)

    def values(mapping: Mapping[str, Any]) -> list[Any]:
        if not isinstance(mapping, Mapping):
            raise ExpressionError("values takes a map")
        return list(mapping.values())

    def length(value: Any) -> int:
        if not hasattr(value, "__len__"):
            raise ExpressionError(f"length takes a string, list or map, not {type(value).__name__}")
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
# jinja2's own globals, which stay callable from expressions, and `workspace` (the state's
# workspace name, for names that depend on the environment)
BUILTIN_NAMES = frozenset({"range", "dict", "cycler", "joiner", "namespace", "workspace"})
