"""In-process measurements (no HTTP): the cost of each step of a write, single creates through
the Repository, bulk load through `Repository.load`, and cProfile summaries.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from bench import data
from hygie.fhir.validation import validate
from hygie.search import extract
from hygie.store import Context, open_repository
from hygie.store.repository import Prepared, content_hash


def per_call_us(fn: Callable[[], Any], repeat: int = 9, chunk_s: float = 0.03) -> float:
    """Best of `repeat` short timings (short chunks dodge the other load on the machine)."""
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(chunk_s / one))
    best = min(timeit.repeat(fn, number=number, repeat=repeat))
    return best / number * 1e6


def write_steps() -> dict[str, Any]:
    """µs per step of preparing a write, for a Patient and an Observation."""
    out = {}
    for name, res in (
        ("Patient", data.patient(7, rid="pat-7")),
        ("Observation", data.observation(7, "Patient/pat-7", "obs-7")),
    ):
        body = orjson.dumps(res)
        assert not validate(res), validate(res)

        def serialize(res=res):
            Prepared(res).serialize("pat-7", 1, "2026-11-26T10:00:00.000Z")

        out[name] = {
            "bytes": len(body),
            "parse_json_us": per_call_us(lambda body=body: orjson.loads(body)),
            "validate_us": per_call_us(lambda res=res: validate(res)),
            "extract_index_us": per_call_us(lambda res=res: extract(res)),
            "content_hash_us": per_call_us(lambda res=res: content_hash(res)),
            "prepared_and_serialize_us": per_call_us(serialize),
        }
    return out


def single_creates(url: str, n: int = 1000) -> dict[str, Any]:
    """`Repository.create` one at a time (each its own transaction), one thread."""
    repo = open_repository(url)
    ctx = Context.system()
    bodies = [orjson.dumps(data.patient(100_000 + i)) for i in range(n + 100)]
    try:
        for b in bodies[:100]:  # warm up (compiled validators, prepared statements)
            repo.create(ctx, orjson.loads(b), rtype="Patient")
        t0 = time.perf_counter()
        for b in bodies[100:]:
            repo.create(ctx, orjson.loads(b), rtype="Patient")
        secs = time.perf_counter() - t0
    finally:
        repo.close()
    return {"n": n, "seconds": secs, "per_s": n / secs, "us_per_create": secs / n * 1e6}


def profile_creates(url: str, n: int = 500, top: int = 15) -> dict[str, Any]:
    repo = open_repository(url)
    ctx = Context.system()
    bodies = [orjson.dumps(data.patient(200_000 + i)) for i in range(n + 50)]
    try:
        for b in bodies[:50]:
            repo.create(ctx, orjson.loads(b), rtype="Patient")
        prof = cProfile.Profile()
        prof.enable()
        for b in bodies[50:]:
            repo.create(ctx, orjson.loads(b), rtype="Patient")
        prof.disable()
    finally:
        repo.close()
    return summarise_cprofile(prof, n, top)


def summarise_cprofile(prof: cProfile.Profile, n: int, top: int = 15) -> dict[str, Any]:
    st = pstats.Stats(prof, stream=io.StringIO())
    total = st.total_tt
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append(
            {"function": f"{func} ({_short(file)}:{line})", "calls": nc, "self_s": tt, "cum_s": ct}
        )
    by_self = sorted(rows, key=lambda r: -r["self_s"])[:top]
    by_cum = sorted(
        (r for r in rows if "{built-in" not in r["function"]), key=lambda r: -r["cum_s"]
    )[: top + 10]
    for r in by_self + by_cum:
        r["self_pct"] = 100 * r["self_s"] / total if total else 0
        r["cum_pct"] = 100 * r["cum_s"] / total if total else 0
        r["cum_us_per_op"] = r["cum_s"] / n * 1e6
    key = {}
    for name, (suffix, func) in KEY_FUNCTIONS.items():
        ct = sum(
            v[3] for (file, _line, f), v in st.stats.items() if f == func and file.endswith(suffix)
        )
        key[name] = {"cum_us_per_op": ct / n * 1e6, "cum_pct": 100 * ct / total if total else 0}
    return {
        "ops": n,
        "total_s": total,
        "by_self": by_self,
        "by_cumulative": by_cum,
        "key": key,
    }


# the steps of a write, found by (file suffix, function name) in a cProfile
KEY_FUNCTIONS = {
    "validate": ("hygie/fhir/validation.py", "validate"),
    "index extraction": ("hygie/search/index.py", "extract"),
    "content hash": ("hygie/store/repository.py", "content_hash"),
    "serialise": ("hygie/store/repository.py", "serialize"),
    "database write (incl. waiting for the writer)": ("", "run_write"),
}


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def bulk_load(
    url: str, resources: list[dict[str, Any]], batch: int = 1000, profile: bool = False
) -> dict[str, Any]:
    """`Repository.load` in transactions of `batch` resources (what `hygie import` calls)."""
    repo = open_repository(url)
    ctx = Context.system()
    # give every batch fresh dicts, parsed from JSON as an importer would
    lines = [orjson.dumps(r) for r in resources]
    prof = cProfile.Profile() if profile else None
    try:
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        for i in range(0, len(lines), batch):
            repo.load(ctx, [orjson.loads(x) for x in lines[i : i + batch]])
        if prof:
            prof.disable()
        secs = time.perf_counter() - t0
    finally:
        repo.close()
    out = {
        "resources": len(lines),
        "batch": batch,
        "seconds": secs,
        "resources_per_s": len(lines) / secs,
    }
    if prof:
        out["profile"] = summarise_cprofile(prof, len(lines))
    return out


def asgi_requests(url: str, kind: str, n: int = 3000, profile: bool = False) -> dict[str, Any]:
    """Drive Hygie's ASGI app directly (no HTTP server, one request at a time) on a database
    holding the read set: µs per request of the app alone, optionally under cProfile.
    kind: "read" (GET by id among pat-0..pat-9999) or "create" (POST /fhir/Patient)."""
    import asyncio
    import random

    from hygie.rest.app import Settings, create_app

    app = create_app(url, Settings(open=True))  # no authentication: the bare FHIR path
    rng = random.Random(1)
    bodies = [orjson.dumps(data.patient(300_000 + i)) for i in range(200)]

    def scope_for(i: int) -> tuple[dict[str, Any], bytes]:
        if kind == "read":
            path, method, body = f"/fhir/Patient/pat-{rng.randrange(10_000)}", "GET", b""
        else:
            path, method, body = "/fhir/Patient", "POST", bodies[i % len(bodies)]
        headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/fhir+json")]
        if body:
            headers += [
                (b"content-type", b"application/fhir+json"),
                (b"content-length", str(len(body)).encode()),
            ]
        return (
            {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": method,
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "server": ("127.0.0.1", 8080),
                "client": ("127.0.0.1", 5555),
            },
            body,
        )

    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        scope, body = scope_for(i)

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg):
            if msg["type"] == "http.response.start":
                statuses[msg["status"]] = statuses.get(msg["status"], 0) + 1

        await app(scope, receive, send)

    async def run(count: int) -> None:
        for i in range(count):
            await one(i)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run(200))  # warm up
        statuses.clear()
        prof = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        loop.run_until_complete(run(n))
        if prof:
            prof.disable()
        secs = time.perf_counter() - t0
    finally:
        loop.close()
        app.executor.shutdown(wait=True)
        app.repo.close()
    out = {"kind": kind, "n": n, "us_per_request": secs / n * 1e6, "statuses": statuses}
    if prof:
        out["profile"] = summarise_cprofile(prof, n)
    return out
