from __future__ import annotations

from nubes.engine.stack.yamlpos import MAX_DEPTH, load_yaml


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
