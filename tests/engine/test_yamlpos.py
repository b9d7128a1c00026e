from __future__ import annotations

from pathlib import Path

from nubes.engine.stack.yamlpos import MAX_DEPTH, Cap, load_yaml


def test_positions_of_values_and_keys() -> None:
    text = "a: 1\nb:\n  c: [x, y]\n  d: {e: true}\n"
    value, pos, diags = load_yaml(text, "f.yaml")
    assert diags == []
    assert value == {"a": 1, "b": {"c": ["x", "y"], "d": {"e": True}}}
    assert (pos.at(("b", "c", 1)).line, pos.at(("b", "c", 1)).column) == (3, 10)
    assert (pos.key_at(("b", "d")).line, pos.key_at(("b", "d")).column) == (4, 3)
    # a path that was never written falls back to its nearest written ancestor
    assert pos.at(("b", "d", "missing")).line == 4


def test_duplicate_key_is_refused_with_both_places() -> None:
    _, _, diags = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert len(diags) == 1
    assert "duplicate key 'a' (first written at line 1)" in diags[0].summary
    assert diags[0].where is not None and diags[0].where.line == 3


def test_syntax_error_has_position() -> None:
    _, _, diags = load_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert diags and diags[0].summary.startswith("YAML syntax error")
    assert diags[0].where is not None and diags[0].where.file == "f.yaml"


def test_an_unclosed_quote_or_bracket_is_shown_where_it_opens() -> None:
    _, _, diags = load_yaml('a: 1\nb: "two\nc: 3\nd: 4\n', "f.yaml")
    assert "quoted scalar that starts here is never closed" in diags[0].summary
    assert diags[0].where is not None and (diags[0].where.line, diags[0].where.column) == (2, 4)
    _, _, diags = load_yaml("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert diags[0].where is not None and diags[0].where.line == 3  # where the parser stopped
    assert "begins at line 2, column 4" in diags[0].detail


def test_alias_bomb_is_bounded() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    _, _, diags = load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert diags and "alias bomb" in diags[0].detail


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    _, _, diags = load_yaml(text, "deep.yaml")
    assert diags and "nesting deeper" in diags[0].summary


def test_python_tags_are_refused() -> None:
    _, _, diags = load_yaml("a: !!python/object/apply:os.system ['true']\n", "t.yaml")
    assert diags and "unsupported YAML tag" in diags[0].summary


def test_huge_number_is_a_diagnostic() -> None:
    _, _, diags = load_yaml("a: " + "9" * 20000 + "\n", "n.yaml")
    assert diags and "number too long" in diags[0].summary


def test_scalars_keep_core_types() -> None:
    value, _, _ = load_yaml("a: 0x10\nb: 1.5\nc: null\nd: 'true'\ne: 2024-01-01\n", "s.yaml")
    assert value == {"a": 16, "b": 1.5, "c": None, "d": "true", "e": "2024-01-01"}


def test_positions_of_aliased_values_are_the_anchors() -> None:
    text = "a: &k {x: [1, {y: 2}]}\nb: *k\nc: [*k]\n"
    value, pos, diags = load_yaml(text, "f.yaml")
    assert diags == []
    assert value == {
        "a": {"x": [1, {"y": 2}]},
        "b": {"x": [1, {"y": 2}]},
        "c": [{"x": [1, {"y": 2}]}],
    }
    assert value["b"] is not value["a"] and value["b"]["x"] is not value["a"]["x"]  # own copies
    anchor = pos.at(("a", "x", 1, "y"))
    assert (anchor.line, anchor.column) == (1, 19)
    assert pos.at(("b", "x", 1, "y")) == anchor and pos.at(("c", 0, "x", 1, "y")) == anchor
    assert pos.key_at(("b", "x")) == pos.key_at(("a", "x"))
    assert pos.written(("c", 0, "x")) and not pos.written(("c", 1))


def test_anchored_keys_may_be_aliased() -> None:
    value, _, diags = load_yaml("&k foo: 1\nbar: *k\n", "f.yaml")
    assert diags == [] and value == {"foo": 1, "bar": "foo"}
    _, _, diags = load_yaml("&k foo: 1\n*k : 2\n", "f.yaml")
    assert "duplicate key 'foo' (first written at line 1)" in diags[0].summary


def test_alias_faults_are_positioned() -> None:
    cases = {
        "a: *nope\n": ("found undefined alias 'nope'", 1, 4),
        "a: &x 1\nb: &x 2\n": ("found duplicate anchor", 2, 4),
        "a: &r [*r]\n": ("found undefined alias 'r'", 1, 8),  # no alias inside its own anchor
        "a: &m [1]\n*m : 2\n": ("mapping keys must be plain scalars", 2, 1),
        "a: 1\n---\nb: 2\n": ("expected a single document", 2, 1),
    }
    for text, (summary, line, column) in cases.items():
        _, _, diags = load_yaml(text, "f.yaml")
        assert len(diags) == 1 and summary in diags[0].summary, (text, diags)
        assert diags[0].where is not None, text
        assert (diags[0].where.line, diags[0].where.column) == (line, column), (text, diags)


def test_an_alias_counts_its_anchors_depth() -> None:
    deep = "[" * 40 + "]" * 40
    _, _, diags = load_yaml(f"a: &d {deep}\nb: {'[' * 30}*d{']' * 30}\n", "f.yaml")
    assert diags and "nesting deeper" in diags[0].summary


def test_caps_refuse_a_top_level_collection_at_its_key() -> None:
    text = "x: 1\nitems:\n" + "".join(f"  k{i}: {i}\n" for i in range(6))
    _, _, diags = load_yaml(text, "f.yaml", {"items": Cap(5, "too many items", "split them")})
    assert len(diags) == 1 and diags[0].summary == "too many items"
    assert diags[0].detail == "split them"
    assert diags[0].where is not None and diags[0].where.line == 2


def test_positions_are_found_only_when_asked_for(tmp_path: Path) -> None:
    """A stack that loads and plans without a diagnostic never builds its position table; the
    first diagnostic builds it, with the same places as a table built at once."""
    from nubes.engine.drivers import configure_drivers
    from nubes.engine.plan import PlanOptions, plan
    from nubes.engine.stack import load_stack, resolve_variables

    file = tmp_path / "s.yaml"
    file.write_text(
        "nubes: 1\nname: s\nresources:\n  fw: {type: firewall, name: fw}\n"
        "  web:\n    type: instance\n    name: web\n    image: ubuntu-24.04\n"
        "    size: small\n    firewalls: ['${fw.id}']\n"
    )
    stack, _ = load_stack(file)
    assert stack is not None
    values, _ = resolve_variables(stack, {}, [], {})
    drivers, _ = configure_drivers(stack, values, tmp_path / "state", {})
    result, diags = plan(stack, values, None, drivers, PlanOptions())
    assert result is not None and not diags.has_errors
    assert stack.positions._table is None
    where = stack.at(("resources", "web", "firewalls", 0))
    assert (where.line, where.column) == (10, 17)
