from __future__ import annotations

import re
from pathlib import Path

import pytest

from nubes.engine.addrs import InstanceAddr
from nubes.engine.drivers import configure_drivers
from nubes.engine.graph import build_graph, to_dot
from nubes.engine.plan.differ import base_scope
from tests.helpers import load, write


def graph_of(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    stack, values = load(write(tmp_path / "s.yaml", text))
    drivers, _ = configure_drivers(stack, values, tmp_path / "state", {})
    return build_graph(stack, drivers.schemas(), base_scope(stack, values, drivers))


def test_instance_edges_follow_references(tmp_path: Path) -> None:
    graph, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          key: {type: key}
          web: {type: instance, count: 2, image: x, size: small, key: "${key.name}"}
          ip: {type: address, instance: "${web[1].id}"}
          vol: {type: volume, size_gb: 1, depends_on: [web]}
    """,
    )
    assert graph is not None, [d.summary for d in diags]
    web0, web1 = InstanceAddr("web", 0), InstanceAddr("web", 1)
    assert set(graph.deps[web0]) == {InstanceAddr("key")}
    assert set(graph.deps[InstanceAddr("ip")]) == {web1}  # only the instance it names
    assert set(graph.deps[InstanceAddr("vol")]) == {web0, web1}
    order = [str(a) for a in graph.order]
    assert order.index("key") < order.index("web[0]") < order.index("ip")
    dot = to_dot(graph, "g")
    assert '"ip" -> "web[1]";' in dot and dot.startswith('digraph "g" {')


def test_an_instance_indexed_by_its_own_key_ties_to_that_instance_alone(tmp_path: Path) -> None:
    graph, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          vm: {type: instance, count: 3, image: x, size: small}
          disk: {type: volume, count: 3, size_gb: 1, instance: "${vm[count.index].id}"}
          spare: {type: volume, count: 4, size_gb: 1, instance: "${vm[count.index].id}"}
          odd: {type: volume, count: 2, size_gb: 1, instance: "${vm[count.index + 1].id}"}
          zones: {type: bucket, for_each: [a, b], name: "z-${each.key}"}
          logs: {type: bucket, for_each: [a, b], name: "${zones[each.key].name}-logs"}
    """,
    )
    assert graph is not None, [d.summary for d in diags]
    vms = {InstanceAddr("vm", i) for i in range(3)}
    for i in range(3):  # N to N edges, not N x N
        assert set(graph.deps[InstanceAddr("disk", i)]) == {InstanceAddr("vm", i)}
    assert set(graph.deps[InstanceAddr("spare", 3)]) == vms  # no vm[3]: it waits for all of them
    assert set(graph.deps[InstanceAddr("odd", 0)]) == vms  # any other subscript: all of them
    assert set(graph.deps[InstanceAddr("logs", "b")]) == {InstanceAddr("zones", "b")}


def test_cycle_names_every_resource_and_reference(tmp_path: Path) -> None:
    _, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          a: {type: volume, size_gb: 1, name: "${c.name}"}
          b: {type: volume, size_gb: 1, name: "${a.name}"}
          c: {type: volume, size_gb: 1, name: "x", depends_on: [b]}
    """,
    )
    cycle = next(d for d in diags if "dependency cycle" in d.summary)
    assert set(cycle.summary.split(": ")[1].split(" -> ")) == {"a", "b", "c"}
    assert "a refers to c (c.name) at" in cycle.detail
    assert "b refers to a (a.name) at" in cycle.detail
    assert "c refers to b (b) at" in cycle.detail
    assert cycle.where is not None


def test_bad_references(tmp_path: Path) -> None:
    _, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          web: {type: instance, count: 2, image: x, size: small, name: "${web[0].name}"}
          a: {type: address, instance: "${web.id}"}
          b: {type: address, instance: "${ghost.id}"}
          c: {type: address, instance: "${var.nothing}"}
          d: {type: volume, size_gb: 1, name: "${each.key}"}
          e: {type: volume, size_gb: 1, name: "${c.colour}"}
    """,
    )
    text = [d.summary for d in diags]
    assert "resource 'web' refers to itself (web[0].name)" in text
    assert any("web has count; refer to one instance" in t for t in text)
    assert "reference to undeclared resource or name 'ghost'" in text
    assert "reference to undeclared variable var.nothing" in text
    assert "each.* can only be used in a resource that sets for_each" in text
    assert "address c has no attribute 'colour'" in text
    assert all(d.where is not None for d in diags)


