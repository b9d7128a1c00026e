"""`${...}` expressions: sandboxed jinja2, references, `Unknown`, functions.

Guarantees: an expression never reaches Python internals; a value computed from an unknown value
is unknown; every failure is a diagnostic pointing at where the expression was written.
"""

from nubes.engine.lang.evaluate import Evaluated, Evaluator, Scope, evaluate, to_text
from nubes.engine.lang.functions import BUILTIN_NAMES, FUNCTION_NAMES, make_functions
from nubes.engine.lang.template import ParseError, Ref, has_expression, parse_string
from nubes.engine.lang.unknown import Unknown, UnknownType, contains_unknown, unknown_mask

__all__ = [
    "BUILTIN_NAMES",
    "FUNCTION_NAMES",
    "Evaluated",
    "Evaluator",
    "ParseError",
    "Ref",
    "Scope",
    "Unknown",
    "UnknownType",
    "contains_unknown",
    "evaluate",
    "has_expression",
    "make_functions",
    "parse_string",
    "to_text",
    "unknown_mask",
]
