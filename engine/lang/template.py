"""Splitting strings into literal text and `${...}` expressions, and finding references.

A string that is exactly one `${...}` is a *lone* expression and keeps the expression's type; any
other string with expressions is an interpolation and yields a string. `$${` writes a literal `${`.
Parsed strings are cached by their text, so a stack with many copies of one expression parses it
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.environment import TemplateExpression

from nubes.engine.lang.budget import BudgetError, budget, charge_run, measure
from nubes.engine.lang.sandbox import StackEnvironment, compile_expression, parse_expression

ENV = StackEnvironment()


class ParseError(Exception):
    """A string's `${...}` could not be parsed; the message is for the user."""


Step = tuple[str, str | int]  # ("attr", name) or ("index", key)


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference found in an expression: a root name and constant steps after it. `tail` holds
    the attribute names read after a computed subscript (`web[count.index].id` has steps () and
    tail ("id",)), which say which attributes the reference reads."""

    root: str
    steps: tuple[Step, ...]
    tail: tuple[str, ...] = ()
    # `count.index` or `each.key` when that is the subscript right after the constant steps
    # (`vm[count.index].id`): the reference reads the instance with the same key only
    same_key: str | None = None

    @property
    def attrs(self) -> tuple[str, ...]:
        return (*(str(k) for kind, k in self.steps if kind == "attr"), *self.tail)

    def __str__(self) -> str:
        out = self.root
        for kind, key in self.steps:
            out += f".{key}" if kind == "attr" else f"[{key!r}]"
        return out


class Expression:
    """A parsed `${...}`. A plain reference (`web[0].id`) is `simple` and is looked up without
    compiling; anything else is compiled once, when parsed.

    `paths` are its name chains in full, a computed subscript as an Expression of its own
    (`web[count.index].id` is ("web", [("expr", count.index), ("attr", "id")])): evaluation
    follows them to the values the expression can read, so that an unknown value elsewhere in
    `web` does not make this one unknown."""

    __slots__ = ("_compiled", "_names", "_tree", "paths", "refs", "simple", "source", "weight")

    def __init__(
        self,
        source: str,
        tree: nodes.Expr,
        refs: tuple[Ref, ...],
        simple: Ref | None,
        paths: tuple[RefPath, ...] = (),
        weight: int | None = None,
        reparsable: bool = False,  # `source` is all of it, so the tree can be parsed again
    ) -> None:
        self.source = source
        self.refs = refs
        self.simple = simple
        self.paths = paths
        # what compiling it costs: its characters, or (a part of an expression) its nodes
        self.weight = len(source) if weight is None else weight
        # a plain reference parsed from its own source is looked up, not run: its syntax tree
        # is let go (a large stack holds tens of thousands) and parsed again if it is ever run
        self._tree: nodes.Expr | None = None if simple is not None and reparsable else tree
        self._compiled: TemplateExpression | None = None
        self._names: frozenset[str] | None = None

    @property
    def tree(self) -> nodes.Expr:
        if self._tree is None:
            self._tree = parse_expression(ENV, self.source)
        return self._tree

    @property
    def names(self) -> frozenset[str]:
        """Every name the expression reads; only these are passed to it."""
        if self._names is None:
            tree = self.tree
            if isinstance(tree, nodes.Name):
                self._names = frozenset({tree.name})
            else:
                self._names = frozenset(n.name for n in tree.find_all(nodes.Name))
        return self._names

    def compile(self) -> TemplateExpression:
        if self._compiled is None:
            try:  # paid for before it is done: compiling costs about 25 us a character
                charge_run(self.weight * COMPILE_STEPS_PER_CHAR)
            except BudgetError as exc:
                raise ParseError(str(exc)) from None
            try:
                self._compiled = compile_expression(ENV, self.tree)
            except TemplateSyntaxError as exc:
                raise ParseError(f"invalid expression ${{{self.source}}}: {exc.message}") from None
            except (RecursionError, MemoryError, SyntaxError):
                raise ParseError(
                    f"expression nests too deeply: ${{{self.source[:60]}...}}"
                ) from None
            except BudgetError as exc:
                raise ParseError(f"in ${{{self.source[:200]}}}: {exc}") from None
        return self._compiled

    def run(self, **names: Any) -> Any:
        """The expression's value, under the evaluation's budget (a new one unless this runs
        inside another evaluation, such as a template's). A lazy result (a map or select) is
        consumed here, inside the budget, where its every item is counted."""
        with budget():
            result: Any = self.compile()(**names)
            if hasattr(result, "__next__"):
                result = measure(list(result))
            return result


@dataclass(frozen=True, slots=True)
class Parsed:
    """A string split into parts: literal text (str) and expressions."""

    parts: tuple[str | Expression, ...]

    @property
    def lone(self) -> Expression | None:
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return self.parts[0]
        return None

    @property
    def refs(self) -> tuple[Ref, ...]:
        return tuple(r for p in self.parts if isinstance(p, Expression) for r in p.refs)


def has_expression(text: str) -> bool:
    return "${" in text


@lru_cache(maxsize=65536)
def parse_string(text: str) -> Parsed:
    """Split `text` into literal parts and expressions; raises ParseError."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    i, n, count = 0, len(text), 0
    while i < n:
        start = text.find("${", i)
        if start < 0:
            literal.append(text[i:])
            break
        if start > 0 and text[start - 1] == "$":
            literal.append(text[i : start - 1] + "${")
            i = start + 2
            continue
        literal.append(text[i:start])
        end = _closing_brace(text, start + 2)
        if end < 0:
            raise ParseError(f"unterminated ${{ at offset {start}: missing closing }}")
        source = text[start + 2 : end].strip()
        if not source:
            raise ParseError("empty expression ${}")
        if literal:
            joined = "".join(literal)
            if joined:
                parts.append(joined)
            literal = []
        parts.append(_expression(source))
        count += 1
        if count > MAX_EXPRESSIONS:
            raise ParseError(f"a string holds more than {MAX_EXPRESSIONS:,} expressions")
        i = end + 1
    if literal:
        joined = "".join(literal)
        if joined:
            parts.append(joined)
    return Parsed(tuple(parts))


def _closing_brace(text: str, i: int) -> int:
    depth, quote = 1, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


MAX_NESTING = 64
MAX_SOURCE = 4_000  # characters of one expression (compiling costs about 25 us a character)
MAX_EXPRESSIONS = 1_000  # expressions in one string
COMPILE_STEPS_PER_CHAR = 10  # what compiling costs of the run's budget


def _nesting(source: str) -> int:
    depth = deepest = 0
    for c in source:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    return deepest


@lru_cache(maxsize=65536)
def _expression(source: str) -> Expression:
    if len(source) > MAX_SOURCE:
        raise ParseError(f"expression is longer than {MAX_SOURCE:,} characters")
    if _nesting(source) > MAX_NESTING:
        raise ParseError(f"expression nests deeper than {MAX_NESTING} brackets")
    try:
        return _parse(source)
    except (RecursionError, MemoryError):
        raise ParseError(f"expression nests too deeply: ${{{source[:60]}...}}") from None
    except BudgetError as exc:
        raise ParseError(f"in ${{{source[:200]}}}: {exc}") from None
    except ValueError as exc:  # the lexer's conversion of a number too long for Python
        raise ParseError(f"invalid expression ${{{source[:200]}}}: {exc}") from None


def _parse(source: str) -> Expression:
    try:
        expr = parse_expression(ENV, source)
    except TemplateSyntaxError as exc:
        raise ParseError(f"invalid expression ${{{source}}}: {exc.message}") from None
    _refuse_private(expr, source)
    refs = tuple(find_refs(expr))
    chain = _chain(expr)
    if chain is not None and not chain[2]:
        return Expression(source, expr, refs, Ref(chain[0], tuple(chain[1])), reparsable=True)
    parsed = Expression(source, expr, refs, None, tuple(_paths(expr, source)))
    parsed.compile()  # find filter and syntax errors now, not at apply
    return parsed


def _node_expression(node: nodes.Expr, source: str) -> Expression:
    """An Expression for a part of a parsed one (a computed subscript), compiled when first run."""
    refs = tuple(find_refs(node))
    chain = _chain(node)
    if chain is not None and not chain[2]:
        return Expression(source, node, refs, Ref(chain[0], tuple(chain[1])))
    weight = 8 * sum(1 for _ in node.find_all(nodes.Node)) + 8
    return Expression(source, node, refs, None, tuple(_paths(node, source)), weight)


PathStep = tuple[str, Any]  # ("attr", name), ("index", constant) or ("expr", Expression)
RefPath = tuple[str, tuple[PathStep, ...]]


def _full_chain(node: nodes.Node, source: str) -> tuple[str, list[PathStep]] | None:
    """A name chain's root and every step, computed subscripts included; a chain ends before a
    slice, whose value depends on the whole of what it slices."""
    if isinstance(node, nodes.Name):
        return node.name, []
    if not isinstance(node, nodes.Getattr | nodes.Getitem):
        return None
    inner = _full_chain(node.node, source)
    if inner is None:
        return None
    root, steps = inner
    if steps and steps[-1][0] == "end":
        return inner
    if isinstance(node, nodes.Getattr):
        steps.append(("attr", node.attr))
    elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int | str):
        steps.append(("index", node.arg.value))
    elif isinstance(node.arg, nodes.Slice):
        steps.append(("end", None))
    else:
        steps.append(("expr", _node_expression(node.arg, source)))
    return root, steps


