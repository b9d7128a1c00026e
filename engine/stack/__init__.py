"""Stack files: YAML loaded with source positions, checked against the format's schema.

Guarantees: every problem in a stack file is a diagnostic with file, line and column; a stack
that loads without errors has well-formed meta-arguments, declared providers and valid names.
"""

from nubes.engine.stack.load import digest_text, load_stack, parse_stack
from nubes.engine.stack.model import Lifecycle, Output, Provider, Resource, Stack, Variable
from nubes.engine.stack.variables import resolve_variables

__all__ = [
    "Lifecycle",
    "Output",
    "Provider",
    "Resource",
    "Stack",
    "Variable",
    "digest_text",
    "load_stack",
    "parse_stack",
    "resolve_variables",
]
