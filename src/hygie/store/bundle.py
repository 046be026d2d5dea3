"""Batch and transaction Bundles (http.html#transaction, R4).

Transaction: all-or-nothing, in one database transaction, processed in the spec's order —
DELETE, then POST, then PUT/PATCH, then GET/HEAD — after every `urn:uuid:`/fullUrl and every
conditional reference (`Patient?identifier=…`) has been resolved and rewritten in every
resource of the bundle. Batch: entries are independent; each succeeds or fails on its own with
its own status and OperationOutcome.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson

from hygie.fhir import definitions
from hygie.fhir.outcome import FhirError, invalid
from hygie.store.context import Context
from hygie.store.records import Stored, WriteResult, new_id

if TYPE_CHECKING:
    from hygie.store.repository import Repository

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def status_line(code: int) -> str:
    return f"{code} {_REASONS.get(code, '')}".strip()


@dataclass(slots=True)
class Entry:
    index: int
    method: str
    url: str
    rtype: str | None
    rid: str | None
    query: str | None
    full_url: str | None
    resource: Any
    if_match: int | None = None
    if_none_exist: str | None = None
    vid: str | None = None
    extra: list[str] = field(default_factory=list)


def parse_entries(bundle: dict[str, Any], base: str) -> list[Entry | FhirError]:
    """One Entry per bundle entry, or the FhirError that makes that entry unusable."""
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise invalid("Bundle.entry must be an array", "Bundle.entry")
    out: list[Entry | FhirError] = []
    for n, raw in enumerate(entries):
        try:
            out.append(parse_entry(n, raw, base))
        except FhirError as exc:
            out.append(exc)
    return out


def parse_entry(n: int, raw: Any, base: str) -> Entry:
    where = f"Bundle.entry[{n}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise invalid(f"{where} needs a request", f"{where}.request")
    req = raw["request"]
    method = req.get("method")
    url = req.get("url")
    if method not in _ORDER:
        raise invalid(
            f"{where}.request.method '{method}' is not supported", f"{where}.request.method"
        )
    if not isinstance(url, str) or not url:
        raise invalid(f"{where}.request.url is required", f"{where}.request.url")
    rtype, rid, query, vid, extra = split_url(url, base)
    if rtype is not None and rtype not in definitions.resource_types():
        raise FhirError(
            404,
            f"{where}: unknown resource type '{rtype}'",
            "not-supported",
            expression=f"{where}.request.url",
        )
    return Entry(
        index=n,
        method=method,
        url=url,
        rtype=rtype,
        rid=rid,
        query=query,
        full_url=raw.get("fullUrl"),
        resource=raw.get("resource"),
        if_match=_etag_version(req.get("ifMatch")),
        if_none_exist=req.get("ifNoneExist"),
        vid=vid,
        extra=extra,
    )


def split_url(
    url: str, base: str
) -> tuple[str | None, str | None, str | None, str | None, list[str]]:
    """`Patient/1/_history/2?x` -> (type, id, query, version, other path parts)."""
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    elif "://" in url:
        url = urlsplit(url).path.rsplit("/fhir/", 1)[-1] + (
            "?" + urlsplit(url).query if urlsplit(url).query else ""
        )
    path, _, query = url.lstrip("/").partition("?")
    parts = [p for p in path.split("/") if p]
    rtype = parts[0] if parts else None
    rid = parts[1] if len(parts) > 1 and not parts[1].startswith(("_", "$")) else None
    vid = parts[3] if len(parts) == 4 and parts[2] == "_history" else None
    extra = parts[2:] if vid is None else []
    if len(parts) > 1 and rid is None:
        extra = parts[1:]
    return rtype, rid, query or None, vid, extra


def _etag_version(value: Any) -> int | None:
    if not value:
        return None
    text = str(value).strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise invalid(f"Invalid ETag '{value}' in ifMatch")
    return int(text)


def patch_operations(entry: Entry) -> Any:
    """In a Bundle a JSON Patch travels as a Binary resource (http.html#patch)."""
    res = entry.resource
    if isinstance(res, dict) and res.get("resourceType") == "Binary":
        if res.get("contentType") not in ("application/json-patch+json", "application/json"):
            raise FhirError(
                415, f"entry {entry.index}: unsupported patch content type", "not-supported"
            )
        try:
            return orjson.loads(base64.b64decode(res.get("data", "")))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise invalid(f"entry {entry.index}: patch is not valid base64 JSON") from exc
    raise FhirError(
        415, f"entry {entry.index}: PATCH needs a Binary with a JSON Patch", "not-supported"
    )


def rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    """Replace every string equal to a bundle-local identity by the resolved `Type/id`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "div" and isinstance(v, str):
                for old, new in mapping.items():
                    if old in v:
                        v = v.replace(old, new)
                out[k] = v
            else:
                out[k] = rewrite_references(v, mapping)
        return out
    if isinstance(node, list):
        return [rewrite_references(v, mapping) for v in node]
    if isinstance(node, str) and node in mapping:
        return mapping[node]
    return node


def _conditional_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and "?" in ref and not ref.startswith(("#", "urn:")):
            found.add(ref)
        for v in node.values():
            _conditional_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _conditional_refs(v, found)


class BundleHandler(Protocol):
    """A service's own processing of the Bundles it recognises (e.g. IHE MHD ITI-65), registered
    in `Repository.bundle_handlers`; it validates the Bundle as a whole and normally hands it
    back to `processor.process(..., handlers=False)` to run as an ordinary transaction."""

    def accepts(self, bundle: dict[str, Any]) -> bool: ...

    def process(
        self,
        ctx: Context,
        bundle: dict[str, Any],
        *,
        base: str,
        processor: BundleProcessor,
        prefer_minimal: bool,
    ) -> dict[str, Any]: ...


class BundleProcessor:
    """Runs batch and transaction Bundles against a Repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def process(
        self,
        ctx: Context,
        bundle: Any,
        *,
        base: str,
        prefer_minimal: bool = False,
        handlers: bool = True,
    ) -> dict[str, Any]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise invalid("Expected a Bundle resource")
        if handlers:
            for handler in getattr(self.repo, "bundle_handlers", ()):
                if handler.accepts(bundle):
                    return handler.process(
                        ctx, bundle, base=base, processor=self, prefer_minimal=prefer_minimal
                    )
        kind = bundle.get("type")
        if kind not in ("transaction", "batch"):
            raise invalid(
                f"Bundle.type must be 'transaction' or 'batch' to be processed, not '{kind}'",
                "Bundle.type",
            )
        parsed = parse_entries(bundle, base)
        if kind == "transaction":
            for item in parsed:
                if isinstance(item, FhirError):
                    raise item
            responses = self._transaction(ctx, [e for e in parsed if isinstance(e, Entry)], base)
        else:
            responses = [
                _error_entry(e) if isinstance(e, FhirError) else self._batch_entry(ctx, e, base)
                for e in parsed
            ]
        out = []
        for resp in responses:
            if prefer_minimal:
                resp.pop("resource", None)
            out.append(resp)
        return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": out}

    # -- batch --------------------------------------------------------------------------------
    def _batch_entry(self, ctx: Context, e: Entry, base: str) -> dict[str, Any]:
        try:
            if e.method in ("GET", "HEAD"):
                return self._get(ctx, e, base, None)
            return self._write_one(ctx, e)
        except FhirError as exc:
            return _error_entry(exc)

    def _write_one(self, ctx: Context, e: Entry) -> dict[str, Any]:
        repo = self.repo
        if e.method == "POST":
            _require_type(e)
            r = repo.create(ctx, e.resource, rtype=e.rtype, if_none_exist=e.if_none_exist)
        elif e.method == "PUT":
            _require_type(e)
            if e.rid:
                r = repo.update(ctx, e.rtype, e.rid, e.resource, if_match=e.if_match)
            elif e.query:
                r = repo.conditional_update(ctx, e.rtype, e.query, e.resource, if_match=e.if_match)
            else:
                raise invalid(f"entry {e.index}: PUT needs Type/id or Type?criteria")
        elif e.method == "PATCH":
            _require_type(e)
            ops = patch_operations(e)
            if e.rid:
                r = repo.patch(ctx, e.rtype, e.rid, ops, if_match=e.if_match)
            else:
                r = repo.conditional_patch(ctx, e.rtype, e.query or "", ops, if_match=e.if_match)
        else:
            _require_type(e)
            if e.rid:
                r = repo.delete(ctx, e.rtype, e.rid, if_match=e.if_match)
            else:
                r = repo.conditional_delete(ctx, e.rtype, e.query or "")
        return response_entry(r)

    # -- transaction --------------------------------------------------------------------------
    def _transaction(self, ctx: Context, entries: list[Entry], base: str) -> list[dict[str, Any]]:
        repo = self.repo
        results: dict[int, dict[str, Any]] = {}
        ordered = sorted(entries, key=lambda e: _ORDER[e.method])
        for e in entries:
            if e.method != "GET":
                repo._guard(ctx, e.method.lower(), e.rtype, e.rid)

        def job(cur: Any) -> None:
            mapping = self._resolve_identities(cur, entries, base, ctx)
            self._check_duplicates(entries)
            for e in ordered:
                if e.method in ("GET", "HEAD"):
                    results[e.index] = self._get(ctx, e, base, cur)
                else:
                    results[e.index] = self._tx_write(ctx, cur, e, mapping)

        repo.backend.run_write(job)
        return [results[e.index] for e in entries]

    def _resolve_identities(
        self, cur: Any, entries: list[Entry], base: str, ctx: Context | None = None
    ) -> dict[str, str]:
        """fullUrl -> Type/id for every entry that creates or updates, and conditional references."""
        repo = self.repo
        mapping: dict[str, str] = {}
        for e in entries:
            try:
                if e.method == "POST" and e.rtype:
                    found = (
                        repo._conditional_match(cur, e.rtype, e.if_none_exist, ctx)
                        if e.if_none_exist
                        else None
                    )
                    e.rid = found
                    if found is None:
                        e.extra = ["new"]
                        e.rid = new_id()
                    target = f"{e.rtype}/{e.rid}"
                elif e.method == "PUT" and e.rtype and not e.rid and e.query:
                    found = repo._conditional_match(cur, e.rtype, e.query, ctx)
                    body_id = e.resource.get("id") if isinstance(e.resource, dict) else None
                    e.rid = found or body_id or new_id()
                    target = f"{e.rtype}/{e.rid}"
                elif e.method == "PUT" and e.rtype and e.rid:
                    target = f"{e.rtype}/{e.rid}"
                else:
                    continue
            except FhirError as exc:
                raise _at_entry(exc, e) from None
            if e.full_url:
                mapping[e.full_url] = target
                if e.full_url.startswith(base + "/"):
                    mapping[e.full_url[len(base) + 1 :]] = target
        refs: set[str] = set()
        for e in entries:
            if e.resource is not None:
                _conditional_refs(e.resource, refs)
        for ref in refs:
            rtype, _, query = ref.partition("?")
            if rtype not in definitions.resource_types():
                raise invalid(f"Conditional reference '{ref}' names an unknown type")
            matches = _match_all(repo, cur, rtype, query, ctx)
            if len(matches) != 1:
                raise FhirError(
                    412,
                    f"Conditional reference '{ref}' matched {len(matches)} resources"
                    " (exactly one is required)",
                    "multiple-matches" if matches else "not-found",
                )
            mapping[ref] = f"{rtype}/{matches[0]}"
        return mapping

    @staticmethod
    def _check_duplicates(entries: list[Entry]) -> None:
        seen: dict[str, int] = {}
        for e in entries:
            if e.method in ("GET", "HEAD") or not e.rid:
                continue
            key = f"{e.rtype}/{e.rid}"
            if key in seen and not (e.method == "POST" and "new" not in e.extra):
                raise invalid(
                    f"entries {seen[key]} and {e.index} both act on {key}; a transaction"
                    " may touch a resource only once"
                )
            seen[key] = e.index

    def _tx_write(
        self, ctx: Context, cur: Any, e: Entry, mapping: dict[str, str]
    ) -> dict[str, Any]:
        repo = self.repo
        try:
            resource = rewrite_references(e.resource, mapping) if e.resource is not None else None
            if e.method == "POST":
                if "new" not in e.extra:  # ifNoneExist matched an existing resource
                    return response_entry(WriteResult(repo._current(cur, e.rtype, e.rid), 200))
                if isinstance(resource, dict):
                    resource.pop("id", None)
                p = repo._prepare(resource, e.rtype, ctx)
                return response_entry(repo._insert(cur, p, e.rid, "POST"))
            if e.method == "PUT":
                if isinstance(resource, dict) and e.query and "id" not in resource:
                    resource["id"] = e.rid
                if isinstance(resource, dict) and resource.get("id") != e.rid:
                    raise invalid(f"Resource id '{resource.get('id')}' does not match '{e.rid}'")
                p = repo._prepare(resource, e.rtype, ctx)
                return response_entry(repo._update(cur, p, e.rid, e.if_match, "PUT"))
            if e.method == "PATCH":
                from hygie.store.repository import apply_json_patch

                current = repo._current(cur, e.rtype, e.rid or "")
                if current.deleted:
                    raise FhirError(410, f"{e.rtype}/{e.rid} is deleted", "deleted")
                patched = apply_json_patch(current.resource(), patch_operations(e))
                p = repo._prepare(patched, e.rtype, ctx)
                return response_entry(repo._update(cur, p, e.rid, e.if_match, "PATCH"))
            if e.rid:
                return response_entry(repo._delete(cur, e.rtype, e.rid, e.if_match, ctx))
            found = _match_all(repo, cur, e.rtype, e.query or "", ctx)
            if len(found) > 1:
                raise FhirError(
                    412,
                    f"Conditional delete '{e.url}' matches several resources",
                    "multiple-matches",
                )
            return response_entry(
                repo._delete(cur, e.rtype, found[0], None, ctx) if found else WriteResult(None, 204)
            )
        except FhirError as exc:
            raise _at_entry(exc, e) from None

    def _get(self, ctx: Context, e: Entry, base: str, cur: Any) -> dict[str, Any]:
        repo = self.repo
        if e.rtype is None:
            raise invalid(f"entry {e.index}: GET needs a resource type")
        try:
            if e.rid and e.vid:
                stored = repo.vread(ctx, e.rtype, e.rid, e.vid, cur=cur)
            elif e.rid and not e.extra:
                stored = repo.read(ctx, e.rtype, e.rid, cur=cur)
            elif not e.rid and not e.extra:
                params = parse_qsl(e.query or "", keep_blank_values=True)
                found = repo.search(ctx, e.rtype, params, base=base, cur=cur)
                return {"resource": found, "response": {"status": "200 OK"}}
            else:
                raise FhirError(
                    400, f"entry {e.index}: unsupported GET '{e.url}' in a bundle", "not-supported"
                )
        except FhirError as exc:
            if cur is not None:
                raise _at_entry(exc, e) from None
            raise
        return response_entry(WriteResult(stored, 200))


def _match_all(
    repo: Repository, cur: Any, rtype: str, query: str, ctx: Context | None = None
) -> list[str]:
    from hygie import search
    from hygie.store.context import SearchScope

    params = parse_qsl(query, keep_blank_values=True)
    restrict = None
    if ctx is not None:
        scope = SearchScope((rtype,), None, tuple(params))
        restrict = repo.enforcement.restriction(ctx, "search", scope)
    return [m[1] for m in search.matching_ids(cur, rtype, params, limit=2, restrict=restrict)]


def _error_entry(exc: FhirError) -> dict[str, Any]:
    return {"response": {"status": status_line(exc.status), "outcome": exc.outcome()}}


def _require_type(e: Entry) -> None:
    if e.rtype is None:
        raise invalid(f"entry {e.index}: the request url needs a resource type")


def _at_entry(exc: FhirError, e: Entry) -> FhirError:
    for issue in exc.issues:
        issue.diagnostics = f"Bundle.entry[{e.index}] ({e.method} {e.url}): {issue.diagnostics}"
        if issue.expression is None:
            issue.expression = f"Bundle.entry[{e.index}]"
    return exc


def response_entry(r: WriteResult) -> dict[str, Any]:
    resp: dict[str, Any] = {"status": status_line(r.status)}
    entry: dict[str, Any] = {}
    s: Stored | None = r.stored
    if s is not None:
        resp["location"] = f"{s.rtype}/{s.id}/_history/{s.version}"
        resp["etag"] = s.etag
        resp["lastModified"] = s.instant
        if s.content is not None and not s.deleted:
            entry["resource"] = orjson.Fragment(s.content)
    if r.outcome is not None:
        resp["outcome"] = r.outcome
    entry["response"] = resp
    return entry


__all__ = ["BundleHandler", "BundleProcessor", "status_line"]
