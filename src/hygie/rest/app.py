"""The ASGI application: the FHIR REST API under `/fhir`.

Routing is by path shape (http.html's URL patterns), done by hand because it is the product:
it decides 404 for unknown types, 405 with `Allow` for wrong methods, and every error is an
OperationOutcome. Repository calls run on a thread pool so the event loop never waits on the
database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from hygie.fhir import definitions
from hygie.fhir.outcome import FhirError
from hygie.rest import negotiation
from hygie.rest.capabilities import capability_statement
from hygie.rest.http import (
    Request,
    Response,
    StreamedUpload,
    build_request,
    outcome_response,
    parse_scope,
)
from hygie.rest.interactions import Interactions
from hygie.rest.operations import OperationRegistry
from hygie.store import Context, Repository

log = logging.getLogger("hygie.rest")

FHIR_MOUNT = "/fhir"
QUICK = True  # see Router.route
_BODYLESS = frozenset({"GET", "HEAD", "DELETE"})
DEFAULT_MAX_BODY = 16 * 1024 * 1024


@dataclass
class Settings:
    max_body: int = DEFAULT_MAX_BODY
    public_base: str | None = None
    threads: int = 16
    # No authentication: every request acts as the server itself. For benchmarks and
    # development only; `hygie serve` requires tokens unless started with --open.
    open: bool = False


class Router:
    """Maps (method, path shape) onto an Interactions handler."""

    def __init__(self, api: Interactions) -> None:
        self.api = api
        self.types = definitions.resource_types()
        self.operations = OperationRegistry()
        # rtype -> route(method, segments, ctx, req) -> (handler, quick) | None: a service's own
        # handling of some interactions of a type (services/records serves Binary content)
        self.type_routes: dict[str, Any] = {}

    def route(
        self, req: Request, ctx: Context | None = None
    ) -> tuple[Callable[[], Response], bool]:
        """The handler to run, and how: False (on the thread pool), QUICK (a bounded
        primary-key read that may run on the event loop when the database is embedded) or an
        async callable (the same read through an asynchronous driver); raises 404/405."""
        api, seg, m = self.api, req.segments, req.method
        ctx = ctx or Context.system()
        if m == "HEAD":
            m = "GET"
        n = len(seg)
        if (op := self.operations.route(m, seg, ctx, req)) is not None:
            return op
        if n and (own := self.type_routes.get(seg[0])) is not None:
            if (found := own(m, seg, ctx, req)) is not None:
                return found
        if n == 0:
            return self._pick(
                m,
                {
                    "GET": (lambda: api.search(ctx, req, None), False),
                    "POST": (lambda: api.bundle(ctx, req), False),
                },
            )
        first = seg[0]
        if n == 1 and first == "metadata":
            return self._pick(m, {"GET": (lambda: api.metadata(ctx, req), QUICK)})
        if n == 1 and first == "_history":
            return self._pick(m, {"GET": (lambda: api.history(ctx, req, None, None), False)})
        if n == 1 and first == "$reindex-status":  # custom SearchParameter reindex jobs
            status = lambda: Response(200, orjson.dumps(api.repo.reindex_status(ctx)))  # noqa: E731
            return self._pick(m, {"GET": (status, False)})
        if n == 1 and first == "_search":
            return self._pick(m, {"POST": (lambda: api.search_post(ctx, req, None), False)})
        if first not in self.types:
            raise FhirError(404, f"Unknown resource type or path '{first}'", "not-supported")
        t = first
        if n == 1:
            return self._pick(
                m,
                {
                    "GET": (lambda: api.search(ctx, req, t), False),
                    "POST": (lambda: api.create(ctx, req, t), False),
                    "PUT": (lambda: api.conditional_update(ctx, req, t), False),
                    "DELETE": (lambda: api.conditional_delete(ctx, req, t), False),
                    "PATCH": (lambda: api.patch(ctx, req, t, None), False),
                },
            )
        second = seg[1]
        if n == 2 and second == "_search":
            return self._pick(
                m,
                {
                    "POST": (lambda: api.search_post(ctx, req, t), False),
                    "GET": (lambda: api.search(ctx, req, t), False),
                },
            )
        if n == 2 and second == "_history":
            return self._pick(m, {"GET": (lambda: api.history(ctx, req, t, None), False)})
        if n == 2 and second == "$validate":
            return self._pick(m, {"POST": (lambda: api.validate(ctx, req, t, None), False)})
        if second.startswith(("$", "_")):
            raise FhirError(404, f"Unknown operation or path '{second}'", "not-supported")
        rid = second
        if n == 2:
            return self._pick(
                m,
                {
                    "GET": (
                        lambda: api.read(ctx, req, t, rid),
                        lambda: api.read_async(ctx, req, t, rid),
                    ),
                    "PUT": (lambda: api.update(ctx, req, t, rid), False),
                    "PATCH": (lambda: api.patch(ctx, req, t, rid), False),
                    "DELETE": (lambda: api.delete(ctx, req, t, rid), False),
                },
            )
        third = seg[2]
        if n == 3 and third == "_history":
            return self._pick(m, {"GET": (lambda: api.history(ctx, req, t, rid), False)})
        if n == 4 and third == "_history":
            vid = seg[3]
            return self._pick(m, {"GET": (lambda: api.vread(ctx, req, t, rid, vid), QUICK)})
        if n == 3 and third == "$validate":
            return self._pick(
                m,
                {
                    "POST": (lambda: api.validate(ctx, req, t, rid), False),
                    "GET": (lambda: api.validate(ctx, req, t, rid), False),
                },
            )
        if n == 3 and (third in self.types or third == "*"):
            comp = (t, rid)
            target = None if third == "*" else third
            return self._pick(m, {"GET": (lambda: api.search(ctx, req, target, comp), False)})
        raise FhirError(404, f"No FHIR interaction at '/{'/'.join(seg)}'", "not-supported")

    @staticmethod
    def _pick(method: str, table: dict[str, tuple[Callable[[], Response], bool]]):
        if method in table:
            return table[method]
        allowed = ", ".join(sorted(set(table) | ({"HEAD"} if "GET" in table else set())))
        raise FhirError(
            405,
            f"Method {method} is not allowed here; allowed: {allowed}",
            "not-supported",
            headers={"Allow": allowed},
        )


class FhirApp:
    """The whole server (FHIR under /fhir), as an ASGI app and as a granian RSGI app."""

    def __init__(self, repo: Repository, settings: Settings | None = None) -> None:
        self.repo = repo
        self.settings = settings or Settings()
        self.api = Interactions(repo, capabilities=capability_statement)
        self.router = Router(self.api)
        self.executor = ThreadPoolExecutor(self.settings.threads, thread_name_prefix="hygie-db")
        self.inline_reads = repo.backend.dialect == "sqlite"
        self.async_reads = repo.backend.async_reads
        # The authentication layer (`hygie.auth.install`): None when the server is open. It
        # turns each request's bearer token into the Context (one place), and serves the
        # non-FHIR paths of the login / OpenID Connect provider.
        self.auth: Any = None

    # -- the server-independent part ----------------------------------------------------------
    async def respond(self, req: Request, read_body: Callable[[], Awaitable[bytes]]) -> Response:
        """The Response to one FHIR request; every failure becomes an OperationOutcome."""
        if self.auth is not None and (pre := self.auth.preflight(req, True)) is not None:
            return pre  # a CORS preflight of a browser SMART app (auth/cors.py)
        try:
            resp = await self._handle(req, read_body)
        except FhirError as exc:
            resp = outcome_response(exc)
        except Exception:  # never leak a stack trace to the client
            log.exception("internal error on %s /%s", req.method, "/".join(req.segments))
            resp = outcome_response(FhirError(500, "Internal server error", "exception"))
        if resp.body and resp.content_type and negotiation.pretty(req):
            resp.body = orjson.dumps(orjson.loads(resp.body), option=orjson.OPT_INDENT_2)
        if req.method == "HEAD" or resp.status in (204, 304):
            resp.body = b""
            resp.stream = None
        if self.auth is not None:
            self.auth.decorate(req, resp, True)
        return resp

    async def _handle(self, req: Request, read_body: Callable[[], Awaitable[bytes]]) -> Response:
        if req.segments[:1] != ["Binary"]:  # Binary serves its own media types (http.html#binary)
            negotiation.response_format(req)
        ctx = None
        if self.auth is not None:
            if (public := self.auth.public(req)) is not None:
                return public  # e.g. /.well-known/smart-configuration
            ctx = self.auth.context(req)  # FhirError 401 without a valid token
        handler, quick = self.router.route(req, ctx)
        if isinstance(handler, StreamedUpload):
            return await handler.run(req)
        if req.method not in _BODYLESS:
            length = req.header("content-length")
            if length and length.isdigit() and int(length) > self.settings.max_body:
                raise _too_large(self.settings.max_body)
            req.body = await read_body()
        if quick and self.inline_reads:
            # An embedded SQLite primary-key read takes ~20 µs: a thread hop would cost more.
            return handler()
        if callable(quick) and self.async_reads:
            return await quick()  # an asynchronous driver: no thread hop either
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, handler)

    # -- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope.get("path", "")
        if path != FHIR_MOUNT and not path.startswith(FHIR_MOUNT + "/"):
            if self.auth is not None and self.auth.owns(path):
                req = parse_scope(scope, "", None)
                resp = await self._site(req, lambda: self._read_body(receive))
            else:
                resp = _not_here(path)
        else:
            req = parse_scope(scope, FHIR_MOUNT, self.settings.public_base)
            req.stream_body = lambda: _asgi_chunks(receive)
            resp = await self.respond(req, lambda: self._read_body(receive))
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _headers(resp)]
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        if resp.stream is not None:
            async for chunk in resp.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": resp.body})

    async def _read_body(self, receive: Any) -> bytes:
        limit = self.settings.max_body
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        return b"".join(chunks)

    # -- RSGI (granian's native interface: one call per response) ------------------------------
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        path: str = scope.path
        fhir = path == FHIR_MOUNT or path.startswith(FHIR_MOUNT + "/")
        if not fhir and (self.auth is None or not self.auth.owns(path)):
            resp = _not_here(path)
        else:
            headers: dict[str, str] = {}
            for k, v in scope.headers.items():
                headers[k] = f"{headers[k]}, {v}" if k in headers else v
            req = build_request(
                scope.method,
                path,
                scope.query_string,
                headers,
                scope.scheme,
                scope.server,
                FHIR_MOUNT if fhir else "",
                self.settings.public_base if fhir else None,
                scope.client.rsplit(":", 1)[0] if scope.client else None,
            )
            if fhir:
                req.stream_body = lambda: proto  # granian: async-iterable body chunks
                resp = await self.respond(req, lambda: self._read_rsgi_body(proto))
            else:
                resp = await self._site(req, lambda: self._read_rsgi_body(proto))
        if resp.file is not None:  # granian streams it with backpressure (send_bytes buffers)
            proto.response_file(resp.status, _headers(resp), resp.file)
            return
        if resp.stream is not None:
            transport = proto.response_stream(resp.status, _headers(resp))
            async for chunk in resp.stream:
                await transport.send_bytes(chunk)
            return
        proto.response_bytes(resp.status, _headers(resp), resp.body)

    async def _read_rsgi_body(self, proto: Any) -> bytes:
        body = await proto()
        if len(body) > self.settings.max_body:
            raise _too_large(self.settings.max_body)
        return body

    async def _site(self, req: Request, read_body: Callable[[], Awaitable[bytes]]) -> Response:
        """A non-FHIR path of the authentication layer (login pages, OAuth endpoints)."""
        if (pre := self.auth.preflight(req, False)) is not None:
            return pre
        try:
            if req.method not in _BODYLESS:
                req.body = await read_body()
            loop = asyncio.get_running_loop()
            resp = await loop.run_in_executor(self.executor, self.auth.site, req)
        except FhirError as exc:
            resp = outcome_response(exc)
        except Exception:  # never leak a stack trace to the client
            log.exception("internal error on %s %s", req.method, "/".join(req.segments))
            resp = outcome_response(FhirError(500, "Internal server error", "exception"))
        self.auth.decorate(req, resp, False)
        return resp

    def __rsgi_init__(self, loop: Any) -> None:
        pass

    def __rsgi_del__(self, loop: Any) -> None:
        self.close()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.repo.close()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


@lru_cache(maxsize=16)
def _content_type(media: str) -> str:
    return f"{media}; charset=utf-8"


def _headers(resp: Response) -> list[tuple[str, str]]:
    headers = list(resp.headers.items())
    if resp.content_type and (resp.body or resp.status >= 400):
        headers.append(("content-type", _content_type(resp.content_type)))
    if resp.stream is None:  # a streamed body sets its own content-length
        headers.append(("content-length", str(len(resp.body))))
    if resp.cookies:
        headers.extend(("set-cookie", c) for c in resp.cookies)
    return headers


async def _asgi_chunks(receive: Any) -> Any:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        if chunk := msg.get("body", b""):
            yield chunk
        if not msg.get("more_body"):
            return


def _too_large(limit: int) -> FhirError:
    return FhirError(413, f"Request body over the limit of {limit} bytes", "too-costly")


def _not_here(path: str) -> Response:
    if path in ("", "/"):
        body = orjson.dumps(
            {"name": "Hygie", "fhir": FHIR_MOUNT, "metadata": f"{FHIR_MOUNT}/metadata"}
        )
        return Response(200, body, {}, "application/json")
    return outcome_response(
        FhirError(404, f"Nothing at '{path}'; the FHIR API is at {FHIR_MOUNT}", "not-found")
    )


def create_app(db_url: str, settings: Settings | None = None) -> FhirApp:
    from hygie.rest.audit_ops import install_security
    from hygie.rest.identity_ops import install_identity
    from hygie.rest.records_ops import install_records
    from hygie.store import open_repository

    app = FhirApp(open_repository(db_url), settings)
    install_identity(app)
    install_records(app)
    install_security(app)  # the access policy and the audit trail (rest/audit_ops.py)
    if not app.settings.open:
        from hygie.auth.install import install_auth

        install_auth(app)
    return app
