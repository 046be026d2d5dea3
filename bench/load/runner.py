"""Run wrk with bench/load/lua/load.lua on one plan file and turn its BENCH_JSON line into
figures: throughput, latency percentiles, responses by HTTP status, requests issued by kind.

Also measures, over the measured run, the CPU used by wrk itself, by the server's process tree
and by its database when their pids are known (a local server), and by the whole machine (what
else competed for the cores).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.procs import cpu_seconds, cpu_user_sys, system_cpu_seconds

LUA = Path(__file__).parent / "lua" / "load.lua"
REPO = Path(__file__).resolve().parent.parent.parent
Pids = Callable[[], list[int]]

# Other work on the machine (other engineers' test suites) distorts the figures: with
# wait_quiet=True, before each measurement wait up to QUIET_MAX_WAIT s until the rest of the
# machine uses less than QUIET_CORES, within a budget for the whole process. What was left is
# reported as "other CPU".
QUIET_CORES = 0.5
QUIET_MAX_WAIT = 15.0
_quiet_budget = [90.0]


def wait_quiet(own_pids: list[int] = ()) -> dict[str, float]:
    """Wait (bounded) for a quiet machine; returns the wait and the last other-CPU sample."""
    t0 = time.monotonic()
    while True:
        b0, _ = system_cpu_seconds()
        c0 = cpu_seconds(list(own_pids))
        time.sleep(1.0)
        b1, _ = system_cpu_seconds()
        other = max(0.0, (b1 - b0) - (cpu_seconds(list(own_pids)) - c0))
        waited = time.monotonic() - t0
        if other < QUIET_CORES or waited >= QUIET_MAX_WAIT or waited >= _quiet_budget[0]:
            _quiet_budget[0] = max(0.0, _quiet_budget[0] - waited)
            return {"waited_s": round(waited, 1), "other_cores_before": round(other, 2)}


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "not installed"
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def origin(url: str) -> str:
    """scheme://host:port of a base URL: wrk's target (the plan's paths carry the base path)."""
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}"


def command(url: str, *, threads: int, conns: int, duration: float) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{max(conns, threads)}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA.relative_to(REPO)) if LUA.is_relative_to(REPO) else str(LUA),
        origin(url),
    ]


def run(
    url: str,
    plan: Path,
    *,
    threads: int = 1,
    conns: int = 16,
    duration: float = 10,
    warmup: float = 3,
    token: str | None = None,
    count_entries: bool = False,
    per_request: int = 1,
    server_pids: Pids | None = None,
    db_pids: Pids | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Warm up (a run of `warmup` s, not counted), then one measured run of `duration` s."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    env = {"BENCH_PLAN": str(plan), "BENCH_ENTRIES": "1" if count_entries else "0"}
    full_env = {**os.environ, **env}
    if token:
        full_env["BENCH_TOKEN"] = token  # never in the recorded command
    pids_of = server_pids or (lambda: [])
    q = wait_quiet(pids_of() + (db_pids() if db_pids else [])) if quiet else None
    if warmup:
        subprocess.run(
            command(url, threads=threads, conns=conns, duration=warmup),
            env=full_env,
            cwd=REPO,
            capture_output=True,
        )
    cmd = command(url, threads=threads, conns=conns, duration=duration)
    pids = pids_of()
    dbp = db_pids() if db_pids else []  # after the warm-up: the pool's backends exist
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    us0 = cpu_user_sys(pids)
    db0 = cpu_seconds(dbp)
    s0, (sys0, st0), t0 = cpu_seconds(pids), system_cpu_seconds(), time.monotonic()
    proc = subprocess.run(cmd, env=full_env, cwd=REPO, capture_output=True, text=True)
    wall = time.monotonic() - t0
    s1, (sys1, st1) = cpu_seconds(pids), system_cpu_seconds()
    us1 = cpu_user_sys(pids)
    db_cpu = cpu_seconds(dbp) - db0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-800:]} "
            f"{proc.stdout.strip()[-500:]}"
        )
    r = json.loads(line[len("BENCH_JSON ") :])
    out = figures(r, per_request=per_request, count_entries=count_entries)
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    server_cpu = s1 - s0 if pids else None
    busy = sys1 - sys0
    out.update(
        {
            "command": " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
            + (" BENCH_TOKEN=…" if token else "")
            + " "
            + " ".join(shlex.quote(c) for c in cmd),
            "threads": threads,
            "connections": max(conns, threads),
            "quiet": q,
            "cpu_wrk_cores": wrk_cpu / wall,
            "wrk_cpu_us_per_request": wrk_cpu / max(1, r["requests"]) * 1e6,
            "cpu_server_cores": server_cpu / wall if server_cpu is not None else None,
            "cpu_db_cores": db_cpu / wall if db_pids else None,
            "cpu_other_cores": max(0.0, busy - wrk_cpu - (server_cpu or 0) - db_cpu) / wall,
            "cpu_steal_cores": (st1 - st0) / wall,
            "cpu_server_sys_share": (us1[1] - us0[1])
            / max(1e-9, (us1[0] - us0[0]) + (us1[1] - us0[1]))
            if pids
            else None,
        }
    )
    return out


def figures(r: dict[str, Any], *, per_request: int = 1, count_entries: bool = False) -> dict:
    """Figures from the BENCH_JSON of load.lua's done()."""
    secs = r["duration_us"] / 1e6
    statuses = {int(k): v for k, v in r["statuses"].items()}
    ok = sum(v for k, v in statuses.items() if k < 400)
    errors: dict[str, int] = {k: v for k, v in r["socket_errors"].items() if v}
    for k, v in sorted(statuses.items()):
        if k >= 400:
            errors[f"HTTP {k}"] = v
    entries = {int(k): v for k, v in r.get("entries", {}).items()}
    entries_ok = sum(v for k, v in entries.items() if k < 400)
    for k, v in sorted(entries.items()):
        if k >= 400:
            errors[f"entry {k}"] = v
    pct = r["latency_us"]["percentiles"]
    out = {
        "duration_s": round(secs, 2),
        "requests": r["requests"],
        "responses": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "issued_by_kind": r["issued"],
        "errors": errors,
        "error_total": sum(errors.values()),
        "rps": r["requests"] / secs,
        "ok_rps": ok / secs,
        "resources_per_s": (entries_ok if count_entries else ok * per_request) / secs,
        "p50_ms": pct["50"] / 1000,
        "p90_ms": pct["90"] / 1000,
        "p95_ms": pct["95"] / 1000,
        "p99_ms": pct["99"] / 1000,
        "max_ms": r["latency_us"]["max"] / 1000,
        "mean_ms": r["latency_us"]["mean"] / 1000,
        "latency_us": r["latency_us"],
        "bytes_read": r["bytes"],
    }
    if count_entries:
        out["entries"] = {str(k): v for k, v in sorted(entries.items())}
    return out
