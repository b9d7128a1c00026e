"""The jinja2 sandbox that `${...}` expressions and `template()` files run in.

Expressions are jinja2 expressions evaluated to their raw Python value (a lone expression keeps
its type: no string rendering, no literal_eval). The sandbox blocks Python internals (any name
starting with `_`) and every method but a short list of harmless ones, forbids mutating values,
and lets a mapping's keys win over its methods, so `var.items` is the variable called `items`,
not `dict.items`.

Everything that produces a value is bounded (engine.lang.budget): every operator, filter, test,
function and method call is counted as a step and its result measured; loops count their
iterations; `~` and template output are measured as they grow. Operations whose result would be
too big to even build (a power, a padding width, a repetition, a `%` format width) are checked
before they run. Filters that would loop on a number the user gives (`batch`, `slice`) or are
quadratic (`sum` of lists) are replaced by bounded versions; `random` is gone (expressions are
pure).
"""

from __future__ import annotations

import copy
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Namespace

from engine.lang.budget import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_TEXT,
    BudgetError,
    Counted,
    check_bits,
    check_items,
    check_text,
    current,
    measure,
)


class ExpressionError(Exception):
    """An expression could not be evaluated; the message is for the user."""


# methods an expression may call, by the type they belong to; every other method is blocked
SAFE_METHODS: dict[type, frozenset[str]] = {
    LoopContext: frozenset({"cycle", "changed"}),
    Cycler: frozenset({"next", "reset"}),
    str: frozenset(
        [
            "upper",
            "lower",
            "title",
            "capitalize",
            "casefold",
            "swapcase",
            "strip",
            "lstrip",
            "rstrip",
            "split",
            "rsplit",
            "splitlines",
            "startswith",
            "endswith",
            "find",
            "rfind",
            "index",
            "rindex",
            "count",
            "replace",
            "join",
            "partition",
            "rpartition",
            "removeprefix",
            "removesuffix",
            "isdigit",
            "isalpha",
            "isalnum",
            "isspace",
            "islower",
            "isupper",
            "isdecimal",
            "isnumeric",
        ]
    ),
    dict: frozenset({"keys", "values", "items", "get"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}
REMOVED_FILTERS = frozenset({"random"})


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _bits(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value.bit_length()


# ---- operators -----------------------------------------------------------------------------


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and not isinstance(right, bool):
        if right < 0:
            return operator.pow(left, right)  # a fraction: a float
        if abs(left) > 1:
            check_bits(max(1, (abs(left) - 1).bit_length()) * right)
    elif isinstance(right, int | float) and abs(right) > MAX_INT_BITS:
        raise BudgetError(f"exponent {right} is too large")
    return operator.pow(left, right)


def _times(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        check_bits(_bits(left) + _bits(right))
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(n, int):
            if isinstance(seq, str):
                check_text(len(seq) * max(n, 0))
            else:
                check_items(len(seq) * max(n, 0))
    return operator.mul(left, right)


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        check_text(len(left) + len(right))
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        check_items(len(left) + len(right))
    return operator.add(left, right)


# a %-format conversion: flags, width, precision, type
_CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _format_width_check(fmt: str, args: Any) -> None:
    """Refuse a %-format whose widths or precisions would build too big a string."""
    for match in _CONVERSION.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise BudgetError("'*' widths are not allowed in formats; write the width")
            if (part is not None and len(part) > 7) or (part and int(part) > MAX_TEXT):
                raise BudgetError(f"a format width of {part} is too large (at most {MAX_TEXT:,})")
    values = args if isinstance(args, tuple) else (args,)
    check_text(len(fmt) + sum(_text_len(v) for v in values if isinstance(v, str)))


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _format_width_check(left, right)
    return operator.mod(left, right)


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": _power,
    "*": _times,
    "+": _plus,
    "%": _modulo,
    "-": operator.sub,
    "/": operator.truediv,
    "//": operator.floordiv,
}


# ---- bounded replacements of filters that loop or grow on an argument -------------------------


def _center(value: Any, width: int = 80) -> str:
    text = str(value)
    check_text(max(len(text), int(width)))
    return text.center(int(width))


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    pad = len(width) if isinstance(width, str) else int(width)
    lines = str(s).count("\n") + 1
    check_text(len(str(s)) + max(pad, 0) * lines)
    return _JINJA_FILTERS["indent"](s, width, first, blank)


def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old_text, new_text = str(s), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        times = min(times, max(int(count), 0))
    check_text(len(text) + times * (len(new_text) - len(old_text)))
    return _JINJA_FILTERS["replace"](eval_ctx, s, old, new, count)


def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(Counted(value))
    check_items(len(items))
    pieces = [str(v) for v in items] if attribute is None else None
    if pieces is not None:
        check_text(sum(len(p) for p in pieces) + len(str(d)) * max(len(pieces) - 1, 0))
    return _JINJA_FILTERS["join"](eval_ctx, items, d, attribute)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    if kwargs:
        raise ExpressionError("format takes positional values only")
    _format_width_check(str(value), args)
    return str(value) % args


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> list[list[Any]]:
    size = int(linecount)
    if not 0 < size <= MAX_ITEMS:
        raise BudgetError(f"batch size must be between 1 and {MAX_ITEMS:,}")
    items = list(Counted(value))
    out = [items[i : i + size] for i in range(0, len(items), size)]
    if fill_with is not None and out and len(out[-1]) < size:
        out[-1] = out[-1] + [fill_with] * (size - len(out[-1]))
    return out


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> list[list[Any]]:
    """jinja's slice, with the number of slices bounded."""
    items = list(Counted(value))
    count = int(slices)
    if not 0 < count <= MAX_ITEMS:
        raise BudgetError(f"slice count must be between 1 and {MAX_ITEMS:,}")
    per, extra = divmod(len(items), count)
    out, offset = [], 0
    for n in range(count):
        start = offset + n * per
        if n < extra:
            offset += 1
        part = items[start : offset + (n + 1) * per]
        if fill_with is not None and n >= extra:
            part = [*part, fill_with]
        out.append(part)
    return out


def _sum(env: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    items = list(Counted(iterable))
    if attribute is not None:
        getter = _JINJA_HELPERS["make_attrgetter"](env, attribute)
        items = [getter(i) for i in items]
    total = start
    for item in items:
        if not isinstance(item, int | float) or isinstance(item, bool):
            raise ExpressionError("sum adds numbers; use concat() to join lists")
        total = _plus(total, item)
    return total


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not (0 <= int(n) <= 100 and 0 < int(min) <= int(max) <= 1000):
        raise BudgetError("lipsum takes at most 100 paragraphs of at most 1,000 words")
    return _JINJA_HELPERS["lipsum"](n, html, min, max)


def _heavy_text(name: str, limit: int = 100_000) -> Callable[..., Any]:
    """Text filters that run Python per character: bounded to a smaller input."""
    original = _JINJA_FILTERS[name]

    @wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        text = args[1] if getattr(original, "jinja_pass_arg", None) is not None else args[0]
        if len(str(text)) > limit:
            raise BudgetError(f"{name} takes text of at most {limit:,} characters")
        return original(*args, **kwargs)

    return run


def _load_jinja_defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    from jinja2 import filters, utils

    return dict(filters.FILTERS), {
        "make_attrgetter": filters.make_attrgetter,
        "lipsum": utils.generate_lorem_ipsum,
    }


_JINJA_FILTERS, _JINJA_HELPERS = _load_jinja_defaults()


def _replacements() -> dict[str, Callable[..., Any]]:
    from jinja2.filters import pass_environment, pass_eval_context

    return {
        "center": _center,
        "indent": _indent,
        "replace": pass_eval_context(_replace),
        "join": pass_eval_context(_join),
        "format": _format,
        "batch": _batch,
        "slice": _slice,
        "sum": pass_environment(_sum),
        "wordwrap": _heavy_text("wordwrap"),
        "urlize": _heavy_text("urlize"),
        "striptags": _heavy_text("striptags"),
        "title": _heavy_text("title"),
        "pprint": _heavy_text("pprint"),
        "urlencode": _heavy_text("urlencode"),
    }


# ---- counting every call -----------------------------------------------------------------


def bounded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter, test or function that costs a step and whose result is measured; a lazy result
    (a generator from map or select) is measured item by item as it is consumed."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            current().step()
            return iter(Counted(result))
        return measure(result)

    return run


def _counted_iter(items: Any) -> Any:
    """What a template's for loop iterates: each iteration is a step."""
    return Counted(items)


def _checked_concat(parts: list[Any]) -> str:
    """`a ~ b ~ c`, measured before it is built."""
    pieces = [p if isinstance(p, str) else _to_text(p) for p in parts]
    check_text(sum(len(p) for p in pieces))
    return measure("".join(pieces))


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class _Bounding:
    """Rewrites a parsed template so loops and `~` go through the budget."""

    @staticmethod
    def rewrite(node: nodes.Node) -> nodes.Node:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("counted_iter"), [loop.iter], [], None, None
            )
        for concat in list(node.find_all(nodes.Concat)):
            inner = list(concat.nodes)
            concat.nodes = [
                nodes.Call(
                    nodes.EnvironmentAttribute("checked_concat"),
                    [nodes.List(inner, lineno=concat.lineno)],
                    [],
                    None,
                    None,
                    lineno=concat.lineno,
                )
            ]
        return node


class StackEnvironment(ImmutableSandboxedEnvironment):
    """A sandboxed jinja2 environment with bounded results and mapping-first lookups."""

    intercepted_binops = frozenset(BINOPS)
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        options.setdefault("autoescape", False)
        super().__init__(**options)
        filters = {**self.filters, **_replacements()}
        for name in REMOVED_FILTERS:
            filters.pop(name, None)
        self.filters = {name: bounded(f) for name, f in filters.items()}
        self.tests = {name: bounded(t) for name, t in self.tests.items()}  # type: ignore[arg-type]
        self.globals = {**self.globals, "lipsum": _lipsum}
        self.globals = {
            name: (bounded(g) if callable(g) and not isinstance(g, type) else g)
            for name, g in self.globals.items()
        }
        self.counted_iter = _counted_iter
        self.checked_concat = _checked_concat

    # parsing and compiling: loops and `~` are rewritten to count
    def compile(
        self,
        source: Any,
        name: Any = None,
        filename: Any = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if isinstance(source, str):
            source = self._parse(source, name, filename)
        _refuse_big_literals(source)
        _Bounding.rewrite(source)
        return super().compile(source, name, filename, raw, defer_init)  # type: ignore[call-overload]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if callable(value) and not isinstance(obj, Namespace):
            allowed = next((m for t, m in SAFE_METHODS.items() if isinstance(obj, t)), None)
            if allowed is None or attr not in allowed:
                return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format and format_map are blocked: their widths are unbounded

    def getattr(self, obj: Any, attribute: str) -> Any:
        current().step()
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        current().step()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current().step()
        name = getattr(__obj, "__name__", "")
        if getattr(__obj, "__self__", None).__class__ is str:
            if name == "replace" and args:
                text = __obj.__self__
                times = text.count(str(args[0])) if args[0] else len(text) + 1
                check_text(len(text) + times * (len(str(args[1])) - len(str(args[0]))))
            elif name == "join" and args:
                items = list(Counted(args[0]))
                check_items(len(items))
                check_text(sum(_text_len(v) for v in items) + len(__obj.__self__) * len(items))
                args = (items, *args[1:])
        return measure(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        current().step()
        return measure(BINOPS[operator_](left, right))

    def call_unop(self, context: Any, operator_: str, arg: Any) -> Any:
        current().step()
        return measure(-arg if operator_ == "-" else +arg)


def _refuse_big_literals(tree: nodes.Node) -> None:
    for const in tree.find_all(nodes.Const):
        value = const.value
        if isinstance(value, int) and not isinstance(value, bool):
            check_bits(value.bit_length())
        elif isinstance(value, float) and not math.isfinite(value):
            raise BudgetError(f"the number {value} is not finite")


def parse_expression(env: StackEnvironment, source: str) -> nodes.Expr:
    """Parse a jinja2 expression; raises jinja2.TemplateSyntaxError."""
    parser = Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        parser.fail(f"unexpected {token.type} {token.value!r} after the expression", token.lineno)
    return expr


def compile_expression(env: StackEnvironment, expr: nodes.Expr) -> TemplateExpression:
    """Compile a parsed expression into a callable returning its raw value (the parsed tree is
    left as it was: compiling rewrites a copy)."""
    body = [nodes.Assign(nodes.Name("result", "store"), copy.deepcopy(expr), lineno=1)]
    template = env.from_string(nodes.Template(body, lineno=1))
    return TemplateExpression(template, False)


__all__ = [
    "BudgetError",
    "ExpressionError",
    "SecurityError",
    "StackEnvironment",
    "compile_expression",
    "parse_expression",
]
