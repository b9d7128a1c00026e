"""The budget every evaluation runs under: bounded results, bounded work.

Each `${...}` evaluation (and the template renders it starts) gets a `Budget`: a number of steps
(operations, filter and function calls, loop iterations, template output chunks) and a number of
bytes it may produce in all. Every value an operation produces is measured (`measure`): a string
of more than MAX_TEXT characters, a list or map of more than MAX_ITEMS entries, an integer of
more than MAX_INT_BITS bits or a float that is not finite is refused, whatever built it. Where
building a value would itself take the memory or time (a width of a billion in `center`, a
power), the operation checks what it would produce before it runs (`engine.lang.sandbox`).

Exceeding any bound raises `BudgetError`, which the evaluator turns into a diagnostic at the
expression's position. The limits are documented in docs/reliability.md.
"""

from __future__ import annotations

import contextvars
import math
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

MAX_TEXT = 1_000_000  # characters in one string
MAX_ITEMS = 100_000  # entries in one list or map
MAX_INT_BITS = 4096  # about 1,233 decimal digits
MAX_STEPS = 50_000  # operations in one evaluation
MAX_BYTES = 16_000_000  # what one evaluation may produce in all, as estimated by `cost`
MAX_DEEP = 4_000_000  # one value with everything inside it: what its text would about be
MAX_NESTING = 64  # levels of lists and maps in one value, as in a stack file
MAX_RUN_STEPS = 1_000_000  # operations of all the evaluations of one plan or validation
ITEM_BYTES = 16  # what an entry of a list or map is counted as, beside its contents


_SCALARS = (int, float, bool, type(None))


class BudgetError(Exception):
    """An evaluation would build too big a value or do too much work."""


