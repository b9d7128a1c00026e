"""Tags on EC2 objects (create_tags, delete_tags) and on S3 buckets (the bucket's tag set, which
S3 replaces whole): one interface, so that retagging, import's claim and state rm's release are
written once for every type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from nubes.providers.ec2 import converters as conv
from nubes.providers.ec2.context import Ec2


class Tagger(Protocol):
    def current(self, id: str) -> dict[str, str]: ...

    def add(self, id: str, tags: Mapping[str, str]) -> None: ...

    def remove(self, id: str, keys: Iterable[str]) -> None: ...


class Ec2Tags:
    def __init__(self, ec2: Ec2, type: str) -> None:
        self.ec2 = ec2
        self.type = type

    def current(self, id: str) -> dict[str, str]:
        found = self.ec2.read(self.type, id)
        return dict(found.tags) if found is not None else {}

    def add(self, id: str, tags: Mapping[str, str]) -> None:
        if tags:
            target = self.ec2.tag_target(self.type, id)
            self.ec2.t.call(
                self.ec2.t.ec2, "create_tags", Resources=[target], Tags=conv.tag_list(tags)
            )

    def remove(self, id: str, keys: Iterable[str]) -> None:
        listed = [{"Key": k} for k in keys]
        if listed:
            target = self.ec2.tag_target(self.type, id)
            self.ec2.t.call(self.ec2.t.ec2, "delete_tags", Resources=[target], Tags=listed)


class BalancerTags(Ec2Tags):
    """ELB tags a load balancer by its name, with its own calls."""

    def __init__(self, ec2: Ec2) -> None:
        super().__init__(ec2, "load_balancer")

    def add(self, id: str, tags: Mapping[str, str]) -> None:
        if tags:
            self.ec2.t.call(
                self.ec2.t.elb, "add_tags", LoadBalancerNames=[id], Tags=conv.tag_list(tags)
            )

    def remove(self, id: str, keys: Iterable[str]) -> None:
        listed = [{"Key": k} for k in keys]
        if listed:
            self.ec2.t.call(self.ec2.t.elb, "remove_tags", LoadBalancerNames=[id], Tags=listed)


class BucketTags:
    """S3 keeps one tag set per bucket: every change writes the whole set."""

    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def current(self, id: str) -> dict[str, str]:
        return self.ec2.bucket_tags(id)

    def _put(self, id: str, tags: Mapping[str, str]) -> None:
        self.ec2.t.call(
            self.ec2.t.s3, "put_bucket_tagging", Bucket=id, Tagging={"TagSet": conv.tag_list(tags)}
        )

    def add(self, id: str, tags: Mapping[str, str]) -> None:
        self._put(id, {**self.current(id), **tags})

    def remove(self, id: str, keys: Iterable[str]) -> None:
        gone = set(keys)
        self._put(id, {k: v for k, v in self.current(id).items() if k not in gone})
