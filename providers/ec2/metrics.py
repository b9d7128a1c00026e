"""The account's limits (DescribeAccountAttributes), and an instance's CloudWatch metrics
(namespace AWS/EC2) under Deltacloud's names, read in one
GetMetricData call: the minimum, maximum and average of each measure per 5-minute period over
the last hour, as Deltacloud's EC2 driver asked for the last hour."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from nubes.providers.ec2.context import Ec2
from nubes.providers.errors import NotFoundError
from nubes.providers.protocol import METRIC_UNITS, Metric, Sample

# Deltacloud's name -> CloudWatch's
CLOUDWATCH = {
    "cpuUtilization": "CPUUtilization",
    "diskReadRequestCount": "DiskReadOps",
    "diskReadSector": "DiskReadBytes",
    "diskWriteRequestCount": "DiskWriteOps",
    "diskWriteSector": "DiskWriteBytes",
    "nicInputByte": "NetworkIn",
    "nicInputPacket": "NetworkPacketsIn",
    "nicOutputByte": "NetworkOut",
    "nicOutputPacket": "NetworkPacketsOut",
}
STATS = ("Minimum", "Maximum", "Average")
PERIOD = 300
WINDOW = 3600


def _query(instance: str, index: int, name: str, stat: str) -> dict[str, Any]:
    return {
        "Id": f"m{index}_{stat.lower()}",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/EC2",
                "MetricName": CLOUDWATCH[name],
                "Dimensions": [{"Name": "InstanceId", "Value": instance}],
            },
            "Period": PERIOD,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def metrics(ec2: Ec2, instance: str, now: float | None = None) -> list[Metric]:
    if ec2.read("instance", instance) is None:
        raise NotFoundError(f"instance {instance} does not exist", "InvalidInstanceID.NotFound")
    names = list(METRIC_UNITS)
    queries = [_query(instance, i, n, s) for i, n in enumerate(names) for s in STATS]
    end = time.time() if now is None else now
    found: dict[str, dict[str, float]] = {}  # query id -> {timestamp: value}
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(end - WINDOW, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        if token:
            params["NextToken"] = token
        page = ec2.t.call(ec2.t.cloudwatch, "get_metric_data", **params)
        for result in page.get("MetricDataResults") or []:
            into = found.setdefault(result["Id"], {})
            for stamp, value in zip(
                result.get("Timestamps") or [], result.get("Values") or [], strict=False
            ):
                into[_stamp(stamp)] = float(value)
        token = page.get("NextToken")
        if not token:
            break
    out = []
    for i, name in enumerate(names):
        by_stat = {s: found.get(f"m{i}_{s.lower()}", {}) for s in STATS}
        stamps = sorted(set().union(*(v.keys() for v in by_stat.values())))
        samples = tuple(
            Sample(
                stamp,
                by_stat["Minimum"].get(stamp, 0.0),
                by_stat["Maximum"].get(stamp, 0.0),
                by_stat["Average"].get(stamp, 0.0),
            )
            for stamp in stamps
        )
        out.append(Metric(name, METRIC_UNITS[name], samples))
    return out


# DescribeAccountAttributes' names -> the portable quota names
ACCOUNT_LIMITS = {"max-instances": "instances", "max-elastic-ips": "addresses"}


def quotas(ec2: Ec2) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    page = ec2.t.call(ec2.t.ec2, "describe_account_attributes", AttributeNames=list(ACCOUNT_LIMITS))
    for attribute in page.get("AccountAttributes") or []:
        name = ACCOUNT_LIMITS.get(attribute.get("AttributeName", ""))
        values = attribute.get("AttributeValues") or []
        if name and values:
            text = str(values[0].get("AttributeValue", ""))
            found[name] = int(text) if text.isdigit() else None
    return found
