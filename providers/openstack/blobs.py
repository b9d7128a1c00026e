"""Swift objects as the REST API's blobs: listed, written with their metadata
(X-Object-Meta-*), read as a stream, and deleted."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote

import httpx

from nubes.providers.errors import NotFoundError
from nubes.providers.kit.http import HttpTransport
from nubes.providers.openstack.context import OpenStack
from nubes.providers.openstack.converters import ascii_header
from nubes.providers.openstack.errors import fault
from nubes.providers.protocol import Blob

META = "x-object-meta-"


def _path(bucket: str, key: str = "") -> str:
    return "/" + quote(bucket, safe="") + ("/" + quote(key, safe="/") if key else "")


def _modified(text: str | None) -> str:
    if not text:
        return ""
    try:
        return parsedate_to_datetime(text).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return str(text)[:19] + "Z" if "T" in str(text) else str(text)


def _info(bucket: str, key: str, headers: httpx.Headers) -> Blob:
    metadata = {k[len(META) :]: v for k, v in headers.items() if k.lower().startswith(META)}
    return Blob(
        bucket,
        key,
        int(headers.get("content-length") or 0),
        headers.get("content-type") or "application/octet-stream",
        _modified(headers.get("last-modified")),
        metadata,
    )


class SwiftBlobs:
    def __init__(self, os: OpenStack) -> None:
        self.os = os

    @property
    def swift(self) -> HttpTransport:
        return self.os.service("object-store")

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        found: builtins.list[Blob] = []
        marker = ""
        while True:  # pages end with an empty one: the page size is the server's to choose
            params = {"format": "json", "marker": marker, "limit": 10000}
            page = self.swift.json("GET", _path(bucket), params=params) or []
            if not page:
                return found
            found += [
                Blob(
                    bucket,
                    o["name"],
                    int(o.get("bytes") or 0),
                    o.get("content_type") or "",
                    _modified(o.get("last_modified")),
                )
                for o in page
                if "name" in o
            ]
            marker = page[-1].get("name") or page[-1].get("subdir") or ""

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        headers = {
            "Content-Type": content_type or "application/octet-stream",
            **{f"X-Object-Meta-{k}": ascii_header(k, str(v)) for k, v in (metadata or {}).items()},
        }
        # read whole so that a retried PUT sends the same bytes (Swift's single-object limit
        # is 5 GiB; larger ones need its segmented uploads, not offered here)
        self.swift.request("PUT", _path(bucket, key), content=data.read(), headers=headers)
        found = self.blob_info(bucket, key)
        if found is None:
            raise NotFoundError(f"blob {key} vanished right after it was written")
        return found

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        try:
            answer = self.swift.request("HEAD", _path(bucket, key))
        except NotFoundError:
            return None
        return _info(bucket, key, answer.headers)

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        """Swift's POST replaces an object's metadata in place."""
        current = self.blob_info(bucket, key)
        if current is None:
            return None
        headers = {
            "Content-Type": current.content_type,
            **{f"X-Object-Meta-{k}": ascii_header(k, str(v)) for k, v in metadata.items()},
        }
        self.swift.request("POST", _path(bucket, key), headers=headers)
        return self.blob_info(bucket, key)

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        swift = self.swift
        request = swift.client.build_request(
            "GET", swift.url(_path(bucket, key)), headers=swift.headers
        )
        swift.auth.sign(request)
        response = swift.client.send(request, stream=True)
        if response.status_code == 404:
            response.close()
            return None
        if response.status_code >= 400:
            response.read()
            raise fault(response)

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(1024 * 1024)
            finally:
                response.close()

        return _info(bucket, key, response.headers), chunks()

    def delete_blob(self, bucket: str, key: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.swift.request("DELETE", _path(bucket, key))