class Budget:
    __slots__ = ("bytes", "sizes", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.bytes = 0
        # (value, deep size, height) of the containers measured so far, by id; each kept alive
        self.sizes: dict[int, tuple[Any, int, int]] = {}

    def deep(self, value: Any) -> int:
        """About how long `value` would be as text, everything inside it included: a list of a
        thousand references to one long string is as long as a thousand such strings. Refuses a
        value nested deeper than MAX_NESTING, holding a number too big or not finite."""
        return self._deep(value, 0)[0]

    def _deep(self, value: Any, depth: int) -> tuple[int, int]:
        if isinstance(value, str | bytes):  # Markup from escape included
            return len(value), 0
        parts = _parts(value)
        if parts is None:
            return _scalar_size(value), 0
        known = self.sizes.get(id(value))
        if known is not None and known[0] is value:
            if depth + known[2] > MAX_NESTING:
                raise BudgetError(f"a value nests deeper than {MAX_NESTING} levels")
            return known[1], known[2]
        if depth >= MAX_NESTING:
            raise BudgetError(f"a value nests deeper than {MAX_NESTING} levels")
        total, height = 0, 0
        for item in parts:
            total += ITEM_BYTES
            kind = type(item)
            if kind is str:
                total += len(item)
            elif kind in _SCALARS:
                total += _scalar_size(item)
            else:
                size, inner = self._deep(item, depth + 1)
                total += size
                height = max(height, inner + 1)
            if total > MAX_DEEP:
                break
        self.sizes[id(value)] = (value, total, height)
        return total, height

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise BudgetError(
                f"the expression does more than {MAX_STEPS:,} operations; simplify it"
            )

    def charge(self, steps: int, nbytes: int) -> None:
        """`steps` operations that made `nbytes` of new values."""
        self.steps += steps
        self.bytes += nbytes
        if self.steps > MAX_STEPS:
            self.step(0)
        if self.bytes > MAX_BYTES:
            raise BudgetError(
                f"the expression builds more than {MAX_BYTES // 1_000_000} MB of values; "
                "simplify it"
            )


_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_surrogates(value: Any, depth: int = 0) -> None:
    """Where a lone surrogate can enter (a string literal's escapes, `%c`, JSON's \\u escapes,
    YAML): refused, since no file or answer can hold it (a state with one could not be read)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise BudgetError("a string holds a lone surrogate, which is not text")
    elif depth <= MAX_NESTING:
        parts = _parts(value)
        for item in parts or ():
            refuse_surrogates(item, depth + 1)


_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))


def _parts(value: Any) -> Iterable[Any] | None:
    """What a value holds, for measuring it: every kind of collection an expression can reach
    (lists, maps and their views, sets, ranges, namespaces); None for a scalar or an object."""
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset | range):
        return value
    if isinstance(value, _VIEWS):
        view: Iterable[Any] = value  # type: ignore[assignment]
        return [part for item in view for part in (item if isinstance(item, tuple) else (item,))]
    attrs = getattr(value, "_Namespace__attrs", None)  # jinja's namespace()
    if isinstance(attrs, dict):
        return [*attrs.keys(), *attrs.values()]
    return None


def _scalar_size(value: Any) -> int:
    """A number's size as text; a number too big or not finite is refused."""
    if type(value) is int:
        bits = value.bit_length()
        if bits > MAX_INT_BITS:
            check_bits(bits)
        return max(8, bits // 3)
    if type(value) is float and not math.isfinite(value):
        raise BudgetError(f"the number {value} is not finite")
    return 8


class RunBudget:
    """The steps of every evaluation of one plan or validation together: many instances of a
    costly expression are bounded, not only each one."""

    def __init__(self) -> None:
        self.steps = 0
        self.lock = threading.Lock()

    def add(self, steps: int) -> None:
        with self.lock:
            self.steps += steps


_RUN: contextvars.ContextVar[RunBudget | None] = contextvars.ContextVar("run", default=None)


def charge_run(steps: int) -> None:
    """Work done for the run outside any one evaluation (compiling an expression)."""
    run = _RUN.get()
    if run is None:
        return
    run.add(steps)
    if run.steps > MAX_RUN_STEPS:
        raise BudgetError(
            f"the stack's expressions together do more than {MAX_RUN_STEPS:,} operations; "
            "simplify them"
        )


@contextmanager
def run_budget() -> Iterator[RunBudget]:
    """One plan's (or validation's) evaluations, counted together."""
    found = _RUN.get()
    if found is not None:
        yield found
        return
    fresh = RunBudget()
    token = _RUN.set(fresh)
    try:
        yield fresh
    finally:
        _RUN.reset(token)


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


@contextmanager
def budget() -> Iterator[Budget]:
    """The budget of the evaluation under way, or a new one for a new evaluation."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    run = _RUN.get()
    if run is not None and run.steps > MAX_RUN_STEPS:
        raise BudgetError(
            f"the stack's expressions together do more than {MAX_RUN_STEPS:,} operations; "
            "simplify them"
        )
    fresh = Budget()
    token = _CURRENT.set(fresh)
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)
        if run is not None:
            run.add(fresh.steps)


def current() -> Budget:
    found = _CURRENT.get()
    return found if found is not None else Budget()


def check_text(length: int, what: str = "a string") -> None:
    if length > MAX_TEXT:
        raise BudgetError(
            f"this would make {what} too large: {length:,} characters (at most {MAX_TEXT:,})"
        )


def check_items(length: int, what: str = "a list") -> None:
    if length > MAX_ITEMS:
        raise BudgetError(
            f"this would make {what} too large: {length:,} entries (at most {MAX_ITEMS:,})"
        )


def check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise BudgetError(
            f"this would make a number too large: about {int(bits * 0.30103):,} digits "
            f"(at most {int(MAX_INT_BITS * 0.30103):,})"
        )


def cost(value: Any) -> int:
    """What a new value is counted as, from its outermost level (its parts were counted when
    they were made)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return ITEM_BYTES * len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 8
    return 8


def measure(value: Any) -> Any:
    """Refuse a value beyond the bounds; charge the evaluation for it; return it."""
    kind = type(value)
    b = _CURRENT.get()
    if kind is str:  # the common case, kept short
        size = len(value)
        if size > MAX_TEXT:
            check_text(size)
        if b is not None:
            b.steps += 1 + (size >> 10)
            b.bytes += size
            if b.steps > MAX_STEPS or b.bytes > MAX_BYTES:
                b.charge(0, 0)
        return value
    if kind in _SCALARS and kind is not int:
        if kind is float and not math.isfinite(value):
            raise BudgetError(f"the result {value} is not a finite number")
        if b is not None:
            b.charge(1, 8)
        return value
    parts = _parts(value)
    if parts is not None:
        if isinstance(value, list | tuple | dict | set | frozenset):
            check_items(len(value), "a list" if not isinstance(value, dict) else "a map")
        b = b or Budget()
        if b.deep(value) > MAX_DEEP:
            raise BudgetError(
                f"this would make a value too large: more than {MAX_DEEP:,} characters in all"
            )
    elif isinstance(value, str):
        check_text(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        check_bits(value.bit_length())
    elif isinstance(value, float) and not math.isfinite(value):
        raise BudgetError(f"the result {value} is not a finite number")
    if b is not None:
        size = cost(value)
        b.charge(1 + size // 1024, size)
    return value


class Counted:
    """An iterable whose every item costs a step and is measured (a loop, a lazy filter)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        b = current()
        for item in self._items:
            b.steps += 1
            b.bytes += ITEM_BYTES
            if b.steps > MAX_STEPS or b.bytes > MAX_BYTES:
                b.charge(0, 0)
            yield item

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]


def check_inputs(args: Iterable[Any]) -> int:
    """What a filter or function is given: a value built elsewhere (a list literal, an item of
    a lazy filter, a `{% set %}` block) is measured before anything turns it into text. Returns
    the characters of text given, which the work of scanning them is costed by."""
    b = current()
    text = 0
    for value in args:
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                check_text(len(value))
            text += len(value)
        elif _parts(value) is not None and b.deep(value) > MAX_DEEP:
            raise BudgetError(
                f"this would use a value too large: more than {MAX_DEEP:,} characters in all"
            )
    return text


def text_size(values: Iterable[Any]) -> int:
    """About how long these values are as text, together; refused past MAX_TEXT before any of
    them is converted."""
    b = current()
    total = 0
    for value in values:
        total += len(value) if isinstance(value, str) else b.deep(value)
        if total > MAX_TEXT:
            check_text(total)
    return total
