"""Refreshing 1,000 EC2 objects on a moto server: nubes' batched refresh against the alternatives.

1,000 objects of three types (400 instances in reservations of 10, 400 volumes, 200 security
groups), all tagged with the stack, on a moto server started on 127.0.0.1. Side by side:
  * nubes  - `engine.plan.refresh`: one paginated Describe call per type, tag-filtered;
  * (a)    - one Describe call per resource, as Terraform refreshes;
  * (b)    - Apache Libcloud's EC2 driver: list_nodes(), list_volumes() and
             ex_get_security_groups(), over the same objects.
Each is run 3 times; the table shows the median wall time and the API calls made.
Run: python bench/ec2_refresh.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refreshing import nubes_state, timed  # noqa: E402

from tests.helpers import FAKE_AWS_CREDENTIALS, start_moto  # noqa: E402

INSTANCES, VOLUMES, GROUPS = 400, 400, 200
# libcloud signs us-east-1 with SigV2, which a moto server cannot tell from S3; in this region it
# signs with SigV4, which names the service
REGION = "eu-central-1"


def populate(endpoint: str) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    tags = [{"Key": "nubes:stack", "Value": "bench"}]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for _ in range(INSTANCES // 10):
        ec2.run_instances(
            ImageId=ami,
            MinCount=10,
            MaxCount=10,
            InstanceType="t3.nano",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
    for _ in range(VOLUMES):
        ec2.create_volume(
            Size=1,
            AvailabilityZone=f"{REGION}a",
            TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
        )
    for i in range(GROUPS):
        ec2.create_security_group(
            GroupName=f"bench-{i}",
            Description="bench",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )


def main() -> None:
    os.environ.update(FAKE_AWS_CREDENTIALS)
    proc, endpoint = start_moto()
    try:
        populate(endpoint)
        from nubes.engine.drivers import Drivers
        from nubes.engine.plan.refresh import refresh
        from nubes.providers.ec2 import Ec2Driver
        from nubes.providers.protocol import DriverContext

        driver = Ec2Driver()
        driver.configure({"endpoint": endpoint, "region": REGION}, DriverContext(Path("."), {}))
        state = nubes_state(driver, "aws")
        assert len(state.resources) == INSTANCES + VOLUMES + GROUPS
        drivers = Drivers({"aws": driver})

        def batched() -> int:
            before = driver.calls
            fresh, _, diags = refresh(state, drivers)
            assert not diags.has_errors and len(fresh.resources) == len(state.resources)
            return driver.calls - before

        def per_resource() -> int:
            before = driver.calls
            for rs in state.resources.values():
                assert driver.read(rs.type, rs.id) is not None
            return driver.calls - before

        import libcloud.compute.drivers.ec2 as libcloud_ec2
        from libcloud.compute.providers import get_driver
        from libcloud.compute.types import Provider

        # moto answers in the 2016-11-15 namespace without its trailing slash; libcloud looks
        # the elements up with the slash and would find nothing
        libcloud_ec2.NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15"

        host, port = endpoint.removeprefix("http://").split(":")
        lc = get_driver(Provider.EC2)(
            "testing", "testing", region=REGION, host=host, port=int(port), secure=False
        )
        counted = {"n": 0}
        original = lc.connection.request

        def counting(*args: Any, **kwargs: Any) -> Any:
            counted["n"] += 1
            return original(*args, **kwargs)

        lc.connection.request = counting

        def libcloud_lists() -> int:
            counted["n"] = 0
            nodes = lc.list_nodes()
            volumes = lc.list_volumes()
            groups = lc.ex_get_security_groups()
            assert len(nodes) >= INSTANCES and len(volumes) >= VOLUMES and len(groups) >= GROUPS
            return counted["n"]

        rows = [
            ("nubes refresh (batched, paginated)", *timed(batched)),
            ("(a) one describe per resource", *timed(per_resource)),
            ("(b) libcloud list_nodes+volumes+groups", *timed(libcloud_lists)),
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    total = INSTANCES + VOLUMES + GROUPS
    print(
        f"\nrefreshing {total:,} EC2 objects ({INSTANCES} instances, {VOLUMES} volumes, "
        f"{GROUPS} security groups) on a local moto server; median of 3\n"
    )
    print(f"{'method':<40} {'API calls':>9} {'seconds':>8} {'vs nubes':>8}")
    for name, seconds, calls in rows:
        print(f"{name:<40} {calls:>9,} {seconds:>8.2f} {seconds / rows[0][1]:>7.1f}x")
    print(
        "\nOn AWS each call also pays 20-200 ms of latency; nubes pays it per page and type, "
        "(a) per resource. Libcloud lists everything in the region, with no tag filter, and\n"
        "converts no tags into ownership, so it cannot tell the stack's objects from others."
    )


if __name__ == "__main__":
    main()
