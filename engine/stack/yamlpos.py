"""YAML loading that keeps where every value was written.

Values come out as plain Python (dict, list, str, int, float, bool, None), built straight from
the parser's events: no node tree is held. Beside them, a `Positions` table maps each value's
path (a tuple of keys and indexes) to its source position, so any later stage can point a
diagnostic at the user's own line and column. The table is made from the document's text the
first time a position is asked for, by the same builder: a stack that loads and plans without a
diagnostic never holds it (at 100,000 resources it would be about 200 MB).

Hostile input is bounded: duplicate keys are refused, alias expansion, nesting depth and the
entries of any list or map have budgets, and only the YAML core schema's tags are understood.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

import yaml

from nubes.engine.diag import Diagnostic, SourceRange, error

Path = tuple[str | int, ...]
Where = tuple[int, int]  # line, column, from 1

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_INT_BITS = 4096  # as expressions allow (engine.lang.budget)
MAX_ENTRIES = 100_000  # of one list or map, as expressions allow
MIN_VALUE_BUDGET = 10_000
SHARED_LENGTH = 64  # strings up to this long are held once per document

try:
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


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


_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Cap:
    """A tighter limit on the entries of one top-level key's list or map, with its message."""

    limit: int
    summary: str
    hint: str = ""


class Positions:
    """Source positions of values (and of mapping keys) by path, found in `text` when first
    asked for. Without a text (defaults made in code), every path is at line 1."""

    def __init__(self, file: str, text: str | None = None) -> None:
        self.file = file
        self._text = text
        self._table: tuple[dict[Path, Where], dict[Path, Where]] | None = None
        self._lock = threading.Lock()

    def _tables(self) -> tuple[dict[Path, Where], dict[Path, Where]]:
        with self._lock:
            if self._table is None:
                builder = _Builder(self._text or "", self.file, record=True)
                # a document that was refused keeps what was recorded before its refusal
                with contextlib.suppress(_Refused, yaml.YAMLError):
                    builder.document()
                self._table = (builder.values, builder.keys)
            return self._table

    def written(self, path: Path) -> bool:
        """Whether the value at `path` was written in the document itself."""
        return path in self._tables()[0]

    def at(self, path: Path) -> SourceRange:
        """Where the value at `path` was written, or its nearest written ancestor."""
        values = self._tables()[0]
        for end in range(len(path), -1, -1):
            pos = values.get(path[:end])
            if pos is not None:
                return SourceRange(self.file, pos[0], pos[1])
        return SourceRange(self.file, 1, 1)

    def key_at(self, path: Path) -> SourceRange:
        """Where the mapping key that leads to `path` was written."""
        pos = self._tables()[1].get(path)
        if pos is not None:
            return SourceRange(self.file, pos[0], pos[1])
        return self.at(path)


