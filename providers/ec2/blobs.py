"""S3 objects as Deltacloud's blobs, streamed both ways (the driver's BlobStore methods)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from nubes.providers.ec2.transport import Transport
from nubes.providers.errors import InvalidRequestError, NotFoundError
from nubes.providers.protocol import Blob


def _blob(
    bucket: str,
    key: str,
    size: int,
    kind: str,
    modified: Any,
    metadata: Mapping[str, str] | None = None,
) -> Blob:
    stamp = (
        modified.strftime("%Y-%m-%dT%H:%M:%SZ")
        if hasattr(modified, "strftime")
        else str(modified or "")
    )
    return Blob(
        bucket, key, int(size or 0), kind or "application/octet-stream", stamp, dict(metadata or {})
    )


class S3Blobs:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def list_blobs(self, bucket: str) -> builtins.list[Blob]:
        return [
            _blob(bucket, o["Key"], o.get("Size", 0), "", o.get("LastModified"))
            for o in self.t.pages(self.t.s3, "list_objects_v2", "Contents", Bucket=bucket)
        ]

    def put_blob(
        self,
        bucket: str,
        key: str,
        data: BinaryIO,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        """S3's managed upload: multipart past a few MB, so memory stays flat. User metadata
        becomes the object's x-amz-meta-* (S3 keeps names in lower case)."""
        self.t.upload(bucket, key, data, content_type, metadata)
        found = self.blob_info(bucket, key)
        if found is None:
            raise NotFoundError(f"blob {key} vanished right after it was written")
        return found

    def blob_info(self, bucket: str, key: str) -> Blob | None:
        try:
            got = self.t.call(self.t.s3, "head_object", Bucket=bucket, Key=key)
        except (NotFoundError, InvalidRequestError) as exc:
            if isinstance(exc, NotFoundError) or exc.code == "404":  # HEAD's bare 404
                return None
            raise
        return _blob(
            bucket,
            key,
            got.get("ContentLength", 0),
            got.get("ContentType", ""),
            got.get("LastModified"),
            got.get("Metadata") or {},
        )

    def set_blob_metadata(self, bucket: str, key: str, metadata: Mapping[str, str]) -> Blob | None:
        """S3 replaces an object's metadata only by copying the object onto itself."""
        current = self.blob_info(bucket, key)
        if current is None:
            return None
        self.t.call(
            self.t.s3,
            "copy_object",
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key},
            Metadata=dict(metadata),
            MetadataDirective="REPLACE",
            ContentType=current.content_type,
        )
        return self.blob_info(bucket, key)

    def open_blob(self, bucket: str, key: str) -> tuple[Blob, Iterator[bytes]] | None:
        try:
            got = self.t.call(self.t.s3, "get_object", Bucket=bucket, Key=key)
        except NotFoundError:
            return None
        info = _blob(
            bucket,
            key,
            got.get("ContentLength", 0),
            got.get("ContentType", ""),
            got.get("LastModified"),
        )
        return info, got["Body"].iter_chunks(1024 * 1024)

    def delete_blob(self, bucket: str, key: str) -> None:
        self.t.call(self.t.s3, "delete_object", Bucket=bucket, Key=key)
