"""The HTTP ceiling: the least an ASGI app can do to answer a FHIR read by id.

`app` is raw ASGI: a dict lookup of a stored ~600-byte Patient body (the same resources,
with the same server meta, as Hygie stores for the read benchmark), sent as
application/fhir+json. `starlette_app` is the same with Starlette routing, for context.
`any_app` answers every request (any method, any path; the body is read and dropped) with the
same stored Patient: the trivial endpoint against which bench.load measures its own ceiling.
Served exactly as `hygie serve` serves Hygie (granian, ASGI interface, same options):

    python -m bench.ceiling_app --port 8081 [--workers 1] [--app app|starlette_app]
"""

from __future__ import annotations

import argparse
import os

import orjson

from bench import data

N = int(os.environ.get("BENCH_CEILING_N", "10000"))
PREFIX = "/fhir/Patient/"
NOT_FOUND = b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}'


def _bodies(n: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        res = data.patient(i, rid=f"pat-{i}")
        res = {
            "resourceType": "Patient",
            "id": res["id"],
            "meta": {"versionId": "1", "lastUpdated": "2026-11-26T10:00:00.000Z"},
            **{k: v for k, v in res.items() if k not in ("resourceType", "id")},
        }
        out[f"pat-{i}"] = orjson.dumps(res)
    return out


BODIES = _bodies(N)
_HEADERS_CT = (b"content-type", b"application/fhir+json; charset=utf-8")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    body = BODIES.get(path[len(PREFIX) :]) if path.startswith(PREFIX) else None
    status = 200 if body is not None else 404
    body = body if body is not None else NOT_FOUND
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_HEADERS_CT, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_ANY_BODY = b""


async def any_app(scope, receive, send):
    global _ANY_BODY
    if scope["type"] == "lifespan":
        return await app(scope, receive, send)
    if not _ANY_BODY:
        _ANY_BODY = next(iter(BODIES.values()))
    more = True
    while more:  # drain the request body, as a server must
        msg = await receive()
        more = msg.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [_HEADERS_CT, (b"content-length", str(len(_ANY_BODY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": _ANY_BODY})


async def any_rsgi(scope, proto):
    """`any_app` on granian's native RSGI interface (as `hygie serve` runs Hygie): the least
    Python work per request, so the fastest trivial endpoint this machine can serve."""
    global _ANY_BODY
    if not _ANY_BODY:
        _ANY_BODY = next(iter(BODIES.values()))
    await proto()  # the request body, read and dropped
    proto.response_bytes(200, [("content-type", "application/fhir+json; charset=utf-8")], _ANY_BODY)


def _starlette():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def read(request):
        body = BODIES.get(request.path_params["rid"])
        if body is None:
            return Response(NOT_FOUND, 404, media_type="application/fhir+json")
        return Response(body, media_type="application/fhir+json")

    return Starlette(routes=[Route(PREFIX + "{rid}", read)])


starlette_app = _starlette()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--app", default="app", choices=["app", "starlette_app", "any_app", "any_rsgi"])
    ap.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    args = ap.parse_args()
    target = f"bench.ceiling_app:{args.app}"
    if args.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            target, host=args.host, port=args.port, workers=args.workers, log_level="warning"
        )
        return
    from granian import Granian
    from granian.constants import Interfaces

    # the same options as `hygie serve` (src/hygie/cli.py)
    Granian(
        target,
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI if args.app.endswith("_rsgi") else Interfaces.ASGI,
        workers=args.workers,
        log_level="warning",
        backlog=2048,
    ).serve()


if __name__ == "__main__":
    main()
