"""The shared record over REST: parse, call `services.records`, render.

| interaction | what |
| --- | --- |
| `POST /fhir` (transaction) | IHE MHD ITI-65, recognised by the Repository's bundle handler |
| `GET /fhir/List?code=…submissionset` | ITI-66 (an ordinary search; MHD parameters added) |
| `GET /fhir/DocumentReference?…` | ITI-67 (an ordinary search) |
| `GET /fhir/Binary/[id]` | ITI-68: the document's own bytes, streamed from the blob store with its Content-Type; the Binary resource (base64 `data`) when the client accepts FHIR JSON |
| `POST /fhir/Binary` with a non-FHIR Content-Type | raw upload, streamed to the blob store (large documents); `X-Security-Context` sets `securityContext` |
| `POST /fhir/DocumentReference/[id]/$visibility` | set/clear DMP visibility codes (Parameters `add`, `remove`: valueCode) |
| `POST /fhir/DocumentReference/[id]/$logical-delete` | PDSm logical deletion, propagated to the replaced fiches |
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from hygie.fhir.outcome import FhirError
from hygie.rest import negotiation
from hygie.rest.http import Request, Response, StreamedUpload, json_body
from hygie.rest.interactions import etag_version, resource_headers, write_response
from hygie.rest.operations import INSTANCE, OpParams, json_response
from hygie.services import records
from hygie.services.records import documents, lifecycle
from hygie.services.records.binary import (
    BLOB_TRUSTED,
    blob_ref,
    format_check,
    media_type,
    with_blob,
)
from hygie.store import Context, WriteResult
from hygie.store.blobs import BlobTooLarge

if TYPE_CHECKING:
    from hygie.rest.app import FhirApp

_FHIR_JSON = ("application/fhir+json", "application/json+fhir", "application/json")


def wants_resource(req: Request) -> bool:
    """FHIR JSON asked for (http.html#binary): otherwise a Binary read answers its own bytes."""
    fmt = req.param("_format")
    if fmt is not None:
        return True
    accept = (req.header("accept") or "").lower()
    return any(m in accept for m in _FHIR_JSON)


class RecordsOperations:
    def __init__(self, app: FhirApp, service: records.Records) -> None:
        self.app = app
        self.service = service
        self.repo = service.repo

    # -- routing of Binary ---------------------------------------------------------------------
    def route_binary(self, method: str, seg: list[str], ctx: Context, req: Request) -> Any:
        n = len(seg)
        if n == 2 and method == "GET" and not seg[1].startswith(("$", "_")):
            rid = seg[1]
            return (lambda: self.read_binary(ctx, req, rid)), False
        if n == 1 and method == "POST" and media_type(req.header("content-type")) not in _FHIR_JSON:
            return StreamedUpload(lambda r: self.upload(ctx, r)), False
        return None

    # -- ITI-68 --------------------------------------------------------------------------------
    def read_binary(self, ctx: Context, req: Request, rid: str) -> Response:
        stored = self.repo.read(ctx, "Binary", rid)  # the access policy decides here
        binary = stored.resource()
        self._check_document_alive(binary, rid)
        ref = blob_ref(binary)
        headers = resource_headers(stored)
        if wants_resource(req):
            if ref is not None:
                limit = self.service.settings.max_json_binary
                if ref.size > limit:
                    raise FhirError(
                        422,
                        f"Binary/{rid} holds {ref.size} bytes, over the {limit} bytes served as base64"
                        f" in FHIR JSON; ask for its own type (Accept: {binary.get('contentType')})",
                        "too-costly",
                    )
                content = self.service.blobs.read_all(ref.sha256, limit)
                binary = {k: v for k, v in binary.items()}
                binary["data"] = base64.b64encode(content).decode()
            return Response(200, orjson.dumps(binary), headers)
        media = str(binary.get("contentType") or "application/octet-stream")
        headers["Content-Type"] = media
        headers["X-Content-Type-Options"] = "nosniff"
        if ref is None:
            body = base64.b64decode(binary.get("data") or "")
            return Response(200, body, headers, None)
        headers["Content-Length"] = str(ref.size)
        blobs = self.service.blobs
        path = blobs.local_path(ref.sha256)
        if path is None:
            chunks = blobs.open(ref.sha256)  # opened here: a missing blob is a 500 now
            return Response(200, b"", headers, None, stream=_drain(chunks))
        # RSGI sends the file itself; ASGI servers get the chunks (with their flow control)
        return Response(200, b"", headers, None, stream=_drain_later(blobs, ref.sha256), file=path)

    def _check_document_alive(self, binary: dict[str, Any], rid: str) -> None:
        """The document of a deleted fiche is no longer accessible (PDSm)."""
        ref = str((binary.get("securityContext") or {}).get("reference") or "")
        if ref.startswith("DocumentReference/"):
            try:
                doc = self.repo.read(Context.system(), "DocumentReference", ref.split("/", 1)[1])
            except FhirError:
                return
            if documents.is_deleted(doc.resource()):
                raise FhirError(404, f"Binary/{rid} belongs to a deleted document", "not-found")

    # -- raw upload ----------------------------------------------------------------------------
    async def upload(self, ctx: Context, req: Request) -> Response:
        settings = self.service.settings
        raw_type = req.header("content-type")
        media = media_type(raw_type)
        if not media:
            raise FhirError(415, "a raw Binary upload needs a Content-Type", "not-supported")
        if not settings.accepts(media):
            raise FhirError(415, f"documents of type '{media}' are not accepted", "not-supported")
        length = req.header("content-length")
        if length and length.isdigit() and int(length) > settings.max_document:
            raise FhirError(
                413, f"document over the limit of {settings.max_document} bytes", "too-costly"
            )
        self.repo._guard(ctx, "create", "Binary", None)  # refuse before storing any byte
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.app.executor, self.service.provide.ensure_params)
        if req.stream_body is None:
            raise FhirError(500, "this server interface cannot stream request bodies", "exception")
        body = _chunks(req.stream_body())
        verify = format_check(media, "Binary")
        try:
            info = await self.service.blobs.put_async(
                body, limit=settings.max_document, verify=verify
            )
        except BlobTooLarge as exc:
            # read (and drop) what the client is still sending, within reason, so that it
            # receives the 413 instead of a connection reset
            drained = 0
            async for chunk in body:
                drained += len(chunk)
                if drained > _DRAIN_LIMIT:
                    break
            raise FhirError(
                413, f"document over the limit of {exc.limit} bytes", "too-costly"
            ) from None
        binary: dict[str, Any] = {"resourceType": "Binary", "contentType": raw_type}
        if sc := req.header("x-security-context"):
            binary["securityContext"] = {"reference": sc}
        binary = with_blob(binary, info)
        trusted = dataclasses.replace(ctx, attributes={**ctx.attributes, BLOB_TRUSTED: True})
        result = await loop.run_in_executor(
            self.app.executor, lambda: self.repo.create(trusted, binary, rtype="Binary")
        )
        return write_response(req, result)

    # -- lifecycle operations ------------------------------------------------------------------
    def visibility(self, ctx: Context, req: Request, _t: str | None, rid: str | None) -> Response:
        p = OpParams(req)
        stored = lifecycle.set_visibility(
            self.repo,
            ctx,
            rid or "",
            add={str(v) for v in p.all("add")},
            remove={str(v) for v in p.all("remove")},
            if_match=etag_version(req.header("if-match")),
        )
        return Response(200, stored.content or b"", resource_headers(stored))

    def route_document(self, method: str, seg: list[str], ctx: Context, req: Request) -> Any:
        """PATCH / PUT of one fiche: a logical deletion written this way (PDSm) propagates to
        the replaced fiches like `$logical-delete`; any other write takes the plain path."""
        if method not in ("PATCH", "PUT") or len(seg) != 2 or seg[1].startswith(("$", "_")):
            return None
        return (lambda: self.write_document(ctx, req, method, seg[1]), False)

    def write_document(self, ctx: Context, req: Request, method: str, rid: str) -> Response:
        api = self.app.api
        negotiation.request_format(req, patch=method == "PATCH")
        stored = lifecycle.write_deleting(
            self.repo,
            ctx,
            rid,
            method,
            json_body(req),
            if_match=etag_version(req.header("if-match")),
            base=req.base,
        )
        if stored is None:
            if method == "PATCH":
                return api.patch(ctx, req, "DocumentReference", rid)
            return api.update(ctx, req, "DocumentReference", rid)
        return write_response(req, WriteResult(stored, 200))

    def logical_delete(
        self, ctx: Context, req: Request, _t: str | None, rid: str | None
    ) -> Response:
        return json_response(lifecycle.delete_document(self.repo, ctx, rid or "", base=req.base))


