"""Fuzzing the stack loader and the expression evaluator: whatever the input, the answer is a
value or diagnostics, never an exception."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nubes.engine.diag import Diagnostic, SourceRange
from nubes.engine.lang import Scope, Unknown, evaluate, make_functions
from nubes.engine.stack import parse_stack

FUZZ = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "nubes",
                    "name",
                    "resources",
                    "type",
                    "count",
                    "for_each",
                    "variables",
                    "outputs",
                    "providers",
                    "driver",
                    "image",
                    "lifecycle",
                    "x",
                    "depends_on",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)
noise = st.sampled_from(
    [
        "${",
        "}",
        "&a ",
        "*a",
        "!!python/none ",
        "<<: ",
        "\t",
        "- ",
        ": ",
        "{",
        "[",
        "'",
        '"',
        "\n  ",
        "${var.x}",
        "${web[0].id}",
        "#",
    ]
)


def check_diags(diags: list[Diagnostic]) -> None:
    for d in diags:
        assert d.summary
        assert d.where is None or isinstance(d.where, SourceRange)


@FUZZ
@given(st.text(max_size=300))
def test_loader_never_raises_on_any_text(text: str) -> None:
    stack, diags = parse_stack(text, Path("fuzz.yaml"))
    check_diags(diags.items)
    assert stack is not None or diags.has_errors


@FUZZ
@given(documents, st.lists(st.tuples(st.integers(min_value=0), noise), max_size=6))
def test_loader_never_raises_on_mangled_yaml(doc: object, cuts: list[tuple[int, str]]) -> None:
    text = yaml.safe_dump({"nubes": 1, "name": "fuzz", "resources": doc})
    for at, piece in cuts:
        i = at % (len(text) + 1)
        text = text[:i] + piece + text[i:]
    _, diags = parse_stack(text, Path("fuzz.yaml"))
    check_diags(diags.items)


tokens = st.sampled_from(
    [
        "var",
        "web",
        "db",
        "count",
        "each",
        "lipsum",
        "range",
        "dict",
        "file",
        "template",
        "lookup",
        "merge",
        "jsonencode",
        "base64encode",
        "__class__",
        "__globals__",
        "_x",
        "mro",
        "attr",
        "map",
        "join",
        "list",
        "length",
        "upper",
        "x",
        "items",
        "keys",
        "0",
        "1",
        "9",
        "99999",
        "1.5",
        "'s'",
        '"t"',
        "true",
        "none",
        "+",
        "-",
        "*",
        "**",
        "/",
        "//",
        "%",
        "~",
        "|",
        ".",
        ",",
        ":",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        " if ",
        " else ",
        " and ",
        " or ",
        " not ",
        " in ",
        " is ",
        "==",
        "<",
        "=",
    ]
)


def fuzz_scope(tmp: Path) -> Scope:
    names = {
        "var": {"x": 1, "s": "text", "l": [1, 2], "m": {"a": 1}},
        "web": [{"id": "i-1", "name": "w"}, {"id": Unknown, "name": "v"}],
        "db": {"id": "vol-1"},
        **make_functions(tmp),
    }
    return Scope(names, {"var": frozenset({"s"})})


SCOPE = fuzz_scope(Path(__file__).parent)


@FUZZ
@given(st.lists(tokens, min_size=1, max_size=14), st.booleans())
def test_evaluator_never_raises(parts: list[str], interpolate: bool) -> None:
    source = "${" + "".join(parts) + "}"
    text = f"a-{source}-b" if interpolate else source
    result = evaluate(text, SCOPE, lambda p: SourceRange("fuzz.yaml", 1, 1), ())
    check_diags(result.diags)
    if result.diags:
        assert result.value is Unknown


@FUZZ
@given(st.text(max_size=60))
def test_evaluator_never_raises_on_any_text(body: str) -> None:
    result = evaluate("${" + body + "}", SCOPE, lambda p: SourceRange("fuzz.yaml", 1, 1), ())
    check_diags(result.diags)


def test_very_deep_expressions_are_diagnostics() -> None:
    source = "${" + "(" * 5000 + "1" + ")" * 5000 + "}"
    result = evaluate(source, SCOPE, lambda p: SourceRange("fuzz.yaml", 1, 1), ())
    assert result.value is Unknown and result.diags


def test_long_operator_chains_are_diagnostics() -> None:
    for source in (
        "${" + "-" * 5000 + "1}",
        "${" + "not " * 3000 + "true}",
        "${" + "1+" * 3000 + "1}",
        "${" + "x|" * 3000 + "x}",
    ):
        result = evaluate(source, SCOPE, lambda p: SourceRange("fuzz.yaml", 1, 1), ())
        assert result.value is Unknown and result.diags, source[:20]
