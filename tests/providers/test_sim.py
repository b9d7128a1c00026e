from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nubes.providers.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    TransientError,
)
from nubes.providers.protocol import STACK_TAG, DriverContext, Ownership
from nubes.providers.sim import SimDriver


def sim(tmp_path: Path, **config: Any) -> SimDriver:
    driver = SimDriver()
    problems = driver.configure(config, DriverContext(tmp_path, {}))
    assert problems == []
    return driver


def owner(addr: str) -> Ownership:
    return Ownership("stack", addr, f"token-{addr}")


def test_config_problems_are_named(tmp_path: Path) -> None:
    problems = SimDriver().configure(
        {"latency_ms": -1, "fail_rate": 2, "colour": "x"}, DriverContext(tmp_path, {})
    )
    assert {k for k, _ in problems} == {"latency_ms", "fail_rate", "colour"}


def test_instance_boots_then_runs_and_stops(tmp_path: Path) -> None:
    driver = sim(tmp_path, boot_seconds=0.3)
    started = time.monotonic()
    obj = driver.create("instance", {"image": "ubuntu-24.04", "size": "small"}, owner("web"))
    assert time.monotonic() - started >= 0.3  # create waits for running, as drivers do
    assert obj.attributes["state"] == "running"
    assert obj.tags[STACK_TAG] == "stack" and obj.token == "token-web"
    stopped = driver.act("instance", obj.id, "stop")
    assert stopped.attributes["state"] == "stopped"
    with pytest.raises(ConflictError, match="stopped; cannot reboot"):
        driver.act("instance", obj.id, "reboot")
    assert driver.act("instance", obj.id, "start").attributes["state"] == "running"


