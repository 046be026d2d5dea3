"""FHIR RESTful interactions (http.html, R4) mapped onto the Repository.

Each handler parses what HTTP carries (ids, headers, query), calls the Repository once, and
renders the result; the FHIR semantics themselves live in the Repository.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from hygie.fhir.outcome import FhirError, info_outcome, invalid, operation_outcome
from hygie.fhir.summary import SUMMARY_MODES, parse_elements, select_elements, summarize
from hygie.fhir.validation import validate
from hygie.rest import negotiation
from hygie.rest.http import Request, Response, json_body
from hygie.search.normalize import date_range
from hygie.store import Context, HistoryQuery, Repository, Stored, WriteResult
from hygie.store.bundle import BundleProcessor
from hygie.store.records import format_instant

_HISTORY_PARAMS = {
    "_since",
    "_at",
    "_count",
    "_cursor",
    "_format",
    "_pretty",
    "_summary",
    "_elements",
}
_READ_PARAMS = {"_format", "_pretty", "_summary", "_elements"}
DEFAULT_HISTORY_COUNT = 50
MAX_COUNT = 1000


def etag_version(value: str | None) -> int | None:
    """`W/"3"` (or `"3"`) -> 3; anything else is a client error."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise invalid(f"Invalid ETag '{value}': expected W/\"<versionId>\"")
    return int(text)


def prefer(req: Request, key: str) -> str | None:
    for part in (req.header("prefer") or "").split(";"):
        for item in part.split(","):
            k, _, v = item.strip().partition("=")
            if k.strip().lower() == key:
                return v.strip().strip('"').lower()
    return None


def lenient(req: Request) -> bool:
    return prefer(req, "handling") == "lenient"


def resource_headers(s: Stored) -> dict[str, str]:
    return {"ETag": s.etag, "Last-Modified": s.http_date}


def render_stored(req: Request, s: Stored) -> bytes:
    """Stored JSON as is, unless the client asked for a subset."""
    mode = req.param("_summary")
    elements = parse_elements(req.param("_elements"))
    if mode is None and elements is None:
        return s.content or b""
    res = s.resource()
    if mode is not None:
        if mode not in SUMMARY_MODES or mode == "count":
            raise invalid(f"_summary '{mode}' is not valid on a read", "_summary")
        res = summarize(res, mode)
    if elements is not None:
        res = select_elements(res, elements)
    return orjson.dumps(res)


def write_response(req: Request, r: WriteResult, *, location: bool = True) -> Response:
    """The answer to create/update/patch/delete, honouring `Prefer: return=`."""
    s = r.stored
    headers: dict[str, str] = {}
    if s is not None:
        headers.update(resource_headers(s))
        if location and not s.deleted:
            headers["Location"] = f"{req.base}/{s.rtype}/{s.id}/_history/{s.version}"
    want = prefer(req, "return")
    if s is None or s.deleted:
        body = orjson.dumps(r.outcome) if r.outcome and r.status != 204 else b""
        return Response(r.status, body, headers, None if not body else "application/fhir+json")
    if want == "minimal":
        return Response(r.status, b"", headers, None)
    if want == "operationoutcome":
        text = {201: "Created", 200: "Updated"}.get(r.status, "Done")
        return Response(r.status, orjson.dumps(info_outcome(f"{text} {s.rtype}/{s.id}")), headers)
    return Response(r.status, s.content or b"", headers)


