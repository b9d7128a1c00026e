"""Operators, filters and encoders as the sandbox runs them: each checked before it builds what
it would build, and costed by the work it does (engine.lang.budget holds the bounds).

* Operators: powers and products of integers by their bit lengths, repetitions by length times
  count, `+` by the lengths added, `%` by an upper bound of the formatted length (every
  conversion's width, precision and argument, mapping keys included).
* Filters that grow or loop on an argument are replaced by bounded versions: `center`,
  `indent`, `replace`, `join`, `format`, `batch`, `slice`, `sum` (numbers only), `wordwrap`,
  `urlize`, `round`, `tojson`; text filters that run Python per character take bounded input.
* Every filter, test and function is wrapped (`bounded`): its inputs are measured first (a value
  built elsewhere, such as a list literal, cannot be made text unchecked), it costs steps in
  proportion to its input where its work does, and its result is measured.
* JSON and YAML are produced as streams whose every piece is counted, so encoding stops as soon
  as the text would be too long.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

import yaml

from nubes.engine.lang.budget import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_TEXT,
    BudgetError,
    Counted,
    check_bits,
    check_inputs,
    check_items,
    check_text,
    current,
    measure,
    refuse_surrogates,
    text_size,
)


class ExpressionError(Exception):
    """An expression could not be evaluated; the message is for the user."""


_DATA = (str, int, float, bool, type(None))


def refuse_opaque(value: Any, depth: int = 0) -> None:
    """Only data may become text: an object (a cycler, a function, a loop) as text is its
    repr, with a memory address that differs on every run, and expressions must be pure."""
    if isinstance(value, _DATA) or depth > 64:
        return
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_opaque(item, depth + 1)
        return
    if isinstance(value, dict):
        for item in value.values():
            refuse_opaque(item, depth + 1)
        return
    raise ExpressionError(f"a {type(value).__name__} is not data and cannot be made text")


def _bits(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value.bit_length()


# ---- operators ---------------------------------------------------------------------------


def power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and not isinstance(right, bool):
        if right < 0:
            return operator.pow(left, right)  # a fraction: a float
        if abs(left) > 1:
            check_bits(max(1, (abs(left) - 1).bit_length()) * right)
    elif isinstance(right, int | float) and abs(right) > MAX_INT_BITS:
        raise BudgetError(f"exponent {right} is too large")
    return operator.pow(left, right)


def times(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        check_bits(_bits(left) + _bits(right))
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(n, int):
            if isinstance(seq, str):
                check_text(len(seq) * max(n, 0))
            else:
                check_items(len(seq) * max(n, 0))
    return operator.mul(left, right)


def plus(left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        check_text(len(left) + len(right))
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        check_items(len(left) + len(right))
    return operator.add(left, right)


def format_size(fmt: str, args: Any) -> int:
    """An upper bound of `len(fmt % args)`, read the way Python reads the format: each
    conversion's width and precision, and the text of the argument it takes (by position or by
    a mapping key, which may itself hold parentheses). Refuses `*` widths and any total past
    MAX_TEXT before the string is built."""
    mapping = args if isinstance(args, Mapping) else None
    positional = args if isinstance(args, tuple) else (args,)
    b = current()
    total, i, n, index = 0, 0, len(fmt), 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            total += n - i
            break
        total += j - i
        i = j + 1
        if i < n and fmt[i] == "%":
            total, i = total + 1, i + 1
            continue
        key = None
        if i < n and fmt[i] == "(":
            depth, k = 1, i + 1
            while k < n and depth:
                depth += {"(": 1, ")": -1}.get(fmt[k], 0)
                k += 1
            key, i = fmt[i + 1 : k - 1], k
        while i < n and fmt[i] in "-#0 +":
            i += 1
        numbers = []
        for _ in range(2):  # the width, then the precision after a dot
            start = i
            if i < n and fmt[i] == "*":
                raise BudgetError("'*' widths are not allowed in formats; write the width")
            while i < n and fmt[i].isdigit():
                i += 1
            digits = fmt[start:i]
            if len(digits) > 7 or (digits and int(digits) > MAX_TEXT):
                raise BudgetError(f"a format width of {digits} is too large (at most {MAX_TEXT:,})")
            numbers.append(int(digits) if digits else 0)
            if i < n and fmt[i] == "." and len(numbers) == 1:
                i += 1
                continue
            break
        while i < n and fmt[i] in "hlL":
            i += 1
        i += 1  # the conversion character
        if key is not None and mapping is not None:
            value = mapping.get(key)
        else:
            value = positional[index] if index < len(positional) else None
            index += 1
        total += max(numbers) + (b.deep(value) if value is not None else 0) + 32
        if total > MAX_TEXT:
            check_text(total)
    return total


def modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        refuse_opaque(right if not isinstance(right, Mapping) else dict(right))
        format_size(left, right)
        result = operator.mod(left, right)
        refuse_surrogates(result)  # %c of 0xd800
        return result
    return operator.mod(left, right)


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": power,
    "*": times,
    "+": plus,
    "%": modulo,
    "-": operator.sub,
    "/": operator.truediv,
    "//": operator.floordiv,
}


# ---- JSON and YAML as counted streams --------------------------------------------------------


class _Counted:
    """A text sink that charges every piece written to it and stops past MAX_TEXT."""

    def __init__(self, what: str) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.what = what

    def write(self, piece: str) -> None:
        self.size += len(piece)
        if self.size > MAX_TEXT:
            check_text(self.size, self.what)
        current().charge(1 + (len(piece) >> 8), len(piece))
        self.parts.append(piece)

    def text(self) -> str:
        return "".join(self.parts)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows here")


def json_text(value: Any, indent: Any = None, sort_keys: bool = False) -> str:
    if indent is not None and not (
        (isinstance(indent, int) and 0 <= indent <= 16)
        or (isinstance(indent, str) and len(indent) <= 16)
    ):
        raise BudgetError("a JSON indent is at most 16")
    check_inputs([value])
    sink = _Counted("a JSON text")
    encoder = json.JSONEncoder(indent=indent, sort_keys=sort_keys, allow_nan=False)
    for piece in encoder.iterencode(value):
        sink.write(piece)
    return sink.text()


def json_value(text: str) -> Any:
    """JSON text as a value: NaN and Infinity refused, and the value measured (nesting,
    numbers, size) as any other."""
    if not isinstance(text, str):
        raise ExpressionError("jsondecode takes a string")
    value = json.loads(text, parse_constant=_no_constant)
    refuse_surrogates(value)
    return measure(value)


def yaml_text(value: Any) -> str:
    check_inputs([value])
    current().step(1 + (current().deep(value) >> 4))  # building its nodes is Python work
    sink = _Counted("a YAML text")
    yaml.safe_dump(value, stream=sink, sort_keys=False)
    return sink.text()


# ---- bounded replacements of filters that loop or grow on an argument --------------------------


def _center(value: Any, width: int = 80) -> str:
    text_size([value])
    text = str(value)
    check_text(max(len(text), int(width)))
    return text.center(int(width))


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text_size([s])
    pad = len(width) if isinstance(width, str) else int(width)
    lines = str(s).count("\n") + 1
    check_text(len(str(s)) + max(pad, 0) * lines)
    return JINJA_FILTERS["indent"](s, width, first, blank)


def replace_size(text: str, old: Any, new: Any, count: Any = None) -> None:
    old_text, new_text = str(old), str(new)
    found = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        found = min(found, max(int(count), 0))
    check_text(len(text) + found * (len(new_text) - len(old_text)))


def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text_size([s, old, new])
    replace_size(str(s), old, new, count)
    return JINJA_FILTERS["replace"](eval_ctx, s, old, new, count)


def join_size(separator: Any, items: list[Any]) -> None:
    """Refuse a join past MAX_TEXT, judged before any item is made text."""
    refuse_opaque(items)
    check_items(len(items))
    check_text(text_size(items) + len(str(separator)) * max(len(items) - 1, 0))


def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(Counted(value))
    if attribute is not None:
        getter = JINJA_HELPERS["make_attrgetter"](eval_ctx.environment, attribute)
        items = [getter(i) for i in items]
    join_size(d, items)
    return JINJA_FILTERS["join"](eval_ctx, items, d)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    if kwargs:
        raise ExpressionError("format takes positional values only")
    refuse_opaque(args)
    format_size(str(value), args)
    result = str(value) % args
    refuse_surrogates(result)
    return result


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
        getter = JINJA_HELPERS["make_attrgetter"](env, attribute)
        items = [getter(i) for i in items]
    total = start
    for item in items:
        if not isinstance(item, int | float) or isinstance(item, bool):
            raise ExpressionError("sum adds numbers; use concat() to join lists")
        total = plus(total, item)
    return total


def _string(value: Any) -> str:
    refuse_opaque(value)
    text_size([value])
    return str(JINJA_FILTERS["string"](value))


def _xmlattr(eval_ctx: Any, d: Any, autospace: bool = True) -> Any:
    check_text(text_size([d]) * 6)  # escaping may make each character six
    return JINJA_FILTERS["xmlattr"](eval_ctx, d, autospace)


def _round(value: float, precision: int = 0, method: str = "common") -> float:
    if not isinstance(precision, int) or not -100 <= precision <= 100:
        raise BudgetError("round takes a precision between -100 and 100")
    return JINJA_FILTERS["round"](value, precision, method)


def _wordwrap(
    environment: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(s)
    _text_limit("wordwrap", text, 20_000, steps_per_char=2)
    lines = len(text) // max(int(width), 1) + text.count(" ") + text.count("\n") + 1
    check_text(len(text) + lines * len(str(wrapstring or "\n")))
    return JINJA_FILTERS["wordwrap"](
        environment, s, width, break_long_words, wrapstring, break_on_hyphens
    )


def _urlize(eval_ctx: Any, value: str, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    _text_limit("urlize", text, 20_000, steps_per_char=1)
    given = [*args, *kwargs.values()]
    if any(isinstance(v, list | tuple) and len(v) > 16 for v in given):
        raise BudgetError("urlize takes at most 16 extra schemes")
    extra = sum(len(str(v)) for v in given if isinstance(v, str))
    if extra > 256:
        raise BudgetError("urlize's target, rel and extra parameters take at most 256 characters")
    check_text(2 * len(text) + (text.count(" ") + 1) * (extra + 64))
    return JINJA_FILTERS["urlize"](eval_ctx, value, *args, **kwargs)


def _tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
    from markupsafe import Markup

    text = json_text(value, indent, sort_keys=True)
    for unsafe, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(unsafe, escaped)
    return Markup(text)


def _text_limit(name: str, text: str, limit: int, steps_per_char: float) -> None:
    if len(text) > limit:
        raise BudgetError(f"{name} takes text of at most {limit:,} characters")
    current().step(int(len(text) * steps_per_char))


def _heavy_text(name: str, limit: int, steps_per_char: float) -> Callable[..., Any]:
    """Text filters that run Python per character: bounded input, costed per character."""
    original = JINJA_FILTERS[name]

    @wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        value = args[1] if getattr(original, "jinja_pass_arg", None) is not None else args[0]
        text_size([value])
        _text_limit(name, value if isinstance(value, str) else str(value), limit, steps_per_char)
        return original(*args, **kwargs)

    return run


def _load_jinja_defaults() -> tuple[dict[str, Any], dict[str, Any]]:
    from jinja2 import filters

    return dict(filters.FILTERS), {"make_attrgetter": filters.make_attrgetter}


JINJA_FILTERS, JINJA_HELPERS = _load_jinja_defaults()
REMOVED_FILTERS = frozenset({"random"})  # expressions are pure

# filters whose own work grows with their input: steps charged per item (or character) given
WORK_PER_ITEM = {
    "sort": 0.25,
    "dictsort": 0.25,
    "unique": 0.25,
    "groupby": 0.25,
    "min": 0.1,
    "max": 0.1,
    "xmlattr": 0.05,
    "wordcount": 0.02,
    "items": 0.05,
}


def replacements() -> dict[str, Callable[..., Any]]:
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
        "round": _round,
        "wordwrap": pass_environment(_wordwrap),
        "urlize": pass_eval_context(_urlize),
        "tojson": pass_eval_context(_tojson),
        "string": _string,
        "xmlattr": pass_eval_context(_xmlattr),
        "measured": measure,  # what a {% set %} block gives is measured through this
        "striptags": _heavy_text("striptags", 100_000, 0.05),
        "title": _heavy_text("title", 100_000, 0.1),
        "pprint": _heavy_text("pprint", 100_000, 0.2),
        "urlencode": _heavy_text("urlencode", 100_000, 0.1),
    }


def bounded(fn: Callable[..., Any], name: str = "") -> Callable[..., Any]:
    """A filter, test or function that costs steps and whose inputs and result are measured; a
    lazy result (a generator from map or select) is measured item by item as it is consumed."""
    weight = WORK_PER_ITEM.get(name, 0.0)
    passes = getattr(fn, "jinja_pass_arg", None) is not None

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        given = args[1:] if passes else args
        text = check_inputs([*given, *kwargs.values()])
        if text >= 256:  # scanning text is work: a search of a megabyte is not one step
            current().step(text >> 8)
        if weight and given and hasattr(given[0], "__len__"):
            current().step(int(len(given[0]) * weight))
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            current().step()
            return iter(Counted(result))
        return measure(result)

    return run
