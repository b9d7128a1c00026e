"""Deltacloud's blobs: the objects inside buckets, where the driver stores any.

Contents stream: an upload is spooled (in memory up to 1 MB, then on disk) as it arrives, within
the server's blob limit, and handed to the driver as a file; a download is sent chunk by chunk as
the driver reads it. Listing a bucket reads no content.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile as StarletteUpload

from nubes.providers.protocol import Blob, BlobStore
from nubes.server import views
from nubes.server.calls import AsyncDriver
from nubes.server.http import ApiError, api_base, bad_text, form
from nubes.server.models import shown
from nubes.server.respond import (
    check_param,
    provider_driver,
    request_format,
    request_params,
    single,
    supports,
)

SPOOL_IN_MEMORY = 1024 * 1024


def blob_view(base: str, b: Blob) -> dict[str, Any]:
    href = views.href_of(base, "buckets", b.bucket, b.key)
    return {
        "id": b.key,
        "href": href,
        "bucket": views.link(base, "buckets", b.bucket),
        "content_length": b.size,
        "content_type": b.content_type,
        "last_modified": b.modified,
        "user_metadata": dict(b.metadata),
        "content": {"id": b.key, "href": f"{href}/content"},
    }


META_HEADER = "x-deltacloud-blobmeta-"
# entries of a blob's user metadata: they come back as headers, and common clients (Python's
# http.client) take at most 100 headers in an answer
MAX_META = 64
MAX_META_VALUE = 1024  # characters, as any other parameter (form fields are held to it too)


def header_metadata(request: Request) -> dict[str, str]:
    """The user metadata a request sends as X-Deltacloud-Blobmeta-NAME: VALUE headers."""
    found = {
        k[len(META_HEADER) :]: v
        for k, v in request.headers.items()
        if k.lower().startswith(META_HEADER) and len(k) > len(META_HEADER)
    }
    return _checked_metadata(found)


def _checked_metadata(found: dict[str, str]) -> dict[str, str]:
    if len(found) > MAX_META:
        raise ApiError(400, f"a blob takes at most {MAX_META} metadata entries")
    checked: dict[str, str] = {}
    for name, value in found.items():
        # they travel back as X-Deltacloud-Blobmeta-NAME: VALUE headers, and S3 keeps them as
        # x-amz-meta-*: a name is an HTTP token (in lower case, as headers arrive), a value
        # printable ASCII that a header can carry as it is (no space at either end)
        problem = bad_text(value) or not _TOKEN.fullmatch(name) or not value.isascii()
        if problem or value != value.strip() or len(name) > 128 or len(value) > MAX_META_VALUE:
            raise ApiError(
                400,
                f"blob metadata {name[:40]!r}: a name is 1-128 letters, digits or "
                f"!#$%&'*+-.^_`|~, a value up to {MAX_META_VALUE:,} printable ASCII characters "
                "with no space at either end",
            )
        checked[name.lower()] = value
    return checked


def checked_content_type(kind: str) -> str:
    """A media type a Content-Type header can carry back (`type/subtype`, parameters)."""
    if not _MEDIA.fullmatch(kind) or len(kind) > 256:
        raise ApiError(400, f"content_type {kind[:60]!r} is not a media type (type/subtype)")
    return kind


_MEDIA = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+(;[\x20-\x7e]*)?")


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def metadata_headers(blob: Blob) -> dict[str, str]:
    return {f"X-Deltacloud-Blobmeta-{k}": v for k, v in blob.metadata.items()}


def attachment(name: str) -> str:
    """A Content-Disposition naming the file: an ASCII fallback with quotes and backslashes
    removed, and the exact name percent-encoded (RFC 6266), so no name can end the header or
    add one."""
    plain = re.sub(r'[^\x20-\x7e]|["\\]', "_", name) or "blob"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _checked_name(what: str, name: str) -> str:
    problem = bad_text(name)
    if problem:
        raise ApiError(400, f"the {what} name {problem}")
    if "/" in name:  # its URL could never address it again (%2F is a path separator)
        raise ApiError(400, f"a {what} name may not hold a /")
    if not name or len(name) > 1024:
        raise ApiError(400, f"a {what} name is 1 to 1,024 characters")
    return name


router = APIRouter()


def _store(request: Request) -> AsyncDriver:
    driver: AsyncDriver = provider_driver(request)
    if not isinstance(driver.raw, BlobStore):
        raise ApiError(501, f"the {request.scope['state']['provider']} provider stores no blobs")
    return driver


@router.get("/api/buckets/{bucket}", responses=shown("buckets"))
async def bucket_show(request: Request, bucket: str) -> Response:
    supports(request, "bucket")
    obj = await provider_driver(request).read("bucket", bucket)
    if obj is None:
        raise ApiError(404, f"bucket {bucket} not found")
    base = api_base(request)
    view = views.bucket(base, obj)
    if isinstance(provider_driver(request).raw, BlobStore):
        blobs = await _store(request).list_blobs(bucket)
        view["size"] = len(blobs)
        view["blobs"] = [
            {"id": b.key, "href": views.href_of(base, "buckets", bucket, b.key)} for b in blobs
        ]
    return single(request_format(request), "buckets", view)


@router.post(
    "/api/buckets/{bucket}",
    status_code=201,
    openapi_extra=form("blob_id", optional=("blob_data", "content_type")),
    responses=shown("blobs", 201),
)
async def blob_create(request: Request, bucket: str) -> Response:
    """A blob from a form (Deltacloud's blob_id and blob_data, the data a text field or, as its
    clients and browsers send it, a multipart file part; metadata as meta_params with
    meta_nameN/meta_valueN, or X-Deltacloud-Blobmeta-* headers)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=2 * MAX_META + 8) as fields:
            params = {k: check_param(k, v) for k, v in fields.items() if isinstance(v, str)}
            part = fields.get("blob_data")
            if isinstance(part, StarletteUpload):
                kind = params.get("content_type") or part.content_type or DEFAULT_TYPE
                return await _created(request, bucket, params, part.file, kind)
            return await _created(request, bucket, params, None, None)
    return await _created(request, bucket, await request_params(request), None, None)


