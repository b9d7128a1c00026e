"""Deltacloud mock driver's starting objects (its `data/` fixtures), for `nubes serve --seed
mock`: the ids, names and properties its users' scripts name. Seeding adds what is missing and
leaves what is there, so a restarted server keeps the changes its clients made."""

from __future__ import annotations

import io
import time
from typing import Any

from nubes.providers.sim.cloud import SimCloud
from nubes.providers.sim.store import Row

FINGERPRINT = "5e:ce:b6:dc:59:3b:5c:93:f8:2e:9d:20:ce:60:ca:f5:0b:8a:66:93"
CREATED = time.mktime((2009, 7, 30, 14, 35, 11, 0, 0, 0))


def _instance(name: str, image: str, profile: str, realm: str, cpus: float, memory: float,
              host: str, owner: str = "mockuser") -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "image": image,
        "image_id": image,
        "size": profile,
        "hardware_profile": profile,
        "cpus": cpus,
        "memory_gb": memory,
        "realm": realm,
        "key": None,
        "firewalls": [],
        "user_data": None,
        "state": "running",
        "ready_at": 0,
        "public_ip": f"{host}.public.com",
        "private_ip": f"{host}.private.com",
        "subnet": None,
        "owner": owner,
        "launched_at": "2012-10-25T12:27:53Z",
    }


OBJECTS: list[tuple[str, str, dict[str, Any]]] = [
    ("instance", "inst0", _instance("Mock Instance With Profile Change", "img1", "m1-large",
                                    "us", 1, 12, "img1.inst0")),
    ("instance", "inst1", _instance("MockUserInstance", "img3", "m1-small", "us", 1, 1.7,
                                    "img1.inst1")),
    ("instance", "inst2", _instance("AnotherInstance", "img1", "m1-large", "us", 1, 7.5,
                                    "img1.inst2", "anotheruser")),
    ("instance", "inst3", _instance("inst3", "img3", "m1-small", "eu", 1, 1.7, "img3.inst3")),
    ("key", "test-key", {"name": "test-key", "public_key": None, "private_key": None,
                         "fingerprint": FINGERPRINT}),
    ("volume", "vol1", {"name": "vol1", "size_gb": 1, "realm": "us", "instance": None,
                        "device": None, "state": "available", "data": ""}),
    ("volume", "vol2", {"name": "vol2", "size_gb": 1, "realm": "us", "instance": None,
                        "device": None, "state": "available", "data": ""}),
    ("volume", "vol3", {"name": "vol3", "size_gb": 1, "realm": "us", "instance": "inst1",
                        "device": "/dev/sda1", "state": "in-use", "data": ""}),
    ("snapshot", "snap1", {"name": "snap1", "volume": "vol1", "size_gb": 1,
                           "state": "completed", "data": ""}),
    ("snapshot", "snap2", {"name": "snap2", "volume": "vol2", "size_gb": 1,
                           "state": "completed", "data": ""}),
    ("snapshot", "snap3", {"name": "snap3", "volume": "vol2", "size_gb": 1,
                           "state": "completed", "data": ""}),
    *[("address", f"192.168.0.{n}", {"ip": f"192.168.0.{n}", "instance": None})
      for n in range(1, 5)],
    ("bucket", "bucket1", {"name": "bucket1"}),
    ("bucket", "bucket2", {"name": "bucket2"}),
    ("network", "net1", {"name": "network1", "address_block": "192.168.0.0/16",
                         "state": "available"}),
    ("network", "net2", {"name": "network2", "address_block": "10.0.0.0/8",
                         "state": "available"}),
    ("subnet", "subnet1", {"name": "subnet1", "network": "net1",
                           "address_block": "192.168.1.0/24", "realm": "us", "state": "available"}),
    ("subnet", "subnet2", {"name": "subnet2", "network": "net1",
                           "address_block": "192.168.2.0/24", "realm": "us", "state": "available"}),
    ("subnet", "subnet3", {"name": "subnet3", "network": "net2",
                           "address_block": "10.1.0.0/16", "realm": "us", "state": "available"}),
    ("subnet", "subnet4", {"name": "subnet4", "network": "net2",
                           "address_block": "10.2.0.0/16", "realm": "us", "state": "available"}),
    ("network_interface", "nic1", {"name": "nic1", "instance": "inst1", "subnet": "subnet1",
                                   "ip_address": "192.168.1.2"}),
    ("network_interface", "nicinst3", {"name": "nicinst3", "instance": "inst3",
                                       "subnet": "subnet2", "ip_address": "192.168.2.189"}),
]  # fmt: skip

# (bucket, blob, content type, user metadata, content)
BLOBS = [
    ("bucket1", "blob1", "text/plain", {"somenewkey": "NEWVALUE"}, b"content of blob 1"),
    ("bucket1", "blob2", "text/html", {"version": "1.2"},
     b"<html><head></head><body>content of blob 2</body></html>"),
    ("bucket1", "blob3", "text/plain", {}, b"content of blob 3"),
    ("bucket2", "blob4", "application/octet-stream", {"some": "value"}, b"content of blob 4"),
    ("bucket2", "blob5", "application/pdf", {}, b"content of blob 5"),
]  # fmt: skip


def seed_mock(cloud: SimCloud) -> int:
    """Add Deltacloud mock's fixtures to `cloud` where missing; how many objects it added."""
    added = 0
    store = cloud.store
    with store.transaction():
        for type, id, attrs in OBJECTS:
            if store.get(id) is None:
                store.insert(Row(id, type, cloud.region, dict(attrs), {}, CREATED))
                added += 1
    for bucket, key, kind, meta, content in BLOBS:
        if not store.blob_list(bucket, key):
            store.put_blob(bucket, key, io.BytesIO(content), kind, meta)
            added += 1
    return added
