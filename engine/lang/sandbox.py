"""The jinja2 sandbox that `${...}` expressions and `template()` files run in.

Expressions are jinja2 expressions evaluated to their raw Python value (a lone expression keeps
its type: no string rendering, no literal_eval). The sandbox blocks Python internals (any name
starting with `_`) and every method but a short list of harmless ones, forbids mutating values,
and lets a mapping's keys win over its methods, so `var.items` is the variable called `items`,
not `dict.items`.

Everything that produces a value is bounded (engine.lang.budget, engine.lang.bounded): every
operator, filter, test, function and method call is counted and its inputs and result measured;
compiling rewrites each template so that loops count their iterations, `~`, comparisons and every
piece of output (in `{% set %}` and `{% filter %}` blocks too) are measured before they are
built, and each include and import costs steps. Constant folding is off, so nothing is evaluated
while compiling, outside a budget. `random` and `lipsum` are gone: expressions are pure.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Namespace

from nubes.engine.lang.bounded import (
    BINOPS,
    REMOVED_FILTERS,
    ExpressionError,
    bounded,
    join_size,
    refuse_opaque,
    replace_size,
    replacements,
)
from nubes.engine.lang.budget import (
    MAX_DEEP,
    MAX_TEXT,
    BudgetError,
    Counted,
    charge_run,
    check_bits,
    check_inputs,
    check_text,
    current,
    measure,
    refuse_surrogates,
    text_size,
)

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


def _counted_iter(items: Any) -> Any:
    """What a template's for loop iterates: each iteration is a step."""
    return Counted(items)


def _checked_concat(parts: list[Any]) -> str:
    """`a ~ b ~ c`, measured before it is built (and before any part is made text)."""
    for part in parts:
        refuse_opaque(part)
    text_size(parts)
    pieces = [p if isinstance(p, str) else _to_text(p) for p in parts]
    check_text(sum(len(p) for p in pieces))
    return measure("".join(pieces))


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _checked_output(value: Any) -> Any:
    """Each piece of a template's output, static text included, wherever it goes (the page, a
    `{% set %}` or `{% filter %}` block, a macro): measured before it is made text."""
    b = current()
    refuse_opaque(value)
    size = len(value) if isinstance(value, str) else b.deep(value)
    if size > MAX_TEXT:
        check_text(size, "a template's output")
    b.charge(1 + (size >> 10), size)
    return value


def _counted_include() -> str:
    """Runs before every include and import: each is work, even one that outputs nothing."""
    current().step(8)
    return ""


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: operator.contains(b, a),
    "notin": lambda a, b: not operator.contains(b, a),
}


def _checked_compare(left: Any, rest: list[Any]) -> bool:
    """A comparison chain, costed by the size of what it compares: two large values built of
    shared parts can take exponential time to compare, so they are refused."""
    b = current()
    for op, right in zip(rest[::2], rest[1::2], strict=True):
        sizes = [b.deep(v) for v in (left, right) if isinstance(v, list | tuple | dict | str)]
        if len(sizes) == 2 and min(sizes) >= MAX_DEEP:
            raise BudgetError("a comparison of two values this large is refused")
        b.step(1 + (min(sizes, default=0) >> 6))
        if not _COMPARE[op](left, right):
            return False
        left = right
    return True


def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None, lineno=lineno)


class _Bounding:
    """Rewrites a parsed template so that loops, `~`, comparisons, output, includes and imports
    go through the budget."""

    @staticmethod
    def rewrite(node: nodes.Node) -> nodes.Node:
        for loop in node.find_all(nodes.For):
            iterated: nodes.Expr = loop.iter  # type: ignore[assignment]
            loop.iter = _call("counted_iter", [iterated], loop.lineno)
        for concat in list(node.find_all(nodes.Concat)):
            inner = list(concat.nodes)
            concat.nodes = [
                _call("checked_concat", [nodes.List(inner, lineno=concat.lineno)], concat.lineno)
            ]
        for block in list(node.find_all(nodes.AssignBlock)):
            # what `{% set x %}...{% endset %}` gives is measured, after the user's own filter
            block.filter = nodes.Filter(block.filter, "measured", [], [], None, None)
        for output in list(node.find_all(nodes.Output)):
            pieces: list[nodes.Expr] = list(output.nodes)
            output.nodes = [_call("checked_output", [c], output.lineno) for c in pieces]
        for compare in list(node.find_all(nodes.Compare)):
            rest: list[nodes.Expr] = []
            for operand in compare.ops:
                rest += [nodes.Const(operand.op), operand.expr]
            wrapped = _call("checked_compare", [compare.expr, nodes.List(rest)], compare.lineno)
            compare.expr, compare.ops = wrapped, []
        for parent in [node, *node.find_all(nodes.Node)]:
            for field in parent.fields:
                value = getattr(parent, field, None)
                if isinstance(value, list) and any(
                    isinstance(v, nodes.Include | nodes.Import | nodes.FromImport) for v in value
                ):
                    counted: list[nodes.Node] = []
                    for v in value:
                        if isinstance(v, nodes.Include | nodes.Import | nodes.FromImport):
                            counted.append(nodes.Output([_call("counted_include", [], v.lineno)]))
                        counted.append(v)
                    setattr(parent, field, counted)
        return node


class StackEnvironment(ImmutableSandboxedEnvironment):
    """A sandboxed jinja2 environment with bounded results and mapping-first lookups."""

    intercepted_binops = frozenset(BINOPS)
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        options.setdefault("autoescape", False)
        # no constant folding: jinja2 would evaluate constant filters while compiling, outside
        # any evaluation's budget, and write what they build into the compiled code
        options["optimized"] = False
        super().__init__(**options)
        filters = {**self.filters, **replacements()}
        for name in REMOVED_FILTERS:
            filters.pop(name, None)
        self.filters = {name: bounded(f, name) for name, f in filters.items()}
        self.tests = {name: bounded(t) for name, t in self.tests.items()}  # type: ignore[arg-type]
        # lipsum is random, and expressions are pure
        self.globals = {
            name: (bounded(g) if callable(g) and not isinstance(g, type) else g)
            for name, g in self.globals.items()
            if name != "lipsum"
        }
        self.counted_iter = _counted_iter
        self.checked_concat = _checked_concat
        self.checked_output = _checked_output
        self.checked_compare = _checked_compare
        self.counted_include = _counted_include

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
            # compiling costs about 25 us a character: paid for before it is done
            current().step(len(source) >> 3)
            charge_run(len(source) * 10)
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
        b = current()
        b.step()
        text = check_inputs([*args, *kwargs.values()])
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (Counted(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):  # str and its subclasses (Markup from escape)
            text += len(owner)
            name = getattr(__obj, "__name__", "")
            if name == "replace" and len(args) >= 2:
                replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else None)
            elif name == "join" and args:
                items = list(Counted(args[0]))
                join_size(owner, items)
                args = (items, *args[1:])
        if text >= 256:  # scanning text is work: `in`, `count`, `find` of a megabyte
            b.step(text >> 8)
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
        if isinstance(value, str):
            refuse_surrogates(value)  # "\ud800" written as an escape
        elif isinstance(value, int) and not isinstance(value, bool):
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