DEFAULT_TYPE = "application/octet-stream"


async def _created(
    request: Request,
    bucket: str,
    params: dict[str, str],
    data: BinaryIO | None,
    kind: str | None,
) -> Response:
    if not params.get("blob_id"):
        raise ApiError(400, "blob_id is required to create a blob")
    name = _checked_name("blob", str(params["blob_id"]))
    metadata = {**header_metadata(request), **_form_metadata(params)}
    driver = _store(request)
    if data is not None:
        kind = checked_content_type(kind or DEFAULT_TYPE)
        made = await driver.put_blob(bucket, name, data, kind, metadata)
    else:
        kind = checked_content_type(str(params.get("content_type") or DEFAULT_TYPE))
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
            spool.write(str(params.get("blob_data", "")).encode())
            spool.seek(0)
            made = await driver.put_blob(bucket, name, spool, kind, metadata)
    view = blob_view(api_base(request), made)
    return single(request_format(request), "blobs", view, 201, {"Location": view["href"]})


def _form_metadata(params: dict[str, str]) -> dict[str, str]:
    """Deltacloud's form metadata: meta_params=N, then meta_name1..N and meta_value1..N."""
    count = params.get("meta_params") or "0"
    if not (count.isascii() and count.isdecimal() and len(count) <= 3) or int(count) > MAX_META:
        raise ApiError(400, f"meta_params must be a whole number up to {MAX_META}")
    found = {}
    for i in range(1, int(count) + 1):
        name = params.get(f"meta_name{i}")
        if name:
            found[name] = params.get(f"meta_value{i}", "")
    return _checked_metadata(found)


@router.put(
    "/api/buckets/{bucket}/{blob}",
    status_code=200,  # as Deltacloud: a PUT answers 200 with the blob
    responses={
        **shown("blobs"),
        # nubes 0.1 answered 201; Deltacloud and nubes now 200 (kept so no document shrinks)
        201: {**shown("blobs", 201)[201], "description": "not sent any more"},
    },
)
async def blob_put(request: Request, bucket: str, blob: str) -> Response:
    name = _checked_name("blob", blob)
    kind = checked_content_type(request.headers.get("content-type") or DEFAULT_TYPE)
    driver = _store(request)
    metadata = header_metadata(request)
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
        async for chunk in request.stream():  # counted against the limit as it arrives
            spool.write(chunk)
        spool.seek(0)
        made = await driver.put_blob(bucket, name, spool, kind, metadata)
    view = blob_view(api_base(request), made)
    return single(request_format(request), "blobs", view, 200, {"Location": view["href"]})


@router.head(
    "/api/buckets/{bucket}/{blob}",
    status_code=204,
    responses={404: {"description": "no such blob"}},
)
async def blob_metadata(request: Request, bucket: str, blob: str) -> Response:
    """Deltacloud's metadata action: 204, the user metadata as X-Deltacloud-Blobmeta-*."""
    found = await _store(request).blob_info(bucket, blob)
    if found is None:
        raise ApiError(404, f"bucket {bucket} has no blob {blob}")
    return Response(status_code=204, headers=metadata_headers(found))


@router.post("/api/buckets/{bucket}/{blob}", status_code=204)
async def blob_update_metadata(request: Request, bucket: str, blob: str) -> Response:
    """Deltacloud's update action: the headers' metadata replaces the blob's; 204 with it."""
    updated = await _store(request).set_blob_metadata(bucket, blob, header_metadata(request))
    if updated is None:
        raise ApiError(404, f"bucket {bucket} has no blob {blob}")
    return Response(status_code=204, headers=metadata_headers(updated))


@router.get("/api/buckets/{bucket}/{blob}", responses=shown("blobs"))
async def blob_show(request: Request, bucket: str, blob: str) -> Response:
    found = await _store(request).blob_info(bucket, blob)
    if found is None:
        raise ApiError(404, f"bucket {bucket} has no blob {blob}")
    return single(request_format(request), "blobs", blob_view(api_base(request), found))


@router.get("/api/buckets/{bucket}/{blob}/content")
async def blob_content(request: Request, bucket: str, blob: str) -> Response:
    found = await _store(request).open_blob(bucket, blob)
    if found is None:
        raise ApiError(404, f"bucket {bucket} has no blob {blob}")
    meta, chunks = found
    driver = _store(request)

    async def content() -> AsyncIterator[bytes]:
        # each chunk read in the provider's own pool, a chunk at a time
        while True:
            chunk = await driver.next_chunk(chunks)
            if chunk is None:
                return
            yield chunk

    return StreamingResponse(
        content(),
        media_type=meta.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": attachment(blob),
            "Content-Length": str(meta.size),
        },
    )


@router.delete("/api/buckets/{bucket}/{blob}", status_code=204)
async def blob_destroy(request: Request, bucket: str, blob: str) -> Response:
    if await _store(request).blob_info(bucket, blob) is None:
        raise ApiError(404, f"bucket {bucket} has no blob {blob}")
    await _store(request).delete_blob(bucket, blob)
    return Response(status_code=204)
