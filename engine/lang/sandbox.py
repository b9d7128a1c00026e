"""The jinja2 sandbox that `${...}` expressions run in.

Expressions are jinja2 expressions evaluated to their raw Python value (a lone expression keeps
its type: no string rendering, no literal_eval). The sandbox blocks Python internals (any name
starting with `_`), bounds ranges, powers and repetitions, forbids mutating values, and lets a
mapping's keys win over its methods, so `var.items` is the variable called `items`, not
`dict.items`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_POWER_EXPONENT = 1024
MAX_SEQUENCE = 1_000_000


class ExpressionError(Exception):
    """An expression could not be evaluated; the message is for the user."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | bytes) else 0


class StackEnvironment(ImmutableSandboxedEnvironment):
    """A sandboxed jinja2 environment with bounded arithmetic and mapping-first lookups."""

    intercepted_binops = frozenset({"**", "*", "+"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("undefined", StrictUndefined)
        options.setdefault("autoescape", False)
        super().__init__(**options)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER_EXPONENT:
                raise ExpressionError(f"exponent {right} is too large")
            return operator.pow(left, right)
        if operator_ == "*":
            n = right if isinstance(right, int) else left if isinstance(left, int) else 0
            other = left if n is right else right
            if _size(other) * abs(n) > MAX_SEQUENCE:
                raise ExpressionError("repetition would make a value that is too large")
            return operator.mul(left, right)
        if _size(left) + _size(right) > MAX_SEQUENCE:
            raise ExpressionError("concatenation would make a value that is too large")
        return operator.add(left, right)


def parse_expression(env: StackEnvironment, source: str) -> nodes.Expr:
    """Parse a jinja2 expression; raises jinja2.TemplateSyntaxError."""
    parser = Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        parser.fail(f"unexpected {token.type} {token.value!r} after the expression", token.lineno)
    return expr


def compile_expression(env: StackEnvironment, expr: nodes.Expr) -> TemplateExpression:
    """Compile a parsed expression into a callable returning its raw value."""
    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
    template = env.from_string(nodes.Template(body, lineno=1))
    return TemplateExpression(template, False)


__all__ = [
    "ExpressionError",
    "SecurityError",
    "StackEnvironment",
    "compile_expression",
    "parse_expression",
]