class _Refused(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        self.diag = diag


class _Again(Exception):
    """The message needs positions the quick pass does not keep: build again, recording."""


def load_yaml(
    text: str, file: str, caps: dict[str, Cap] | None = None
) -> tuple[Any, Positions, list[Diagnostic]]:
    """Parse one YAML document; returns (value, positions, diagnostics). `caps` limits the
    entries of some top-level keys' lists or maps further, refused as soon as they pass it."""
    positions = Positions(file, text)
    try:
        try:
            value = _Builder(text, file, record=False, caps=caps).document()
        except _Again:
            value = _Builder(text, file, record=True, caps=caps).document()
    except _Refused as refused:
        return None, positions, [refused.diag]
    except yaml.MarkedYAMLError as exc:
        return None, positions, [_syntax_error(exc, file)]
    except yaml.YAMLError as exc:
        return None, positions, [error(f"YAML error: {exc}", where=SourceRange(file, 1, 1))]
    return value, positions, []


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    """PyYAML's error at the place to look: where an unclosed quote, bracket or brace opens
    (the file's end says nothing of where), else where the parser stopped, naming what it was
    reading and where that began."""
    problem = exc.problem or "invalid YAML"
    begun, stopped = exc.context_mark, exc.problem_mark
    if begun is not None and (stopped is None or "end of stream" in problem):
        what = (
            (exc.context or "this").removeprefix("while scanning ").removeprefix("while parsing ")
        )
        return error(
            f"YAML syntax error: {what} that starts here is never closed",
            f"the file ends first ({problem})",
            where=SourceRange(file, begun.line + 1, begun.column + 1),
        )
    context = f" ({exc.context})" if exc.context else ""
    if stopped is None:
        return error(f"YAML syntax error: {problem}{context}")
    detail = (
        f"{exc.context} that begins at line {begun.line + 1}, column {begun.column + 1}"
        if begun is not None and exc.context and begun.line != stopped.line
        else ""
    )
    where = SourceRange(file, stopped.line + 1, stopped.column + 1)
    return error(f"YAML syntax error: {problem}{context}", detail, where=where)


@dataclass
class _Anchor:
    value: Any
    cost: int  # of the budget, as building it again would cost
    height: int  # how deep it nests below itself
    values: list[tuple[Path, Where]]  # recorded positions below it, when recording
    keys: list[tuple[Path, Where]]


class _Builder:
    """Builds one document's value from the parser's events. Recording, it also fills the
    position tables (and gives a duplicate key's first place)."""

    def __init__(
        self, text: str, file: str, record: bool, caps: dict[str, Cap] | None = None
    ) -> None:
        self.text = text
        self.file = file
        self.record = record
        self.caps = caps or {}
        # a value costs one, a scalar its length too: without aliases a document cannot build
        # more than twice its size, so anything beyond is expansion (a long string aliased)
        self.spent = 0
        self.limit = max(MIN_VALUE_BUDGET, 2 * len(text))
        self.anchors: dict[str, _Anchor] = {}
        self.memo: dict[str, str] = {}
        self.values: dict[Path, Where] = {}
        self.keys: dict[Path, Where] = {}
        self.height = 0  # deepest depth reached, for anchors' heights
        # anchors open around the node being built: (their path length, their records)
        self.open: list[tuple[int, _Anchor]] = []

    def document(self) -> Any:
        loader = _Loader(self.text)
        try:
            self.get = loader.get_event
            self.resolve = loader.resolve
            self.get()  # stream start
            start = self.get()
            if isinstance(start, yaml.StreamEndEvent):
                return None
            value = self.node(self.get(), (), 0, None)
            self.get()  # document end
            after = self.get()
            if not isinstance(after, yaml.StreamEndEvent):
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    start.start_mark,
                    "but found another document",
                    after.start_mark,
                )
            return value
        finally:
            loader.dispose()

    def refuse(self, summary: str, mark: Any, detail: str = "") -> _Refused:
        where = SourceRange(self.file, mark.line + 1, mark.column + 1)
        return _Refused(error(summary, detail, where))

    def charge(self, cost: int, mark: Any) -> None:
        self.spent += cost
        if self.spent > self.limit:
            raise self.refuse(
                "document expands to too many values",
                mark,
                f"more than {self.limit:,} values and characters after expanding aliases; "
                "this looks like an alias bomb",
            )

    def put(self, table: dict[Path, Where], own: int, path: Path, where: Where) -> None:
        table[path] = where
        for base, anchor in self.open:
            (anchor.values if own == 0 else anchor.keys).append((path[base:], where))

    def node(self, event: Any, path: Path, depth: int, cap: tuple[Cap, Any] | None) -> Any:
        kind = type(event)
        if kind is yaml.AliasEvent:
            return self.alias(event, path, depth)
        mark = event.start_mark
        if depth > MAX_DEPTH:
            raise self.refuse(f"nesting deeper than {MAX_DEPTH} levels", mark)
        self.height = max(self.height, depth)
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                raise yaml.composer.ComposerError(
                    "found duplicate anchor; first occurrence", None, "second occurrence", mark
                )
            opened = _Anchor(None, self.spent, depth, [], [])
            self.open.append((len(path), opened))
            height, self.height = self.height, depth
        if self.record:
            self.put(self.values, 0, path, (mark.line + 1, mark.column + 1))
        if kind is yaml.ScalarEvent:
            value = self.scalar(event)
        elif kind is yaml.MappingStartEvent:
            value = self.mapping(event, path, depth, cap)
        else:
            value = self.sequence(event, path, depth, cap)
        if anchor is not None:
            self.open.pop()
            opened.value = value
            opened.cost = self.spent - opened.cost
            opened.height = self.height - depth
            self.height = max(height, self.height)
            self.anchors[anchor] = opened
        return value

    def alias(self, event: Any, path: Path, depth: int) -> Any:
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        self.charge(anchor.cost, event.start_mark)
        if depth + anchor.height > MAX_DEPTH:
            raise self.refuse(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        self.height = max(self.height, depth + anchor.height)
        if self.record:
            for rel, where in anchor.values:
                self.put(self.values, 0, path + rel, where)
            for rel, where in anchor.keys:
                self.put(self.keys, 1, path + rel, where)
        return _copy(anchor.value)

    def tag(self, event: Any, kind: type, value: Any = None) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(kind, value, event.implicit)
        return str(tag)

    def scalar(self, event: Any) -> Any:
        self.charge(1 + len(event.value), event.start_mark)
        return self.convert(self.tag(event, yaml.ScalarNode, event.value), event)

    def entries(self, count: int, event: Any, cap: tuple[Cap, Any] | None) -> None:
        if cap is not None and count > cap[0].limit:
            raise self.refuse(cap[0].summary, cap[1], cap[0].hint)
        if count > MAX_ENTRIES:
            raise self.refuse(
                f"a list or map holds more than {MAX_ENTRIES:,} entries", event.start_mark
            )

    def sequence(self, event: Any, path: Path, depth: int, cap: tuple[Cap, Any] | None) -> Any:
        if self.tag(event, yaml.SequenceNode) != _SEQ:
            raise self.refuse(f"unsupported YAML tag {event.tag}", event.start_mark)
        self.charge(1, event.start_mark)
        out: list[Any] = []
        get, record = self.get, self.record
        while True:
            item = get()
            if type(item) is yaml.SequenceEndEvent:
                return out
            self.entries(len(out) + 1, event, cap)
            out.append(self.node(item, (*path, len(out)) if record else path, depth + 1, None))

    def mapping(self, event: Any, path: Path, depth: int, cap: tuple[Cap, Any] | None) -> Any:
        if self.tag(event, yaml.MappingNode) != _MAP:
            raise self.refuse(f"unsupported YAML tag {event.tag}", event.start_mark)
        self.charge(1, event.start_mark)
        out: dict[str, Any] = {}
        get, record, top = self.get, self.record, depth == 0
        while True:
            key_event = get()
            if type(key_event) is yaml.MappingEndEvent:
                return out
            self.entries(len(out) + 1, event, cap)
            mark = key_event.start_mark
            key = self.key(key_event)
            child = (*path, key) if record else path
            if key in out:
                if not record:
                    raise _Again
                first = self.keys.get(child)
                seen = f" (first written at line {first[0]})" if first else ""
                raise self.refuse(f"duplicate key {key!r}{seen}", mark)
            if record:
                self.put(self.keys, 1, child, (mark.line + 1, mark.column + 1))
            inner = (self.caps[key], mark) if top and key in self.caps else None
            out[key] = self.node(get(), child, depth + 1, inner)

    def key(self, event: Any) -> str:
        kind = type(event)
        if kind is yaml.AliasEvent:
            anchor = self.anchors.get(event.anchor)
            if anchor is not None and not isinstance(anchor.value, dict | list):
                return str(anchor.value)
            if anchor is None:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
        if kind is not yaml.ScalarEvent:
            raise self.refuse("mapping keys must be plain scalars", event.start_mark)
        tag = self.tag(event, yaml.ScalarNode, event.value)
        if tag == _MERGE:
            raise self.refuse("YAML merge keys (<<) are not supported", event.start_mark)
        value = self.convert(tag, event)
        if event.anchor is not None:  # a key may be anchored, and aliased as a key or value
            mark = event.start_mark
            if event.anchor in self.anchors:
                raise yaml.composer.ComposerError(
                    "found duplicate anchor; first occurrence", None, "second occurrence", mark
                )
            where: list[tuple[Path, Where]] = [((), (mark.line + 1, mark.column + 1))]
            self.anchors[event.anchor] = _Anchor(value, 1 + len(event.value), 0, where, [])
        return str(value)

    def convert(self, tag: str, event: Any) -> Any:
        text, mark = event.value, event.start_mark
        if tag == _STR:
            if _SURROGATE.search(text):
                raise self.refuse("a string holds a lone surrogate, which is not text", mark)
            # keys and short values repeat from resource to resource: hold each once
            return self.memo.setdefault(text, text) if len(text) <= SHARED_LENGTH else text
        if tag not in _SCALAR_TAGS:
            raise self.refuse(f"unsupported YAML tag {tag}", mark)
        if tag == "tag:yaml.org,2002:timestamp":
            return text  # keep dates as written; stacks have no date type
        if tag == "tag:yaml.org,2002:null":
            return None
        if len(text) > 4_000 and tag != "tag:yaml.org,2002:bool":
            raise self.refuse("number too long", mark)
        node = yaml.ScalarNode(tag, text, mark)
        try:
            if tag == "tag:yaml.org,2002:bool":
                return _CONSTRUCTOR.construct_yaml_bool(node)
            if tag == "tag:yaml.org,2002:int":
                number = _CONSTRUCTOR.construct_yaml_int(node)
                if number.bit_length() > MAX_INT_BITS:
                    raise self.refuse("number too large", mark)
                return number
            value = _CONSTRUCTOR.construct_yaml_float(node)
        except (ValueError, KeyError, IndexError, yaml.YAMLError):
            kind = tag.rpartition(":")[2]
            raise self.refuse(
                f"{text[:40]!r} is not a valid {kind} (tagged !!{kind})", mark
            ) from None
        if not math.isfinite(value):
            raise self.refuse(f"the number {text} is not finite", mark)
        return value


def _copy(value: Any) -> Any:
    """An alias's own copy of its anchor's value, as if written out again."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
