"""Overhead of the access policy and the audit trail on read-by-id and search throughput, on
SQLite and PostgreSQL, measured in one run, two ways:

* in process: the same Repository calls by the same practitioner (in the care team, two
  factors) with enforcement off (no policy, no audit) and on (policy + an audit record on
  disk before each answer: the audit spool, shipped into the audit tables and sealed by the
  node's shipper process, `hygie audit ship`, as under `hygie serve`), `threads` concurrent
  callers;
* over HTTP (wrk, `hygie serve`, one worker): `--open` (no token, no policy, no audit) against
  the secure server with the practitioner's bearer token (token check + policy + audit).

Issue 7 targets < 15 %.

    run(quick) -> dict ; markdown(result) -> str   (bench/suites.py protocol)
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import pgserver
from hygie.store import Context, Repository, open_repository

OUT = Path(__file__).parent / "out" / "policy_overhead.json"
GP = Context(
    actor="Practitioner/gp1",
    kind="practitioner",
    scopes=frozenset({"user/*.cruds"}),
    profession="10",
    auth_level="mfa",
)


def _populate(repo: Repository, patients: int) -> list[str]:
    system = Context.system()
    batch: list[dict[str, Any]] = []
    obs_ids = []
    for p in range(patients):
        pid = f"p{p}"
        batch.append({"resourceType": "Patient", "id": pid, "name": [{"family": f"Nom{p}"}]})
        batch.append(
            {
                "resourceType": "CareTeam",
                "id": f"ct{p}",
                "status": "active",
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"member": {"reference": "Practitioner/gp1"}}],
            }
        )
        for k in range(5):
            oid = f"o{p}-{k}"
            obs_ids.append(oid)
            batch.append(
                {
                    "resourceType": "Observation",
                    "id": oid,
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "valueQuantity": {"value": 60 + k, "unit": "/min"},
                }
            )
    repo.load(system, batch)
    return obs_ids


def _throughput(fn: Any, threads: int, seconds: float) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        rnd = random.Random(i)
        while time.perf_counter() < stop:
            fn(rnd)
            counts[i] += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def _measure(url: str, patients: int, seconds: float, threads: int) -> dict[str, Any]:
    from hygie import access, audit

    plain = open_repository(url)
    ids = _populate(plain, patients)
    plain.backend.analyze()  # as `hygie import` does after a bulk load (PostgreSQL statistics)
    secured = open_repository(url)
    access.install(secured)
    # as under `hygie serve`: this process only journals; the node's shipper process ships
    # and seals (hygie.audit.shipper)
    os.environ["HYGIE_AUDIT_SHIPPER"] = "process"
    try:
        recorder = audit.install(secured)
    finally:
        del os.environ["HYGIE_AUDIT_SHIPPER"]
    hygie = str(Path(sys.executable).parent / "hygie")
    shipper = subprocess.Popen([hygie, "audit", "ship", "--db", url], start_new_session=True)
    out: dict[str, Any] = {}
    base = "http://bench/fhir"
    for name, call in (
        ("read", lambda repo, rnd: repo.read(GP, "Observation", rnd.choice(ids))),
        (
            "search",
            lambda repo, rnd: repo.search(
                GP, "Observation", [("patient", f"Patient/p{rnd.randrange(patients)}")], base=base
            ),
        ),
    ):
        call(secured, random.Random(0))  # warm caches on both paths
        call(plain, random.Random(0))
        off = _throughput(lambda rnd, c=call: c(plain, rnd), threads, seconds)
        on = _throughput(lambda rnd, c=call: c(secured, rnd), threads, seconds)
        off2 = _throughput(lambda rnd, c=call: c(plain, rnd), threads, seconds)
        off = max(off, off2)
        out[name] = {
            "off_per_s": round(off),
            "on_per_s": round(on),
            "overhead_pct": round(100 * (1 - on / off), 1),
        }
    _stop(shipper)
    recorder.close()
    secured.close()
    plain.close()
    return out


def _serve(db: str, port: int, secure: bool, log: Path) -> subprocess.Popen[bytes]:
    hygie = str(Path(sys.executable).parent / "hygie")
    cmd = [hygie, "serve", "--db", db, "--port", str(port), *([] if secure else ["--open"])]
    out = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"hygie serve did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _plan(path: Path, kind: str, urls: list[str]) -> Path:
    """A bench.load plan: one kind of request, one of `urls` at random each time."""
    lines = [f"W\t{kind}\t1"] + [f"R\t{kind}\tGET\t{u}\t\t" for u in urls]
    path.write_text("\n".join(lines) + "\n")
    return path


def _wrk(
    origin: str, plan: Path, seconds: float, token: str | None, server: int
) -> tuple[float, float]:
    """(requests/s, server CPU µs per request: every process of `hygie serve`, its audit
    shipper included) of wrk (2 threads, 32 connections) on `plan` (bench/load/lua/load.lua)."""
    from bench.load import runner
    from bench.procs import proc_tree

    r = runner.run(
        origin,
        plan,
        threads=2,
        conns=32,
        duration=seconds,
        warmup=1,
        token=token,
        server_pids=lambda: proc_tree(server),
    )
    if r["error_total"]:
        raise RuntimeError(f"{r['error_total']} failed requests ({plan.name})")
    rps = float(r["rps"])
    return rps, (r["cpu_server_cores"] or 0) / rps * 1e6


def _measure_http(db: str, patients: int, seconds: float, tmp: Path) -> dict[str, Any]:
    from hygie.auth import accounts
    from hygie.auth.mint import mint_access_token
    from hygie.auth.schema import ensure_schema

    repo = open_repository(db)
    ensure_schema(repo.backend)
    accounts.create(
        repo.backend,
        username="bench.gp",
        kind="practitioner",
        password=None,
        fhir_user="Practitioner/gp1",
        profession="10",
    )
    repo.close()
    port = pgserver.free_port()
    origin = f"http://127.0.0.1:{port}"
    # every request names another resource / patient of the practitioner's 2,000 (as the
    # in-process measure does): no answer is served twice from a warm per-resource cache
    rnd = random.Random(7)
    plans = {
        "read": _plan(
            tmp / "read.plan",
            "read",
            [
                f"/fhir/Observation/o{rnd.randrange(patients)}-{rnd.randrange(5)}"
                for _ in range(4000)
            ],
        ),
        "search": _plan(
            tmp / "search.plan",
            "search",
            [f"/fhir/Observation?patient=Patient/p{p}" for p in range(patients)],
        ),
    }
    out: dict[str, Any] = {"read": {}, "search": {}}
    for secure in (False, True):
        proc = _serve(db, port, secure, tmp / f"serve-{secure}.log")
        try:
            token = None
            if secure:
                token = mint_access_token(db, origin, username="bench.gp", scope="user/*.rs")
            for name, plan in plans.items():
                rps, cpu_us = _wrk(origin, plan, seconds, token, proc.pid)
                side = "on" if secure else "off"
                out[name][f"{side}_per_s"] = round(rps)
                out[name][f"{side}_cpu_us"] = round(cpu_us, 1)
        finally:
            _stop(proc)
    for r in out.values():
        r["overhead_pct"] = round(100 * (1 - r["on_per_s"] / r["off_per_s"]), 1)
    return out


def run(quick: bool) -> dict[str, Any]:
    patients, seconds, threads = (50, 1.5, 8) if quick else (2000, 10.0, 16)
    http_seconds = 3.0 if quick else 15.0
    result: dict[str, Any] = {"patients": patients, "seconds": seconds, "threads": threads}
    result["http_seconds"] = http_seconds
    with tempfile.TemporaryDirectory(prefix="hygie-bench-policy-") as tmp:
        result["sqlite"] = _measure(f"sqlite:///{tmp}/p.db", patients, seconds, threads)
        result["sqlite_http"] = _measure_http(
            f"sqlite:///{tmp}/p.db", patients, http_seconds, Path(tmp)
        )
        url, stop = pgserver.start()
        try:
            db = pgserver.create_database(url, "policy")
            result["postgres"] = _measure(db, patients, seconds, threads)
            result["postgres_http"] = _measure_http(db, patients, http_seconds, Path(tmp))
        finally:
            stop()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### Access policy and audit overhead (issue 7)",
        "",
        f"In process, {result['threads']} threads, {result['seconds']} s per measure, "
        f"{result['patients']} patients × 5 Observations, a practitioner of their care team "
        "(two factors; the care team holds all the patients). Off: no policy, no audit. On: policy + "
        "one audit record journaled before each answer (the audit spool), shipped into the audit "
        "tables and sealed into the hash chain by the node's shipper process (`hygie audit "
        "ship`, as under `hygie serve`). "
        "Target: overhead < 15 %.",
        "",
        "| database | interaction | off (/s) | on (/s) | overhead |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for db in ("sqlite", "postgres"):
        for name, r in result.get(db, {}).items():
            lines.append(
                f"| {db} | {name} | {r['off_per_s']} | {r['on_per_s']} | {r['overhead_pct']} % |"
            )
    lines += [
        "",
        f"Over HTTP: wrk, 2 threads, 32 connections, {result.get('http_seconds')} s, `hygie serve`"
        " (one worker) `--open` (off) vs secure with the practitioner's bearer token (on: token"
        " check + policy + audit; the server's audit shipper process ships and seals). Read:"
        " `Observation/[id]` of any of the Observations, search: `Observation?patient=` of any"
        " of the patients, at random (bench/load/lua/load.lua). Server CPU: every process of"
        " `hygie serve` (its worker and, when secure, the audit shipper), µs per request"
        " (the database server's own CPU not included).",
        "",
        "| database | interaction | off (/s) | on (/s) | overhead | server CPU off / on (µs) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for db in ("sqlite", "postgres"):
        for name, r in result.get(f"{db}_http", {}).items():
            cpu = f"{r['off_cpu_us']} / {r['on_cpu_us']}" if "on_cpu_us" in r else "–"
            lines.append(
                f"| {db} | {name} | {r['off_per_s']} | {r['on_per_s']} |"
                f" {r['overhead_pct']} % | {cpu} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    res = run(quick=True)
    print(markdown(res))