def test_index_past_count(tmp_path: Path) -> None:
    _, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          web: {type: instance, count: 2, image: x, size: small}
          f: {type: address, instance: "${web[7].id}"}
    """,
    )
    found = [d for d in diags if "web[7].id refers to an instance that does not exist" in d.summary]
    assert found and found[0].detail == "web has instances: web[0], web[1]"


def test_count_and_for_each_must_be_known_and_well_typed(tmp_path: Path) -> None:
    _, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          k: {type: key}
          a: {type: volume, size_gb: 1, count: "${k.id}"}
          b: {type: volume, size_gb: 1, count: "two"}
          c: {type: volume, size_gb: 1, for_each: "${[1, 2]}"}
          d: {type: volume, size_gb: 1, count: -1}
    """,
    )
    text = [d.summary for d in diags]
    assert any("count must be known before apply" in t for t in text)
    assert any("count must be a whole number, not str" in t for t in text)
    assert any("for_each over a list needs strings" in t for t in text)
    assert any("count must be between 0" in t for t in text)


_DOT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unescape(m: re.Match[str]) -> str:
    return "\n" if m.group(1) == "n" else m.group(1)  # DOT's line break, or the character


def test_dot_quotes_a_for_each_key_in_ids_and_labels(tmp_path: Path) -> None:
    graph, diags = graph_of(
        tmp_path,
        """
        nubes: 1
        name: g
        resources:
          bkt: {type: bucket, for_each: ['dev', 'a\\b'], name: "b-${each.key}"}
    """,
    )
    assert graph is not None, [d.summary for d in diags]
    dot = to_dot(graph, 'my "stack"')
    labels = []
    for line in dot.splitlines():
        # every quote belongs to a DOT string: what is left is plain DOT syntax
        assert '"' not in _DOT_STRING.sub("S", line), line
        if "label =" in line:
            strings = [re.sub(r"\\(.)", _unescape, s) for s in _DOT_STRING.findall(line)]
            labels.append(strings[-1])
    assert sorted(label.split("\n")[0] for label in labels) == ['bkt["a\\\\b"]', 'bkt["dev"]']
    assert dot.startswith('digraph "my \\"stack\\"" {')


_TWO = """
nubes: 1
name: g
providers:
  fast: {driver: sim}
  slow: {driver: sim, SLOW}
resources:
  deploy: {type: key, provider: fast, name: deploy}
  vm: {type: instance, provider: slow, image: debian-12, size: small, key: "${deploy.name}"}
"""


@pytest.mark.parametrize(
    ("slow", "one_cloud"),
    [
        ("latency_ms: 5, max_retries: 2", True),  # tuning only: the same cloud
        ("region: sim-1, catalog: nubes", True),  # the defaults written out
        ("region: sim-2", False),
        ("catalog: mock", False),
    ],
)
def test_providers_that_differ_only_in_tuning_reach_one_cloud(
    tmp_path: Path, slow: str, one_cloud: bool
) -> None:
    graph, diags = graph_of(tmp_path, _TWO.replace("SLOW", slow))
    errors = [d.summary for d in diags if d.severity.value == "error"]
    if one_cloud:
        assert graph is not None and not errors, errors
    else:
        assert graph is None
        assert errors == [
            "vm.key refers to deploy, which is on provider 'fast', but vm is on 'slow'"
        ]
        hint = next(d.detail for d in diags if d.summary == errors[0])
        assert "leave deploy's provider out" in hint


def test_the_settings_that_tell_clouds_apart_default_as_the_drivers_do() -> None:
    from nubes.engine.graph.clouds import WHERE
    from nubes.providers.ec2.settings import Settings as Ec2Settings
    from nubes.providers.openstack.settings import Settings as OpenStackSettings
    from nubes.providers.sim.config import SimConfig

    for driver, model in (
        ("sim", SimConfig),
        ("ec2", Ec2Settings),
        ("openstack", OpenStackSettings),
    ):
        for key, default in WHERE[driver].items():
            field = model.model_fields[key]
            assert field.get_default(call_default_factory=True) == default, (driver, key)


def test_an_image_of_one_cloud_is_refused_on_another_but_a_portable_name_travels(
    tmp_path: Path,
) -> None:
    text = """
nubes: 1
name: g
providers:
  a: {driver: sim}
  b: {driver: sim, region: sim-2}
resources:
  img: {type: image, provider: a, lookup: {id: img-debian-12}}
  vm: {type: instance, provider: b, image: IMAGE, size: small}
"""
    graph, diags = graph_of(tmp_path, text.replace("IMAGE", '"${img.id}"'))
    assert graph is None
    assert [d.summary for d in diags] == [
        "vm.image refers to img, which is on provider 'a', but vm is on 'b'"
    ]
    graph, diags = graph_of(tmp_path, text.replace("IMAGE", "debian-12"))
    assert graph is not None, [d.summary for d in diags]
