"""The Deltacloud API in front of the EC2 driver, against moto, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from nubes.engine.stack.model import Provider
from nubes.server.config import ServerConfig, token_hash
from tests.server_harness import serve


def test_ec2_through_the_api(tmp_path: Path, aws: str, ami: str, ec2: Any) -> None:
    config = ServerConfig(
        providers={
            "home": Provider("home", "sim", {}),
            "aws": Provider("aws", "ec2", {"region": "us-east-1", "endpoint": aws}),
        },
        default_provider="home",
        tokens={"t": token_hash("tok")},
    )
    server, url = serve(config, tmp_path / "state")
    try:
        with httpx.Client(
            base_url=url,
            headers={"Authorization": "Bearer tok", "Accept": "application/json"},
            timeout=60,
        ) as c:
            realms = c.get("/api;driver=ec2/realms").json()["realms"]
            assert "us-east-1a" in [r["id"] for r in realms]
            entry = c.get("/api", headers={"X-Deltacloud-Driver": "ec2"})
            assert entry.headers["X-Deltacloud-Provider"] == "aws"
            links = entry.json()["api"]["links"]
            features = {f["name"] for link in links for f in link["features"]}
            assert "user_data" in features and "user_name" not in features  # as Deltacloud's
            # a region this server has no provider for is refused at once, not tried
            elsewhere = c.get("/api;driver=ec2;provider=eu-west-9/realms")
            assert elsewhere.status_code == 400 and "eu-west-9" in elsewhere.text
            made = c.post(
                "/api;driver=ec2/instances",
                data={
                    "image_id": ami,
                    "hwp_id": "t3.micro",
                    "realm_id": "us-east-1b",
                    "name": "from-api",
                },
            )
            assert made.status_code == 201, made.text
            vm = made.json()["instance"]
            assert vm["state"] == "RUNNING" and vm["realm"]["id"] == "us-east-1b"
            described = ec2.describe_instances(InstanceIds=[vm["id"]])["Reservations"][0]
            tags = {t["Key"]: t["Value"] for t in described["Instances"][0]["Tags"]}
            assert tags["Name"] == "from-api" and tags["nubes:stack"] == "api"
            stopped = c.post(f"/api;driver=ec2/instances/{vm['id']}/stop")
            assert stopped.status_code == 202 and stopped.json()["instance"]["state"] == "STOPPED"
            key = c.post("/api;driver=ec2/keys", data={"name": "api-key"}).json()["key"]
            assert "BEGIN" in key["pem"]
            everywhere = c.get("/api/clouds/instances").json()["instances"]
            assert {"aws"} <= {i["provider"] for i in everywhere}
            missing = c.get("/api;driver=ec2/instances/i-0123456789abcdef0")
            assert missing.status_code == 404
            bad = c.post(
                "/api;driver=ec2/instances", data={"image_id": ami, "hwp_id": "t9.galactic"}
            )
            assert bad.status_code == 400 and bad.json()["error"]["driver"] == "ec2"
            assert "instance type 't9.galactic' does not exist" in bad.json()["error"]["message"]
            assert c.delete(f"/api;driver=ec2/instances/{vm['id']}").status_code == 204
            assert c.post("/api;driver=ec2/buckets", data={"name": "api-s3"}).status_code == 201
            stored = c.put(
                "/api;driver=ec2/buckets/api-s3/a.txt",
                content=b"on s3",
                headers={"Content-Type": "text/plain", "X-Deltacloud-Blobmeta-Team": "web"},
            )
            assert stored.status_code == 200, stored.text
            got = c.get("/api;driver=ec2/buckets/api-s3/a.txt/content")
            assert got.content == b"on s3"
            # user metadata is the S3 object's own (x-amz-meta-*), read back by HEAD
            assert c.head("/api;driver=ec2/buckets/api-s3/none.txt").status_code == 404
            assert c.get("/api;driver=ec2/buckets/api-s3/none.txt").status_code == 404
            head = c.head("/api;driver=ec2/buckets/api-s3/a.txt")
            assert head.status_code == 204 and head.headers["X-Deltacloud-Blobmeta-team"] == "web"
            changed = c.post(
                "/api;driver=ec2/buckets/api-s3/a.txt", headers={"X-Deltacloud-Blobmeta-Team": "db"}
            )
            assert changed.status_code == 204
            meta = c.get("/api;driver=ec2/buckets/api-s3/a.txt").json()["blob"]
            assert meta["user_metadata"] == {"team": "db"} and meta["content_type"] == "text/plain"
            assert c.get("/api;driver=ec2/buckets/api-s3/a.txt/content").content == b"on s3"
            listed = c.get("/api;driver=ec2/buckets/api-s3").json()["bucket"]["blobs"]
            assert [b["id"] for b in listed] == ["a.txt"]
            assert c.delete("/api;driver=ec2/buckets/api-s3/a.txt").status_code == 204
            assert c.delete("/api;driver=ec2/buckets/api-s3").status_code == 204
            assert c.delete(f"/api;driver=ec2/keys/{key['id']}").status_code == 204
    finally:
        server.should_exit = True