class Interactions:
    def __init__(self, repo: Repository, *, capabilities: Any) -> None:
        self.repo = repo
        self.bundles = BundleProcessor(repo)
        self.capabilities = capabilities

    # -- instance level ---------------------------------------------------------------------
    def read(self, ctx: Context, req: Request, rtype: str, rid: str) -> Response:
        return self._read_response(req, self.repo.read(ctx, rtype, rid))

    async def read_async(self, ctx: Context, req: Request, rtype: str, rid: str) -> Response:
        return self._read_response(req, await self.repo.read_async(ctx, rtype, rid))

    def _read_response(self, req: Request, s: Stored) -> Response:
        headers = resource_headers(s)
        if _not_modified(req, s):
            return Response(304, b"", headers, None)
        return Response(200, render_stored(req, s), headers)

    def vread(self, ctx: Context, req: Request, rtype: str, rid: str, vid: str) -> Response:
        s = self.repo.vread(ctx, rtype, rid, vid)
        return Response(200, render_stored(req, s), resource_headers(s))

    def update(self, ctx: Context, req: Request, rtype: str, rid: str) -> Response:
        negotiation.request_format(req)
        body = json_body(req)
        r = self.repo.update(ctx, rtype, rid, body, if_match=etag_version(req.header("if-match")))
        return write_response(req, r)

    def patch(self, ctx: Context, req: Request, rtype: str, rid: str | None) -> Response:
        negotiation.request_format(req, patch=True)
        ops = json_body(req)
        if_match = etag_version(req.header("if-match"))
        if rid is None:
            r = self.repo.conditional_patch(ctx, rtype, req.raw_query, ops, if_match=if_match)
        else:
            r = self.repo.patch(ctx, rtype, rid, ops, if_match=if_match)
        return write_response(req, r)

    def delete(self, ctx: Context, req: Request, rtype: str, rid: str) -> Response:
        if_match = etag_version(req.header("if-match"))
        r = self.repo.delete(ctx, rtype, rid, if_match=if_match)
        return write_response(req, r, location=False)

    # -- type level -------------------------------------------------------------------------
    def create(self, ctx: Context, req: Request, rtype: str) -> Response:
        negotiation.request_format(req)
        body = json_body(req)
        if isinstance(body, dict) and body.get("resourceType") not in (None, rtype):
            raise invalid(
                f"resourceType '{body.get('resourceType')}' does not match the URL type '{rtype}'",
                "resourceType",
            )
        r = self.repo.create(ctx, body, rtype=rtype, if_none_exist=req.header("if-none-exist"))
        return write_response(req, r)

    def conditional_update(self, ctx: Context, req: Request, rtype: str) -> Response:
        negotiation.request_format(req)
        body = json_body(req)
        r = self.repo.conditional_update(
            ctx, rtype, req.raw_query, body, if_match=etag_version(req.header("if-match"))
        )
        return write_response(req, r)

    def conditional_delete(self, ctx: Context, req: Request, rtype: str) -> Response:
        return write_response(
            req, self.repo.conditional_delete(ctx, rtype, req.raw_query), location=False
        )

    def search(
        self,
        ctx: Context,
        req: Request,
        rtype: str | None,
        compartment: tuple[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
    ) -> Response:
        bundle = self.repo.search(
            ctx,
            rtype,
            req.query if params is None else params,
            base=req.base,
            strict=not lenient(req),
            compartment=compartment,
        )
        return Response(200, orjson.dumps(bundle))

    def search_post(self, ctx: Context, req: Request, rtype: str | None) -> Response:
        """POST [type]/_search with application/x-www-form-urlencoded parameters."""
        from urllib.parse import parse_qsl

        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if req.body and ctype != "application/x-www-form-urlencoded":
            raise FhirError(
                415, "POST _search takes application/x-www-form-urlencoded", "not-supported"
            )
        form = parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        return self.search(ctx, req, rtype, params=[*req.query, *form])

    def history(self, ctx: Context, req: Request, rtype: str | None, rid: str | None) -> Response:
        q = HistoryQuery(rtype=rtype, rid=rid)
        extra = []
        for k, v in req.query:
            if k not in _HISTORY_PARAMS:
                if lenient(req):
                    continue
                raise invalid(f"Unknown history parameter '{k}'", k)
            if k == "_since":
                q.since = parse_instant_param(k, v)[0]
                extra.append((k, v))
            elif k == "_at":
                q.at = parse_instant_param(k, v)
                extra.append((k, v))
            elif k == "_count":
                q.count = parse_count(v)
            elif k == "_cursor":
                q.cursor = v
        bundle = self.repo.history(ctx, q, base=req.base, extra=extra)
        return Response(200, orjson.dumps(bundle))

    def validate(self, ctx: Context, req: Request, rtype: str, rid: str | None) -> Response:
        """$validate (resource-operation-validate): 200 with the outcome of the validation."""
        mode = req.param("mode")
        if req.method == "GET" and rid is not None:
            resource = self.repo.read(ctx, rtype, rid).resource()
        else:
            negotiation.request_format(req)
            resource = json_body(req)
            if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
                mode = mode or _parameter(resource, "mode", "valueCode")
                resource = _parameter(resource, "resource", "resource")
                if resource is None:
                    raise invalid("Parameters for $validate need a 'resource' parameter")
        if mode == "delete":
            if rid is None:
                raise invalid("mode=delete needs an instance: [type]/[id]/$validate")
            self.repo.read(ctx, rtype, rid)
            return Response(200, orjson.dumps(info_outcome("The resource may be deleted")))
        issues = validate(resource, rtype)
        if mode == "update" and isinstance(resource, dict) and rid and resource.get("id") != rid:
            raise invalid(f"mode=update: the resource id must be '{rid}'", f"{rtype}.id")
        if not issues:
            return Response(200, orjson.dumps(info_outcome("Validation successful: no issues")))
        return Response(200, orjson.dumps(operation_outcome(issues)))

    # -- system level -----------------------------------------------------------------------
    def metadata(self, ctx: Context, req: Request) -> Response:
        mode = req.param("mode")
        if mode not in (None, "full", "normative", "terminology"):
            raise invalid(f"Unknown metadata mode '{mode}'", "mode")
        return Response(200, self.capabilities(req.base))

    def bundle(self, ctx: Context, req: Request) -> Response:
        negotiation.request_format(req)
        body = json_body(req)
        result = self.bundles.process(
            ctx, body, base=req.base, prefer_minimal=prefer(req, "return") == "minimal"
        )
        return Response(200, orjson.dumps(result))


def _parameter(params: dict[str, Any], name: str, key: str) -> Any:
    for p in params.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            return p.get(key)
    return None


def _not_modified(req: Request, s: Stored) -> bool:
    inm = req.header("if-none-match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or s.etag in tags or f'"{s.version}"' in tags
    ims = req.header("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return int(s.last_updated // 1_000_000) <= int(since)
    return False


def parse_count(value: str) -> int:
    if not value.isdigit():
        raise invalid(f"_count must be a non-negative integer, not '{value}'", "_count")
    return min(int(value), MAX_COUNT)


def parse_instant_param(name: str, value: str) -> tuple[int, int]:
    try:
        return date_range(value)
    except ValueError as exc:
        raise invalid(f"{name}: {exc}", name) from exc


__all__ = ["Interactions", "format_instant"]
