"""YAML loading that keeps where every value was written.

Values come out as plain Python (dict, list, str, int, float, bool, None). Beside them, a
`Positions` table maps each value's path (a tuple of keys and indexes) to its source position,
so any later stage can point a diagnostic at the user's own line and column.

Hostile input is bounded: duplicate keys are refused, alias expansion and nesting depth have
budgets, and only the YAML core schema's tags are understood.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from nubes.engine.diag import Diagnostic, SourceRange, error

Path = tuple[str | int, ...]

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_INT_BITS = 4096  # as expressions allow (engine.lang.budget)
MAX_ENTRIES = 100_000  # of one list or map, as expressions allow
MIN_VALUE_BUDGET = 10_000

try:
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"


class _Loader(_Base):
    """libyaml's parser with a quicker resolver: a plain scalar whose first character starts no
    implicit type (a name, a word) is a string without trying the types' patterns."""

    _typed_starts = frozenset(k for k in yaml.SafeLoader.yaml_implicit_resolvers if k)

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if (
            kind is yaml.ScalarNode
            and implicit[0]
            and value
            and value[0] not in self._typed_starts
            and not self.yaml_path_resolvers
        ):
            return _STR
        return str(super().resolve(kind, value, implicit))

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers are registered

    def ascend_resolver(self) -> None:
        return None


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass
class Positions:
    """Source positions of values (and of mapping keys) by path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path) -> SourceRange:
        """Where the value at `path` was written, or its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            pos = self.values.get(path[:end])
            if pos is not None:
                return SourceRange(self.file, pos[0], pos[1])
        return SourceRange(self.file, 1, 1)

    def key_at(self, path: Path) -> SourceRange:
        """Where the mapping key that leads to `path` was written."""
        pos = self.keys.get(path)
        if pos is not None:
            return SourceRange(self.file, pos[0], pos[1])
        return self.at(path)


class _Budget:
    """How many values a document may build: without aliases a document cannot hold more
    values than it has characters, so anything beyond that is alias expansion."""

    def __init__(self, limit: int) -> None:
        self.values = 0
        self.limit = limit


class _Refused(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        self.diag = diag


def load_yaml(
    text: str,
    file: str,
    precheck: Callable[[yaml.Node, str], Diagnostic | None] | None = None,
) -> tuple[Any, Positions, list[Diagnostic]]:
    """Parse one YAML document; returns (value, positions, diagnostics). `precheck` sees the
    composed document before any value is built, to refuse what is too big cheaply."""
    positions = Positions(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = SourceRange(file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return None, positions, [error(f"YAML syntax error: {problem}{context}", where=where)]
    except yaml.YAMLError as exc:
        return None, positions, [error(f"YAML error: {exc}", where=SourceRange(file, 1, 1))]
    if node is None:
        return None, positions, []
    early = precheck(node, file) if precheck is not None else None
    if early is not None:
        return None, positions, [early]
    try:
        value = _build(node, (), positions, _Budget(max(MIN_VALUE_BUDGET, 2 * len(text))), 0)
    except _Refused as refused:
        return None, positions, [refused.diag]
    return value, positions, []


def where(node: yaml.Node, file: str) -> SourceRange:
    return _where(node, file)


def _where(node: yaml.Node, file: str) -> SourceRange:
    return SourceRange(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: Path, pos: Positions, budget: _Budget, depth: int) -> Any:
    # a value costs one, a scalar its length too: without aliases a document cannot build more
    # than twice its size, so anything beyond is expansion (a long string aliased many times)
    budget.values += 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
    if budget.values > budget.limit:
        raise _Refused(
            error(
                "document expands to too many values",
                f"more than {budget.limit:,} values and characters after expanding aliases; "
                "this looks like an alias bomb",
                _where(node, pos.file),
            )
        )
    if depth > MAX_DEPTH:
        raise _Refused(
            error(f"nesting deeper than {MAX_DEPTH} levels", where=_where(node, pos.file))
        )
    pos.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and len(node.value) > MAX_ENTRIES:
        raise _Refused(
            error(
                f"a list or map holds more than {MAX_ENTRIES:,} entries",
                where=_where(node, pos.file),
            )
        )
    if isinstance(node, yaml.MappingNode):
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise _Refused(error(f"unsupported YAML tag {node.tag}", where=_where(node, pos.file)))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    error(
                        "YAML merge keys (<<) are not supported", where=_where(key_node, pos.file)
                    )
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(
                    error("mapping keys must be plain scalars", where=_where(key_node, pos.file))
                )
            key = str(_scalar(key_node, pos.file))
            if key in out:
                first = pos.keys.get((*path, key))
                seen = f" (first written at line {first[0]})" if first else ""
                raise _Refused(
                    error(f"duplicate key {key!r}{seen}", where=_where(key_node, pos.file))
                )
            child = (*path, key)
            pos.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, child, pos, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _Refused(error(f"unsupported YAML tag {node.tag}", where=_where(node, pos.file)))
        return [
            _build(item, (*path, i), pos, budget, depth + 1) for i, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node, pos.file)


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    if node.tag not in _SCALAR_TAGS:
        raise _Refused(error(f"unsupported YAML tag {node.tag}", where=_where(node, file)))
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # keep dates as written; stacks have no date type
    if node.tag == "tag:yaml.org,2002:str":
        if _SURROGATE.search(node.value):
            raise _Refused(
                error(
                    "a string holds a lone surrogate, which is not text", where=_where(node, file)
                )
            )
        return node.value
    if len(node.value) > 10_000 and node.tag in (
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    ):
        raise _Refused(error("number too long", where=_where(node, file)))
    if node.tag == "tag:yaml.org,2002:null":
        return None
    try:
        if node.tag == "tag:yaml.org,2002:bool":
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if node.tag == "tag:yaml.org,2002:int":
            number = _CONSTRUCTOR.construct_yaml_int(node)
            if number.bit_length() > MAX_INT_BITS:
                raise _Refused(error("number too large", where=_where(node, file)))
            return number
        value = _CONSTRUCTOR.construct_yaml_float(node)
    except (ValueError, yaml.YAMLError) as exc:
        raise _Refused(error(f"invalid value: {exc}", where=_where(node, file))) from None
    if not math.isfinite(value):
        raise _Refused(error(f"the number {node.value} is not finite", where=_where(node, file)))
    return value
