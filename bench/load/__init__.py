"""bench.load: a load harness for any FHIR R4 server, driven by wrk.

    python -m bench.load --url http://127.0.0.1:8080/fhir [--token T] --scenario mixed \
        --duration 30 --connections 16 --out bench/out/load

`run()` (what the command calls, and what `make bench` calls for Hygie):
1. reads /metadata (the server's name and version, and an early 401 if a token is needed);
2. seeds the data it needs through the server's own API (bench/load/seed.py: transaction
   Bundles of synthetic patient records; ids read back from the responses);
3. writes one request plan per scenario (bench/load/plans.py), checks one request of each kind
   (a failing kind is reported, its scenario not run), then runs wrk with
   bench/load/lua/load.lua for each scenario (bench/load/runner.py);
4. measures the harness's own ceiling: each scenario's plan replayed with the same wrk options
   (at most 5 s) against a local trivial endpoint (bench/ceiling_app.py `any_rsgi`, any
   request -> a stored Patient); every scenario is reported with the ratio ceiling / measured,
   and with the CPU wrk itself used per request;
5. returns (and with `out_dir` writes) JSON and a Markdown table (bench/load/report.py).

Why wrk: a C event loop (one thread drives thousands of requests/s on one core) with LuaJIT
scripts for dynamic requests and per-response accounting; a Python client (httpx, aiohttp)
needs several processes, and so several cores, to drive the same rate on this 2-core machine.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.load import plans, runner
from bench.load.client import FhirClient
from bench.load.seed import seed

BUNDLE_SCENARIOS = ("transaction", "import")
CEILING_MAX_S = 5
CEILING_COMMAND = "python -m bench.ceiling_app --app any_rsgi (granian RSGI, 1 worker)"


def software(client: FhirClient) -> dict[str, Any]:
    r = client.request("GET", "/metadata")
    if r.status_code == 401:
        raise RuntimeError(
            "the server answered 401 to /metadata: give a token (--token, HYGIE_BENCH_TOKEN) "
            "or client credentials (--client-id/--client-secret)"
        )
    if r.status_code != 200:
        raise RuntimeError(f"GET {client.base}/metadata answered {r.status_code}: {r.text[:300]}")
    cs = r.json()
    sw = cs.get("software") or {}
    impl = cs.get("implementation") or {}
    return {
        "name": sw.get("name") or impl.get("description") or "?",
        "version": sw.get("version") or "?",
        "fhirVersion": cs.get("fhirVersion", "?"),
    }


def probe(client: FhirClient, req: plans.Request) -> dict[str, Any]:
    """One request of a kind before the load: does it work at all?"""
    body = req.body.replace(b"__N__", b"0") if req.body else None
    path = req.path[len(client.path) :] if req.path.startswith(client.path) else req.path
    try:
        r = client.request(req.method, path, body, prefer=req.prefer or None)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return {"ok": False, "status": None, "body": repr(e), "request": f"{req.method} {req.path}"}
    ok = 200 <= r.status_code < 300
    out: dict[str, Any] = {"ok": ok, "status": r.status_code}
    if ok and body and b'"Bundle"' in body[:40]:
        bad = [
            e.get("response", {}).get("status", "")
            for e in (r.json().get("entry") or [])
            if not str(e.get("response", {}).get("status", "")).startswith("2")
        ]
        if bad:
            out.update(ok=False, entry_statuses=bad[:5])
    if not out["ok"]:
        out["body"] = r.text[:600]
        out["request"] = f"{req.method} {req.path}"
    return out


def run(
    url: str,
    scenarios: list[str],
    *,
    duration: float = 10,
    warmup: float = 2,
    connections: int = 16,
    threads: int = 1,
    bundle_connections: int = 4,
    token: str | None = None,
    patients: int = 500,
    tx_entries: int = 100,
    import_batch: int = 200,
    documents: bool = True,
    ceiling: bool = True,
    out_dir: Path | None = None,
    label: str | None = None,
    server_pids: runner.Pids | None = None,
    db_pids: runner.Pids | None = None,
    quiet: bool = False,
    verify: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    unknown = [s for s in scenarios if s not in plans.SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {', '.join(plans.SCENARIOS)}")
    # wrk reads the plans from files: under out_dir, else in a temporary directory
    plan_dir = Path(out_dir) / "plans" if out_dir else Path(tempfile.mkdtemp(prefix="bench-load-"))
    client = FhirClient(url, token, verify=verify)
    shown = _without_userinfo(url)
    result: dict[str, Any] = {
        "target": shown,
        "label": label or shown,
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "options": {
            "duration_s": duration,
            "warmup_s": warmup,
            "connections": connections,
            "bundle_connections": bundle_connections,
            "threads": threads,
            "patients": patients,
            "tx_entries": tx_entries,
            "import_batch": import_batch,
            "authenticated": bool(token),
        },
        "harness": {
            "client": "wrk + LuaJIT (bench/load/lua/load.lua)",
            "wrk": runner.wrk_version(),
        },
        "scenarios": {},
        "probes": {},
    }
    try:
        result["server"] = software(client)
        log(f"{result['label']}: {result['server']['name']} {result['server']['version']}")
        log(f"seeding {patients} patient records through the API")
        records, result["seed"] = seed(client, patients, documents=documents, log=log)
        log(
            f"seeded {result['seed']['resources']} resources in {result['seed']['seconds']} s "
            f"({result['seed']['method']})"
        )
        written: dict[str, Path] = {}
        for scen in scenarios:
            plan = plans.build(
                scen,
                client.path,
                records,
                tx_entries=tx_entries,
                import_batch=import_batch,
                docs=result["seed"]["documents"],
            )
            written[scen] = plans.write(plan, plan_dir / f"{scen}.plan")
            probes = {kind: probe(client, reqs[0]) for kind, (_, reqs) in plan.items()}
            result["probes"][scen] = probes
            failed = {k: p for k, p in probes.items() if not p["ok"]}
            if failed:
                log(
                    f"{scen}: "
                    + ", ".join(f"{k} -> {p['status']}" for k, p in failed.items())
                    + "; "
                    "scenario skipped"
                )
                result["scenarios"][scen] = {"error": "probe failed", "failed_probes": failed}
                continue
            bundles = scen in BUNDLE_SCENARIOS
            log(f"{scen}: wrk {duration} s")
            try:
                result["scenarios"][scen] = runner.run(
                    url,
                    written[scen],
                    threads=threads,
                    conns=bundle_connections if bundles else connections,
                    duration=duration,
                    warmup=warmup,
                    token=token,
                    count_entries=scen == "import",
                    per_request=tx_entries if scen == "transaction" else 1,
                    server_pids=server_pids,
                    db_pids=db_pids,
                    quiet=quiet,
                )
                result["scenarios"][scen]["plan"] = str(written[scen])
            except Exception as e:  # noqa: BLE001 - one failing scenario must not hide the rest
                result["scenarios"][scen] = {"error": repr(e)}
        if ceiling and written:
            log("harness ceiling: each plan against a trivial local endpoint")
            conns = {
                s: bundle_connections if s in BUNDLE_SCENARIOS else connections for s in written
            }
            result["ceiling"] = measure_ceilings(
                written,
                conns,
                threads=threads,
                duration=min(duration, CEILING_MAX_S),
                warmup=min(warmup, 1),
                token=token,
                quiet=quiet,
            )
            for scen, r in result["scenarios"].items():
                c = (result["ceiling"].get(scen) or {}).get("ok_rps")
                if c and r.get("ok_rps"):
                    r["ceiling_ratio"] = c / r["ok_rps"]
    finally:
        client.close()
    result["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if out_dir:
        save(result, Path(out_dir))
    return result


def _without_userinfo(url: str) -> str:
    u = urlsplit(url)
    return u._replace(netloc=u.netloc.rsplit("@", 1)[-1]).geturl()


def measure_ceilings(
    written: dict[str, Path], conns: dict[str, int], **wrk_options
) -> dict[str, Any]:
    """Each plan, with the same wrk options, against bench/ceiling_app.py's `any_rsgi`
    (any request -> a stored Patient; granian RSGI, 1 worker) on this machine."""
    from bench.pgserver import free_port
    from bench.procs import Server

    port = free_port()
    root = Path(__file__).resolve().parent.parent.parent
    cmd = [sys.executable, "-m", "bench.ceiling_app", "--app", "any_rsgi", "--port", str(port)]
    env = {"BENCH_CEILING_N": "4", "PYTHONPATH": str(root)}
    out: dict[str, Any] = {}
    try:
        with Server("harness ceiling", cmd, port, "/", env) as srv:
            for scen, plan in written.items():
                try:
                    out[scen] = runner.run(
                        srv.base + "/",
                        plan,
                        server_pids=srv.pids,
                        conns=conns[scen],
                        count_entries=False,
                        **wrk_options,
                    )
                    out[scen]["server_command"] = CEILING_COMMAND
                except Exception as e:  # noqa: BLE001
                    out[scen] = {"error": repr(e)}
    except Exception as e:  # noqa: BLE001 - the ceiling server did not start
        return {"error": repr(e)}
    return out


def save(result: dict[str, Any], out_dir: Path) -> Path:
    from bench.load import report

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "load.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    (out_dir / "load.md").write_text(report.markdown(result) + "\n")
    return path