def test_sizes_by_name_or_requirement(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    fit = driver.create(
        "instance", {"image": "debian-12", "size": {"cpus": 2, "memory_gb": 3}}, owner("a")
    )
    assert fit.attributes["hardware_profile"] == "medium"
    ranged = driver.create(
        "instance", {"image": "debian-12", "size": {"cpus": 12, "memory_gb": 40}}, owner("b")
    )
    assert ranged.attributes["hardware_profile"] == "flex"
    with pytest.raises(InvalidRequestError, match="does not exist"):
        driver.create("instance", {"image": "debian-12", "size": "huge"}, owner("c"))


def test_cloud_rules_are_enforced(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    fw = driver.create("firewall", {"name": "web", "rules": [{"ports": "22"}]}, owner("fw"))
    assert fw.attributes["rules"] == [{"protocol": "tcp", "ports": "22", "sources": ["0.0.0.0/0"]}]
    with pytest.raises(ConflictError, match="already exists"):
        driver.create("firewall", {"name": "web"}, owner("fw2"))
    vm = driver.create(
        "instance", {"image": "ubuntu-24.04", "size": "tiny", "firewalls": [fw.id]}, owner("vm")
    )
    with pytest.raises(ConflictError, match="in use"):
        driver.delete("firewall", fw.id)
    vol = driver.create(
        "volume", {"size_gb": 5, "instance": vm.id, "realm": "sim-1a"}, owner("vol")
    )
    assert (vol.attributes["state"], vol.attributes["device"]) == ("in-use", "/dev/sdf")
    driver.delete("instance", vm.id)  # detaches the volume, as clouds do
    assert driver.read("volume", vol.id).attributes["state"] == "available"  # type: ignore[union-attr]
    driver.delete("firewall", fw.id)
    with pytest.raises(InvalidRequestError, match="not a CIDR"):
        driver.create("firewall", {"rules": [{"sources": ["nope"]}]}, owner("fw3"))


def test_quota(tmp_path: Path) -> None:
    driver = sim(tmp_path, max_instances=1)
    driver.create("instance", {"image": "ubuntu-24.04", "size": "tiny"}, owner("a"))
    with pytest.raises(QuotaError, match="quota of 1"):
        driver.create("instance", {"image": "ubuntu-24.04", "size": "tiny"}, owner("b"))


def test_transient_failures_are_retried(tmp_path: Path) -> None:
    driver = sim(tmp_path, fail_rate=0.5, seed=7)
    for i in range(20):
        driver.create("bucket", {"name": f"bucket-{i}"}, owner(f"b{i}"))
    assert len(driver.list("bucket", {STACK_TAG: "stack"})) == 20
    assert driver.calls > 21  # some calls failed and were retried
    hopeless = sim(tmp_path / "x", fail_rate=0.99, seed=1, max_retries=2)
    with pytest.raises(TransientError, match="injected"):
        hopeless.create("bucket", {"name": "never"}, owner("never"))


def test_latency_is_paid_per_call(tmp_path: Path) -> None:
    driver = sim(tmp_path, latency_ms=50)
    started = time.monotonic()
    driver.list("instance", {})
    driver.list("volume", {})
    assert time.monotonic() - started >= 0.1


def test_list_is_one_call_filtered_by_tags(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    for i in range(5):
        driver.create("bucket", {"name": f"mine{i}"}, owner(f"b{i}"))
    driver.create("bucket", {"name": "theirs"}, Ownership("other", "b", "t"))
    before = driver.calls
    mine = driver.list("bucket", {STACK_TAG: "stack"})
    assert driver.calls == before + 1
    assert sorted(o.id for o in mine) == [f"mine{i}" for i in range(5)]


def test_cloud_persists_across_processes(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    obj = driver.create("key", {"name": "shared"}, owner("k"))
    root = str(Path(__file__).resolve().parents[2])
    code = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from pathlib import Path\n"
        "from nubes.providers.sim import SimDriver\n"
        "from nubes.providers.protocol import DriverContext\n"
        "d = SimDriver()\n"
        f"d.configure({{}}, DriverContext(Path({str(tmp_path)!r}), {{}}))\n"
        f"print(d.read('key', {obj.id!r}).attributes['name'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "shared"


def test_regions_are_separate(tmp_path: Path) -> None:
    one = sim(tmp_path)
    two = sim(tmp_path, region="sim-2")
    obj = one.create("bucket", {"name": "here"}, owner("b"))
    assert two.read("bucket", obj.id) is None
    assert [r.id for r in two.realms()] == ["sim-2a", "sim-2b", "sim-2c"]


def test_plan_time_checks(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    change = driver.plan_change(
        "instance", None, {"image": "nope", "size": "gigantic", "realm": "mars"}
    )
    assert {a for a, _ in change.problems} == {"image", "size", "realm"}


def test_bucket_names_follow_s3s_rule(tmp_path: Path) -> None:
    driver = sim(tmp_path)
    for bad in ("ab", "Upper", "-dash", "has space", "x" * 64):
        with pytest.raises(InvalidRequestError, match="bucket name"):
            driver.create("bucket", {"name": bad}, owner(bad))
    assert driver.create("bucket", {"name": "ok.name-1"}, owner("ok")).id == "ok.name-1"


def test_driver_info_names_its_region_types_and_features(tmp_path: Path) -> None:
    info = sim(tmp_path, region="sim-2").info()
    assert (info.name, info.api_name, info.location) == ("sim", "mock", "sim-2")
    assert {"instance", "key", "volume", "bucket"} <= info.types
    assert info.types == frozenset(SimDriver().schema())
    names = {f.name for f in info.features["instances"]}
    assert {"user_data", "authentication_key", "firewalls", "hardware_profile_overrides"} <= names
    assert info.actions["instances"] >= {"start", "stop", "reboot", "destroy"}


def test_metrics_are_plausible_and_the_same_on_every_read(tmp_path: Path) -> None:
    from nubes.providers.protocol import METRIC_UNITS
    from nubes.providers.sim import metrics

    launched = "2026-01-01T00:00:00Z"
    now = 1767225600.0 + 3600  # an hour after launch
    small = metrics.metrics("i-1", launched, True, 1, 2, now)
    assert [m.name for m in small] == list(METRIC_UNITS)
    assert all(len(m.samples) == 6 for m in small)
    assert small == metrics.metrics("i-1", launched, True, 1, 2, now)  # deterministic
    cpu = small[0]
    assert cpu.unit == "Percent"
    assert all(0 <= s.minimum <= s.average <= s.maximum <= 100 for s in cpu.samples)
    stamps = [s.timestamp for s in cpu.samples]
    assert stamps == sorted(stamps) and stamps[-1] == "2026-01-01T00:59:00Z"
    big = metrics.metrics("i-1", launched, True, 16, 2, now)[0]
    assert sum(s.average for s in big.samples) < sum(s.average for s in cpu.samples)
    young = metrics.metrics("i-1", "2026-01-01T00:58:30Z", True, 1, 2, now)
    assert len(young[0].samples) == 2  # up for a minute and a half
    assert all(m.samples == () for m in metrics.metrics("i-1", launched, False, 1, 2, now))

    driver = sim(tmp_path, boot_seconds=0)
    vm = driver.create("instance", {"image": "ubuntu-24.04", "size": "small"}, owner("vm"))
    assert [m.name for m in driver.metrics(vm.id)] == list(METRIC_UNITS)
    with pytest.raises(NotFoundError):
        driver.metrics("i-none")
