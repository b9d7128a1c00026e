"""The default catalog: portable image names and what they are on each driver.

A value is a native id (a string) or lookup criteria (a map, passed to the driver's `lookup`, the
newest match winning). Stacks extend or override it with `catalog:`. Realms have no defaults:
zone names differ per account and region, so stacks map portable realm names themselves.

EC2 entries use the publishers' own AWS accounts: Canonical (099720109477) for Ubuntu and the
Debian project (136693071363). Fedora and Alpine are not in the EC2 defaults; add them in a
stack's catalog if needed.
"""

from __future__ import annotations

from typing import Any

CANONICAL = "099720109477"
DEBIAN = "136693071363"


def _ubuntu(codename: str, version: str) -> dict[str, Any]:
    return {
        "owner": CANONICAL,
        "name": f"ubuntu/images/hvm-ssd*/ubuntu-{codename}-{version}-amd64-server-*",
    }


def _glance(distro: str, version: str) -> dict[str, Any]:
    """OpenStack images by their Glance properties (what public clouds set on theirs)."""
    return {"os_distro": distro, "os_version": version}


DEFAULT_IMAGES: dict[str, dict[str, Any]] = {
    "ubuntu-24.04": {
        "sim": "img-ubuntu-2404",
        "ec2": _ubuntu("noble", "24.04"),
        "openstack": _glance("ubuntu", "24.04"),
        "rackspace": _glance("ubuntu", "24.04"),
    },
    "ubuntu-22.04": {
        "sim": "img-ubuntu-2204",
        "ec2": _ubuntu("jammy", "22.04"),
        "openstack": _glance("ubuntu", "22.04"),
        "rackspace": _glance("ubuntu", "22.04"),
    },
    "ubuntu-16.04": {"ec2": _ubuntu("xenial", "16.04")},
    "ubuntu-24.04-arm64": {
        "sim": "img-ubuntu-2404-arm",
        "ec2": {
            "owner": CANONICAL,
            "name": "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-arm64-server-*",
        },
    },
    "debian-12": {
        "sim": "img-debian-12",
        "ec2": {"owner": DEBIAN, "name": "debian-12-amd64-*"},
        "openstack": _glance("debian", "12"),
        "rackspace": _glance("debian", "12"),
    },
    "fedora-40": {"sim": "img-fedora-40"},
    "alpine-3.20": {"sim": "img-alpine-320"},
}