def _paths(node: nodes.Node, source: str) -> list[RefPath]:
    chain = _full_chain(node, source)
    if chain is not None:
        root, steps = chain
        return [(root, tuple(s for s in steps if s[0] != "end"))]
    found: list[RefPath] = []
    for child in node.iter_child_nodes():
        found.extend(_paths(child, source))
    return found


def _refuse_private(expr: nodes.Node, source: str) -> None:
    kinds = (nodes.Getattr, nodes.Name, nodes.Getitem)
    candidates = [expr, *expr.find_all(kinds)] if isinstance(expr, kinds) else expr.find_all(kinds)
    for node in candidates:
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Name):
            name = node.name
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            name = node.arg.value
        if name is not None and name.startswith("_"):
            raise ParseError(
                f"access to {name!r} is not allowed in ${{{source}}}: names starting with _ "
                "are Python internals, which the sandbox blocks"
            )


def _chain(node: nodes.Node) -> tuple[str, list[Step], list[nodes.Node], bool] | None:
    """(root, constant steps, non-constant subscripts, still constant) for a name chain."""
    if isinstance(node, nodes.Name):
        return node.name, [], [], True
    if isinstance(node, nodes.Getattr):
        inner = _chain(node.node)
        if inner is None:
            return None
        root, steps, extras, open_ = inner
        if open_:
            steps.append(("attr", node.attr))
        return root, steps, extras, open_
    if isinstance(node, nodes.Getitem):
        inner = _chain(node.node)
        if inner is None:
            return None
        root, steps, extras, open_ = inner
        arg = node.arg
        if open_ and isinstance(arg, nodes.Const) and isinstance(arg.value, int | str):
            steps.append(("index", arg.value))
        else:
            extras.append(arg)
            open_ = False
        return root, steps, extras, open_
    return None


