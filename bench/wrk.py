"""Run wrk with a bench/lua script and parse the JSON its done() prints.

Also measures, over the measured run, the CPU used by wrk itself, by the server's process tree,
and by the whole machine (to show what else competed for the 2 cores).
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

from bench.procs import Server, cpu_seconds, cpu_user_sys, system_cpu_seconds

LUA_DIR = Path(__file__).parent / "lua"
REPO = Path(__file__).resolve().parent.parent


# Other work on the machine (other engineers' test suites) distorts the figures: before each
# measurement, wait for up to QUIET_MAX_WAIT s until the rest of the machine uses less than
# QUIET_CORES, within a budget for the whole run. What was left is reported as "other CPU".
QUIET_CORES = 0.5
QUIET_MAX_WAIT = 15.0
_quiet_budget = [90.0]


def wait_quiet(own_pids: list[int] = ()) -> dict[str, float]:
    """Wait (bounded) for a quiet machine; returns the wait and the last other-CPU sample."""
    t0 = time.monotonic()
    other = 0.0
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
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def command(script: str, url: str, *, threads: int, conns: int, duration: int) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{conns}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        f"bench/lua/{script}.lua",
        url,
    ]


def run(
    server: Server,
    script: str,
    env: dict[str, str],
    *,
    threads: int = 1,
    conns: int = 16,
    duration: int = 10,
    warmup: int = 3,
    per_request: int = 1,
    db_pids: Callable[[], list[int]] | None = None,
) -> dict[str, Any]:
    """Warm up, then one measured run; returns figures (per_request: resources per request)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    full_env = {**os.environ, "BENCH_LUA_DIR": str(LUA_DIR), **env}
    quiet = wait_quiet(server.pids() + (db_pids() if db_pids else []))
    if warmup:
        subprocess.run(
            command(script, server.base, threads=threads, conns=conns, duration=warmup),
            env=full_env,
            cwd=REPO,
            capture_output=True,
        )
    cmd = command(script, server.base, threads=threads, conns=conns, duration=duration)
    pids = server.pids()
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
            f"wrk failed ({proc.returncode}): {proc.stderr.strip()} {proc.stdout.strip()[-500:]}"
        )
    r = json.loads(line[len("BENCH_JSON ") :])
    secs = r["duration_us"] / 1e6
    errors = sum(r["errors"].values())
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    server_cpu = s1 - s0
    busy = sys1 - sys0
    ok = r["requests"] - r["errors"]["status"]
    return {
        "script": script,
        "quiet": quiet,
        "command": " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
        + " "
        + " ".join(shlex.quote(c) for c in cmd),
        "threads": threads,
        "connections": conns,
        "duration_s": round(secs, 2),
        "requests": r["requests"],
        "errors": r["errors"],
        "error_total": errors,
        "rps": r["requests"] / secs,
        "ok_rps": ok / secs,
        "resources_per_s": ok * per_request / secs,
        "p50_ms": r["latency_us"]["percentiles"]["50"] / 1000,
        "p90_ms": r["latency_us"]["percentiles"]["90"] / 1000,
        "p99_ms": r["latency_us"]["percentiles"]["99"] / 1000,
        "max_ms": r["latency_us"]["max"] / 1000,
        "latency_us": r["latency_us"],
        "cpu_wrk_cores": wrk_cpu / wall,
        "cpu_server_cores": server_cpu / wall,
        "cpu_db_cores": db_cpu / wall if db_pids else None,
        "cpu_other_cores": max(0.0, busy - wrk_cpu - server_cpu - db_cpu) / wall,
        "cpu_steal_cores": (st1 - st0) / wall,
        "cpu_server_sys_share": (us1[1] - us0[1])
        / max(1e-9, (us1[0] - us0[0]) + (us1[1] - us0[1])),
        "stdout": proc.stdout,
    }
