"""The EC2 driver's own behaviour against moto: pagination, configuration, credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nubes.providers.ec2 import Ec2Driver
from nubes.providers.errors import AuthError
from nubes.providers.protocol import DriverContext


def driver(endpoint: str, tmp: Path, **config: Any) -> Ec2Driver:
    d = Ec2Driver()
    assert d.configure({"endpoint": endpoint, **config}, DriverContext(tmp, {})) == []
    return d


def test_refresh_follows_every_page(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    tags = [{"Key": "nubes:stack", "Value": "paged"}]
    for _ in range(130):  # one reservation each: moto pages by reservation
        ec2.run_instances(
            ImageId=ami,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.nano",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
    d = driver(aws, tmp_path)
    before = d.calls
    found = d.list("instance", {"nubes:stack": "paged"})
    assert len(found) == 130 and len({o.id for o in found}) == 130
    assert d.calls - before >= 2  # more than one page, and every page was read


def test_settings_are_checked(tmp_path: Path) -> None:
    problems = Ec2Driver().configure(
        {"region": 5, "endpoint": "ftp://x", "colour": "red", "max_attempts": 0},
        DriverContext(tmp_path, {}),
    )
    assert {k for k, _ in problems} == {"region", "endpoint", "colour", "max_attempts"}


def test_credentials_file_entries_are_used(tmp_path: Path, aws: str, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    bare = driver(aws, tmp_path)
    try:
        bare.realms()
        raise AssertionError("no credentials should have been refused")
    except AuthError as exc:
        assert "no AWS credentials" in str(exc)
    d = Ec2Driver()
    creds = {"access_key_id": "AKIAFROMFILE", "secret_access_key": "from-the-file"}
    assert d.configure({"endpoint": aws}, DriverContext(tmp_path, {}, creds)) == []
    assert [r.id for r in d.realms()][:2] == ["us-east-1a", "us-east-1b"]


def test_hardware_profiles_and_realms(tmp_path: Path, aws: str) -> None:
    d = driver(aws, tmp_path)
    profiles = {p.id: p for p in d.hardware_profiles()}
    assert profiles["t3.micro"].cpus == 2 and profiles["t3.micro"].memory_gb == 1
    assert "us-east-1a" in [r.id for r in d.realms()]


def test_image_lookups(tmp_path: Path, aws: str, ami: str) -> None:
    d = driver(aws, tmp_path)
    newest = d.lookup(
        "image", {"owner": "099720109477", "name": "ubuntu/images/*ubuntu-*-amd64-server-*"}
    )
    assert newest is not None and newest.attributes["name"].startswith("ubuntu/images/")
    by_id = d.lookup("image", {"id": ami})
    assert by_id is not None and by_id.id == ami
    assert d.lookup("image", {"owner": "amazon", "name": "no-such-image-*"}) is None
    assert d.lookup("image", {"id": "ami-0000000000000dead"}) is None


def test_import_tags_and_state_rm_untags_on_ec2(tmp_path: Path, aws: str, ami: str) -> None:
    """What `nubes import` and `nubes state rm` ask of the cloud: ownership tags put on an
    existing object and taken off again, for each kind EC2 and S3 tag differently."""
    from nubes.providers.protocol import Ownership

    d = driver(aws, tmp_path)
    api = Ownership("api", "made-elsewhere", "t-0")
    made = {
        "bucket": d.create("bucket", {"name": "claimed-bkt"}, api),
        "key": d.create("key", {"name": "claimed-key"}, api),
        "volume": d.create("volume", {"size_gb": 1, "realm": "us-east-1a"}, api),
        "firewall": d.create("firewall", {"name": "claimed-fw"}, api),
    }
    for type_, obj in made.items():
        d.claim(type_, obj.id, Ownership("mine", f"x_{type_}", "tok"))
        seen = d.read(type_, obj.id)
        assert seen is not None and seen.tags.get("nubes:stack") == "mine", type_
        assert seen.tags.get("nubes:address") == f"x_{type_}"
        listed = {o.id for o in d.list(type_, {"nubes:stack": "mine"})}
        assert obj.id in listed, type_
        d.unclaim(type_, obj.id)
        again = d.read(type_, obj.id)
        assert again is not None and "nubes:stack" not in again.tags, type_


def test_what_ec2_says_does_not_exist_is_absent_not_an_error(tmp_path: Path, aws: str) -> None:
    d = driver(aws, tmp_path)
    planned = d.plan_change(
        "instance", None, {"image": "ami-0123456789abcdef0", "size": "t3.micro", "realm": "x-9"}
    )
    problems = dict(planned.problems)
    assert "does not exist" in problems["image"]  # a plan problem on the image, not a crash
    assert "availability zone 'x-9'" in problems["realm"]  # and the other checks still ran
    assert d.read("key", "never-made") is None and d.read("volume", "vol-0123456789abcdef0") is None
    d.delete("key", "never-made")  # already gone: the goal is reached
    d.delete("volume", "vol-0123456789abcdef0")
