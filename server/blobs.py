"""Deltacloud's blobs: the objects inside buckets, where the driver stores any."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from providers.protocol import Blob, BlobStore
from server import views
from server.http import ApiError, form


def blob_view(base: str, b: Blob) -> dict[str, Any]:
    href = f"{base}/buckets/{b.bucket}/{b.key}"
    return {
        "id": b.key,
        "href": href,
        "bucket": views.link(base, "buckets", b.bucket),
        "content_length": b.size,
        "content_type": b.content_type,
        "last_modified": b.modified,
        "content": {"id": b.key, "href": f"{href}/content"},
    }


def register_blob_routes(app: FastAPI, h: Any) -> None:
    def store(request: Request) -> BlobStore:
        driver = h.driver(request)
        if not isinstance(driver, BlobStore):
            raise ApiError(
                501, f"the {request.scope['state']['provider']} provider stores no blobs"
            )
        return driver

    @app.get("/api/buckets/{bucket}")
    async def bucket_show(request: Request, bucket: str) -> Response:
        h.supports(request, "bucket")
        obj = h.driver(request).read("bucket", bucket)
        if obj is None:
            raise ApiError(404, f"bucket {bucket} not found")
        base = h.base(request)
        view = views.bucket(base, obj)
        if isinstance(h.driver(request), BlobStore):
            blobs = store(request).list_blobs(bucket)
            view["size"] = len(blobs)
            view["blobs"] = [
                {"id": b.key, "href": f"{base}/buckets/{bucket}/{b.key}"} for b in blobs
            ]
        return h.single(request, "buckets", view)

    @app.post(
        "/api/buckets/{bucket}",
        status_code=201,
        openapi_extra=form("blob_id", optional=("blob_data", "content_type")),
    )
    async def blob_create(request: Request, bucket: str) -> Response:
        params = await h.params(request)
        if not params.get("blob_id"):
            raise ApiError(400, "blob_id is required to create a blob")
        data = str(params.get("blob_data", "")).encode()
        kind = str(params.get("content_type") or "application/octet-stream")
        made = store(request).put_blob(bucket, str(params["blob_id"]), data, kind)
        view = blob_view(h.base(request), made)
        return h.single(request, "blobs", view, 201, {"Location": view["href"]})

    @app.put("/api/buckets/{bucket}/{blob}", status_code=201)
    async def blob_put(request: Request, bucket: str, blob: str) -> Response:
        data = await request.body()
        kind = request.headers.get("content-type") or "application/octet-stream"
        made = store(request).put_blob(bucket, blob, data, kind)
        view = blob_view(h.base(request), made)
        return h.single(request, "blobs", view, 201, {"Location": view["href"]})

    @app.get("/api/buckets/{bucket}/{blob}")
    async def blob_show(request: Request, bucket: str, blob: str) -> Response:
        found = store(request).get_blob(bucket, blob)
        if found is None:
            raise ApiError(404, f"bucket {bucket} has no blob {blob}")
        return h.single(request, "blobs", blob_view(h.base(request), found[0]))

    @app.get("/api/buckets/{bucket}/{blob}/content")
    async def blob_content(request: Request, bucket: str, blob: str) -> Response:
        found = store(request).get_blob(bucket, blob)
        if found is None:
            raise ApiError(404, f"bucket {bucket} has no blob {blob}")
        meta, data = found
        return Response(
            data,
            media_type=meta.content_type,
            headers={"Content-Disposition": f'attachment; filename="{blob}"'},
        )

    @app.delete("/api/buckets/{bucket}/{blob}", status_code=204)
    async def blob_destroy(request: Request, bucket: str, blob: str) -> Response:
        if store(request).get_blob(bucket, blob) is None:
            raise ApiError(404, f"bucket {bucket} has no blob {blob}")
        store(request).delete_blob(bucket, blob)
        return Response(status_code=204)