def find_refs(node: nodes.Node) -> list[Ref]:
    """Every name chain in an expression's syntax tree, as references."""
    chain = _chain(node)
    if chain is not None:
        root, steps, extras, _ = chain
        out = [Ref(root, tuple(steps), _tail(node, len(steps)), _same_key(node, len(steps)))]
        for extra in extras:
            out.extend(find_refs(extra))
        return out
    found: list[Ref] = []
    picked = _picked_attribute(node)
    if picked is not None and isinstance(node, nodes.Filter) and node.node is not None:
        # `web | map(attribute="ip")` reads only the ip of each web
        inner = find_refs(node.node)
        found = [Ref(r.root, r.steps, (*r.tail, picked)) for r in inner[:1]] + inner[1:]
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            found.extend(find_refs(arg))
        return found
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        # a function call: the function's name is not a reference
        children: list[nodes.Node] = [*node.args, *(kw.value for kw in node.kwargs)]
        children += [e for e in (node.dyn_args, node.dyn_kwargs) if e is not None]
        for child in children:
            found.extend(find_refs(child))
        return found
    for child in node.iter_child_nodes():
        found.extend(find_refs(child))
    return found


def _picked_attribute(node: nodes.Node) -> str | None:
    """For `X | map(attribute="a")` (and join, sum) over a plain name chain X: the attribute
    read of each item. Which values a reference reads decides whether it reads a secret."""
    if not isinstance(node, nodes.Filter) or node.name not in ("map", "join", "sum"):
        return None
    if node.node is None or _chain(node.node) is None or (node.args and node.name == "map"):
        return None
    for kw in node.kwargs:
        if kw.key == "attribute" and isinstance(kw.value, nodes.Const):
            value = kw.value.value
            if isinstance(value, str) and value and "." not in value:
                return value
    return None


def _same_key(node: nodes.Node, constant: int) -> str | None:
    """`count.index` or `each.key` when a chain's first subscript after its `constant` steps
    is exactly that (`vm[count.index]`), else None."""
    chain: list[nodes.Node] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        chain.append(node)
        node = node.node
    chain.reverse()
    first = chain[constant] if len(chain) > constant else None
    if not isinstance(first, nodes.Getitem):
        return None
    arg = first.arg
    if isinstance(arg, nodes.Getattr) and isinstance(arg.node, nodes.Name):
        text = f"{arg.node.name}.{arg.attr}"
        if text in ("count.index", "each.key"):
            return text
    return None


def _tail(node: nodes.Node, constant: int) -> tuple[str, ...]:
    """The attribute names a chain reads after its first `constant` steps."""
    steps: list[str | None] = []  # attribute names, None for a subscript
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        steps.append(node.attr if isinstance(node, nodes.Getattr) else None)
        node = node.node
    steps.reverse()
    return tuple(name for name in steps[constant:] if name is not None)
