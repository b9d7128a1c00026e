from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from nubes.engine.diag import SourceRange
from nubes.engine.lang import ParseError, Scope, Unknown, evaluate, make_functions, parse_string


def at(path: object) -> SourceRange:
    return SourceRange("s.yaml", 7, 3)


@pytest.fixture
def scope(tmp_path: Path) -> Scope:
    (tmp_path / "hello.txt").write_text("hi there")
    (tmp_path / "init.j2").write_text("role={{ role }} n={{ n }}")
    names = {
        "var": {
            "n": 3,
            "s": "007",
            "items": "a var called items",
            "tags": {"a": "1"},
            "secret": "pw",
        },
        "web": [{"id": "i-1", "public_ip": "1.1.1.1"}, {"id": Unknown, "public_ip": Unknown}],
        "db": {"id": "vol-1", "name": "db"},
        **make_functions(tmp_path),
    }
    return Scope(names, {"var": frozenset({"secret"})})


def value(raw: object, scope: Scope) -> object:
    result = evaluate(raw, scope, at, ())
    assert result.diags == [], [d.summary for d in result.diags]
    return result.value


def errors(raw: object, scope: Scope) -> list[str]:
    result = evaluate(raw, scope, at, ())
    assert result.value is Unknown
    return [d.summary for d in result.diags]


def test_lone_expression_keeps_its_type(scope: Scope) -> None:
    assert value("${var.n + 1}", scope) == 4
    assert value("${[1, 2]}", scope) == [1, 2]
    assert value("${var.tags}", scope) == {"a": "1"}
    assert value("${var.s}", scope) == "007"  # no literal_eval: a string stays a string


def test_interpolation_makes_a_string(scope: Scope) -> None:
    assert value("n=${var.n} ok=${true}", scope) == "n=3 ok=true"
    assert value("$${not} ${var.n}", scope) == "${not} 3"


def test_mapping_keys_win_over_methods(scope: Scope) -> None:
    assert value("${var.items}", scope) == "a var called items"


def test_nested_values_are_walked(scope: Scope) -> None:
    assert value({"a": ["${db.id}", 2], "b": "x"}, scope) == {"a": ["vol-1", 2], "b": "x"}


@pytest.mark.parametrize(
    "text",
    [
        '${"".__class__}',
        "${var.__class__.__mro__}",
        "${lipsum.__globals__}",
        '${db["__class__"]}',
        "${web.__len__()}",
    ],
)
def test_sandbox_blocks_python_internals(text: str) -> None:
    with pytest.raises(ParseError, match="Python internals"):
        parse_string(text)


def test_sandbox_blocks_internals_reached_dynamically(scope: Scope) -> None:
    found = errors('${var | attr("__cl" ~ "ass__")}', scope)
    assert found and ("not allowed" in found[0] or "undefined" in found[0])


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("${range(10**9)}", "Range too big"),
        ("${2 ** 100000}", "too large"),
        ('${"x" * 10**9}', "too large"),
        ("${var.nope}", "has no attribute 'nope'"),
        ("${1 / 0}", "ZeroDivisionError"),
    ],
)
def test_bounded_and_failing_expressions_are_diagnostics(
    scope: Scope, text: str, wanted: str
) -> None:
    found = errors(text, scope)
    assert any(wanted in f for f in found), found


def test_expressions_cannot_mutate_values(scope: Scope) -> None:
    found = errors('${var.tags.update({"b": 2})}', scope)
    assert found
    assert scope.names["var"]["tags"] == {"a": "1"}


def test_unknown_propagates(scope: Scope) -> None:
    assert value("${web[1].id}", scope) is Unknown
    assert value("id-${web[1].id}", scope) is Unknown
    assert value("${web | map(attribute='id') | list}", scope) is Unknown
    assert value("${web[0].id}", scope) == "i-1"  # a known part of the same resource


def test_sensitivity_is_tracked(scope: Scope) -> None:
    assert evaluate("pw=${var.secret}", scope, at, ()).sensitive
    assert not evaluate("${var.n}", scope, at, ()).sensitive


def test_sensitive_paths_cover_the_value_and_whatever_holds_it() -> None:
    outs = {"net": {"pw": "s3cret", "block": "10.0.0.0/16"}, "edge": {"pw": "open"}}
    scope = Scope({"stack_outputs": outs}, {"stack_outputs": frozenset({"net.pw"})})
    for text in ("${stack_outputs.net.pw}", "${stack_outputs.net['pw']}", "${stack_outputs.net}",
                 "${stack_outputs}", "x-${stack_outputs.net.pw | upper}"):  # fmt: skip
        assert evaluate(text, scope, at, ()).sensitive, text
    for text in ("${stack_outputs.net.block}", "${stack_outputs.edge.pw}"):
        assert not evaluate(text, scope, at, ()).sensitive, text


def test_functions(scope: Scope) -> None:
    assert value('${file("hello.txt")}', scope) == "hi there"
    assert value('${template("init.j2", role="web", n=var.n)}', scope) == "role=web n=3"
    assert value('${base64encode("hi")}', scope) == base64.b64encode(b"hi").decode()
    assert json.loads(str(value("${jsonencode(var.tags)}", scope))) == {"a": "1"}
    assert value('${lookup(var.tags, "a")}', scope) == "1"
    assert value('${lookup(var.tags, "z", "dflt")}', scope) == "dflt"
    assert value('${merge(var.tags, {"b": "2"})}', scope) == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    "text",
    ['${file("../outside.txt")}', '${file("/etc/passwd")}', '${template("../x.j2")}'],
)
def test_paths_may_not_leave_the_stack_folder(scope: Scope, text: str) -> None:
    found = errors(text, scope)
    assert any("leaves the stack's folder" in f for f in found), found


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/hostname")
    scope = Scope(make_functions(tmp_path))
    found = errors('${file("link")}', scope)
    assert any("leaves the stack's folder" in f for f in found)


def test_parse_errors_are_reported() -> None:
    with pytest.raises(ParseError, match="unterminated"):
        parse_string("${var.x")
    with pytest.raises(ParseError, match="invalid expression"):
        parse_string("${var.x +}")
    with pytest.raises(ParseError, match="empty expression"):
        parse_string("${ }")


def test_references_are_found_in_the_syntax_tree() -> None:
    refs = {
        str(r)
        for r in parse_string(
            '${web[0].public_ip ~ db.id ~ lookup(var.tags, "a") ~ web[count.index].id}'
        ).refs
    }
    assert refs == {"web[0].public_ip", "db.id", "var.tags", "web", "count.index"}
