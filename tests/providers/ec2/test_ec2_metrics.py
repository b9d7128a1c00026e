"""An EC2 instance's CloudWatch metrics read back under Deltacloud's names, on moto."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from nubes.providers.ec2 import Ec2Driver
from nubes.providers.errors import NotFoundError
from nubes.providers.protocol import DriverContext, Ownership


def test_cloudwatch_samples_come_back_per_period(
    tmp_path: Path, aws: str, ami: str, ec2: Any
) -> None:
    driver = Ec2Driver()
    assert driver.configure({"endpoint": aws}, DriverContext(tmp_path, {})) == []
    vm = driver.create(
        "instance", {"image": ami, "size": "t3.micro"}, Ownership("s", "vm", "token-vm")
    )
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=aws)
    period = int(time.time() // 300) * 300 - 600  # two whole 5-minute periods ago
    for value in (10.0, 30.0):
        cloudwatch.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "InstanceId", "Value": vm.id}],
                    "Timestamp": datetime.fromtimestamp(period + 30, UTC),
                    "Value": value,
                    "Unit": "Percent",
                }
            ],
        )
    got = {m.name: m for m in driver.metrics(vm.id)}
    cpu = got["cpuUtilization"]
    assert cpu.unit == "Percent" and len(cpu.samples) == 1
    sample = cpu.samples[0]
    assert (sample.minimum, sample.maximum, sample.average) == (10.0, 30.0, 20.0)
    assert got["nicInputByte"].unit == "Bytes" and got["nicInputByte"].samples == ()
    with pytest.raises(NotFoundError):
        driver.metrics("i-0123456789abcdef0")
