"""Very large but plausible inputs reach their diagnostic in seconds and bounded memory: each
limit (docs/reliability.md) is checked before the work it would cost."""

from __future__ import annotations

from pathlib import Path

from nubes.engine.stack import load_stack, resolve_variables
from tests.measured import run_nubes


def _measured(cwd: Path, *args: str) -> tuple[int, str, float, float]:
    done = run_nubes(cwd, *args)
    return done.returncode, done.stderr, done.cpu_seconds, done.peak_mb


def test_a_stack_of_200000_resources_is_refused_early(tmp_path: Path) -> None:
    lines = ["nubes: 1", "name: big", "resources:"]
    lines += [f"  b{i}: {{type: bucket, name: b-{i}}}" for i in range(200_000)]
    lines.append("  last: {type: bucket, nmae: oops}")
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    assert (tmp_path / "big.yaml").stat().st_size > 6_000_000
    code, err, cpu, peak = _measured(tmp_path, "validate", "big.yaml")
    assert code == 1 and "more than 100,000 resources" in err and "big.yaml:3:1" in err, err
    assert cpu < 8, f"{cpu:.1f} s of CPU"
    assert peak < 300, f"{peak:.0f} MB"


def test_a_stack_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    with open(tmp_path / "huge.yaml", "wb") as f:
        f.truncate(17 * 1024 * 1024)
    code, err, cpu, peak = _measured(tmp_path, "plan", "huge.yaml")
    assert code == 1 and "more than the 16 MiB allowed" in err, err
    assert cpu < 3 and peak < 150


def test_a_long_value_given_as_text_is_refused(tmp_path: Path) -> None:
    """The kernel caps one argument or variable at 128 KiB; the server's API takes variables as
    text too, where only this limit applies."""
    (tmp_path / "s.yaml").write_text(
        "nubes: 1\nname: s\nvariables:\n  v: {type: string}\nresources:\n"
        "  b: {type: bucket, name: bkt-s}\n"
    )
    stack, _ = load_stack(tmp_path / "s.yaml")
    assert stack is not None
    _, diags = resolve_variables(stack, {"v": "x" * 2_000_000}, [], {})
    assert any("more than the 1,048,576 allowed" in d.summary for d in diags)


def test_many_costly_instances_share_one_budget(tmp_path: Path) -> None:
    """Each evaluation has its own bound; a plan's evaluations together have one too, so a costly
    expression in a resource of many instances ends in a diagnostic, not a long run."""
    (tmp_path / "s.yaml").write_text(
        "nubes: 1\nname: s\nresources:\n"
        "  b:\n    type: bucket\n    count: 400\n"
        '    name: \'${(range(20000) | map("string") | list | length) ~ "-" ~ count.index}\'\n'
    )
    code, err, cpu, _ = _measured(tmp_path, "validate", "s.yaml")
    assert code == 1 and "together do more than 1,000,000 operations" in err, err
    assert cpu < 20, f"{cpu:.1f} s of CPU"  # without the run's budget: 400 x 0.1 s and more


def test_a_list_of_too_many_entries_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "nubes: 1\nname: s\nvariables:\n  l:\n    type: list\n    default: ["
        + ", ".join(["1"] * 100_001)
        + "]\nresources:\n  b: {type: bucket, name: bkt-s}\n"
    )
    code, err, cpu, peak = _measured(tmp_path, "validate", "s.yaml")
    assert code == 1 and "holds more than 100,000 entries" in err, err
    assert cpu < 5 and peak < 250


def test_provider_settings_share_one_budget(tmp_path: Path) -> None:
    settings = "".join(
        f"    k{i}: '${{range(16000) | map(\"string\") | join | length + {i}}}'\n"
        for i in range(100)
    )
    (tmp_path / "s.yaml").write_text(
        f"nubes: 1\nname: s\nproviders:\n  home:\n    driver: sim\n{settings}"
        "resources:\n  b: {type: bucket, name: bkt-s}\n"
    )
    code, err, cpu, _ = _measured(tmp_path, "validate", "s.yaml")
    assert code == 1 and "together do more than 1,000,000 operations" in err, err[-2000:]
    assert cpu < 20
