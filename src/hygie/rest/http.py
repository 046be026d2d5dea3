"""The small HTTP toolkit of the FHIR API: a parsed request, and responses that always carry
FHIR JSON (resources, Bundles, OperationOutcomes) with the right headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from hygie.fhir.outcome import FhirError

FHIR_JSON = "application/fhir+json"


@dataclass(slots=True)
class Request:
    method: str
    segments: list[str]  # path below the FHIR base, split on "/"
    query: list[tuple[str, str]]
    headers: dict[str, str]
    base: str
    body: bytes = b""
    raw_query: str = ""
    stream_body: Any = None  # () -> async iterator of the body's chunks (streamed uploads)
    client: str | None = None  # the peer's network address (for audit and rate limits)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def param(self, name: str) -> str | None:
        for k, v in self.query:
            if k == name:
                return v
        return None


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = FHIR_JSON
    stream: Any = None  # an async iterator of bytes: a body sent in chunks (documents)
    file: str | None = None  # a local file holding that body: RSGI sends it natively
    cookies: list[str] | None = None  # Set-Cookie values (one header each)


def parse_scope(scope: dict[str, Any], mount: str, public_base: str | None) -> Request:
    """A Request from an ASGI scope (header names arrive lower-cased, as ASGI requires)."""
    headers: dict[str, str] = {}
    for k, v in scope.get("headers", ()):
        key = k.decode("latin-1")
        val = v.decode("latin-1")
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    qs = scope.get("query_string", b"")
    server = scope.get("server") or ("localhost", 80)
    peer = scope.get("client")
    return build_request(
        scope["method"],
        scope.get("path", ""),
        qs.decode("latin-1") if qs else "",
        headers,
        scope.get("scheme", "http"),
        f"{server[0]}:{server[1]}",
        mount,
        public_base,
        peer[0] if peer else None,
    )


def build_request(
    method: str,
    path: str,
    raw_query: str,
    headers: dict[str, str],
    scheme: str,
    server: str,
    mount: str,
    public_base: str | None,
    client: str | None = None,
) -> Request:
    rest = path[len(mount) :].strip("/")
    if not rest:
        segments = []
    elif "%" in rest:
        segments = [unquote(s) for s in rest.split("/")]
    else:
        segments = rest.split("/")
    query = parse_qsl(raw_query, keep_blank_values=True) if raw_query else []
    if public_base:
        base = public_base.rstrip("/")
    else:
        host = headers.get("host") or server
        scheme = headers.get("x-forwarded-proto") or scheme
        base = f"{scheme}://{host}{mount}"
    return Request(method, segments, query, headers, base, raw_query=raw_query, client=client)


def json_body(req: Request) -> Any:
    """Parse a JSON request body: malformed JSON is a 400 with the parser's message."""
    if not req.body:
        raise FhirError(400, "The request body is empty; a FHIR resource was expected", "structure")
    try:
        return orjson.loads(req.body)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, f"The body is not valid JSON: {exc}", "structure") from exc


def outcome_response(exc: FhirError) -> Response:
    return Response(exc.status, orjson.dumps(exc.outcome()), dict(exc.headers))


@dataclass(frozen=True, slots=True)
class StreamedUpload:
    """A route whose handler reads the request body as a stream (`req.stream_body()`), for
    documents too large to hold in memory; the app skips its in-memory body limit for it."""

    run: Any  # async (req) -> Response