_DRAIN_LIMIT = 64 * 1024 * 1024


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    """One iterator over a request body, which may be resumed after a partial read."""
    async for chunk in body:
        yield chunk


async def _drain(chunks: Any) -> AsyncIterator[bytes]:
    """Blob chunks one at a time: memory stays at about one chunk. Each read is a file read of
    at most 1 MiB (tenths of a millisecond from the page cache), done on the event loop: a
    thread hop per chunk would cost more and spread the buffers over malloc arenas."""
    try:
        for chunk in chunks:
            yield chunk
    finally:
        chunks.close()


async def _drain_later(blobs: Any, sha256: str) -> AsyncIterator[bytes]:
    async for chunk in _drain(blobs.open(sha256)):
        yield chunk


def install_records(app: FhirApp, **kwargs: Any) -> RecordsOperations:
    """Register the shared record on the app's repository and its REST routes."""
    service = records.install(app.repo, **kwargs)
    ops = RecordsOperations(app, service)
    app.router.type_routes["Binary"] = ops.route_binary
    app.router.type_routes["DocumentReference"] = ops.route_document
    reg = app.router.operations
    reg.register("DocumentReference", "$visibility", INSTANCE, ops.visibility, ("POST",))
    reg.register("DocumentReference", "$logical-delete", INSTANCE, ops.logical_delete, ("POST",))
    app.records = ops  # type: ignore[attr-defined]
    return ops


__all__ = ["RecordsOperations", "install_records", "wants_resource"]
