from __future__ import annotations

from pathlib import Path

import pytest

from nubes.engine.stack import load_stack, resolve_variables
from tests.helpers import write


def errors(tmp_path: Path, text: str) -> list[tuple[str, int, int]]:
    stack, diags = load_stack(write(tmp_path / "s.yaml", text))
    assert stack is None
    out = []
    for d in diags:
        assert d.where is not None, d.summary
        out.append((d.summary, d.where.line, d.where.column))
    return out


def test_a_good_stack_loads(tmp_path: Path) -> None:
    stack, diags = load_stack(
        write(
            tmp_path / "s.yaml",
            """
        nubes: 1
        name: web
        variables:
          n: {type: number, default: 2}
        resources:
          web:
            type: instance
            count: ${var.n}
            image: ubuntu-24.04
            size: small
            depends_on: [key]
            lifecycle: {create_before_destroy: true, ignore_changes: [tags]}
          key: {type: key}
        outputs:
          ids: ${web | map(attribute="id") | list}
          secret: {value: "${var.n}", sensitive: true}
    """,
        )
    )
    assert stack is not None, [d.summary for d in diags]
    web = stack.resources["web"]
    assert web.provider == "sim"  # no providers block: the embedded sim cloud
    assert web.attributes == {"image": "ubuntu-24.04", "size": "small"}
    assert web.lifecycle.create_before_destroy and web.lifecycle.ignores("tags")
    assert stack.outputs["secret"].sensitive
    assert stack.digest.startswith("sha256:")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert errors(tmp_path, "nubes: 1\nname: web\nresourcez: {}\n") == [
        ("unknown key 'resourcez'", 3, 1)
    ]


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "nubes: 1\nname: web\nresources:\n  web:\n    type: instance\n    depends_on: key\n",
    )
    assert found[0][1:] == (6, 17)
    assert "resources.web.depends_on" in found[0][0]


def test_missing_required_key(tmp_path: Path) -> None:
    found = errors(tmp_path, "nubes: 1\nname: web\nresources:\n  web:\n    image: x\n")
    assert found == [("missing required key 'type' in resources.web", 5, 5)]


def test_missing_format_version(tmp_path: Path) -> None:
    assert errors(tmp_path, "name: web\n")[0][0].startswith("missing required key 'nubes'")


def test_newer_format_is_refused(tmp_path: Path) -> None:
    found = errors(tmp_path, "nubes: 9\nname: web\n")
    assert "newer than this nubes understands" in found[0][0]
    assert found[0][1:] == (1, 8)


def test_strict_types_no_coercion(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "nubes: 1\nname: web\nresources:\n  w:\n    type: key\n"
        "    lifecycle: {prevent_destroy: 'yes'}\n",
    )
    assert "valid boolean" in found[0][0]


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ("resources:\n  var: {type: key}\n", "reserved name"),
        ("resources:\n  w: {type: key, provider: nowhere}\n", "not declared"),
        ("resources:\n  w: {type: key, count: 1, for_each: [a]}\n", "both count and for_each"),
        ("resources:\n  w: {type: key, depends_on: [ghost]}\n", "not a resource in this stack"),
        (
            "providers:\n  a: {driver: sim}\n  b: {driver: sim}\nresources:\n  w: {type: key}\n",
            "must say which provider",
        ),
        ("resources:\n  9lives: {type: key}\n", "not a valid name"),
    ],
)
def test_stack_level_checks(tmp_path: Path, body: str, wanted: str) -> None:
    found = errors(tmp_path, "nubes: 1\nname: web\n" + body)
    assert any(wanted in f[0] for f in found), found


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    stack, diags = load_stack(tmp_path / "nope.yaml")
    assert stack is None and "no stack file" in diags.items[0].summary


VARS = """
nubes: 1
name: web
variables:
  n: {type: number, default: 1}
  flag: {type: bool, default: false}
  names: {type: list, default: []}
  must: {type: string}
"""


def test_variable_precedence_and_types(tmp_path: Path) -> None:
    stack, _ = load_stack(write(tmp_path / "s.yaml", VARS))
    assert stack is not None
    var_file = write(tmp_path / "v.yaml", "n: 5\nmust: from-file\n")
    values, diags = resolve_variables(
        stack,
        {"must": "from-cli"},
        [var_file],
        {"NUBES_VAR_n": "9", "NUBES_VAR_flag": "true", "NUBES_VAR_names": '["a", "b"]'},
    )
    assert not diags.has_errors, [d.summary for d in diags]
    assert values == {"n": 5, "flag": True, "names": ["a", "b"], "must": "from-cli"}


def test_variable_errors(tmp_path: Path) -> None:
    stack, _ = load_stack(write(tmp_path / "s.yaml", VARS))
    assert stack is not None
    var_file = write(tmp_path / "v.yaml", "n: lots\nghost: 1\n")
    _, diags = resolve_variables(stack, {"flag": "maybe"}, [var_file], {})
    summaries = [d.summary for d in diags]
    assert "variable 'n' must be a number, not a string" in summaries
    assert "this stack has no variable 'ghost'" in summaries
    assert (
        "variable 'flag': 'maybe' is not a bool (true or false; yes, no, 1 and 0 are taken too)"
        in summaries
    )
    assert "variable 'must' has no value" in summaries
    ghost = next(d for d in diags if "ghost" in d.summary)
    assert ghost.where is not None and (ghost.where.file, ghost.where.line) == (str(var_file), 2)
