"""Where the server's time goes: py-spy (sampling, launched around `hygie serve`) summarised.

py-spy cannot attach to an already running process on this VM ("Failed to find python
version"), but it can launch one: the server is started under `py-spy record --subprocesses`,
loaded with wrk (a bench.load plan), then stopped. Samples of server start-up (imports, app creation) are left out.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.load import runner
from bench.procs import Server

REQ = Path(__file__).parent / "requirements.txt"
STARTUP_MARKERS = (
    "Interactions.metadata (",  # the readiness probe builds the CapabilityStatement once
    "_find_and_load",
    "create_app (",
    "<module> (hygie",
    "load (hygie/fhir/definitions.py",
)
# leaf frames where a thread blocks (idle): counted apart, not as work
WAIT_MARKERS = (
    "Condition.wait (",
    "Event.wait (",
    "concurrent/futures/thread.py:81)",
    "Future.result (",
    "select (selectors.py",
    "_group_commit.py:44)",
    "Popen.poll (multiprocessing/popen_fork.py",
    "Queue.get (",
    "Connection.wait (",
    "PGconn.wait",
)


def py_spy() -> str | None:
    """The py-spy binary of the venv, installed from bench/requirements.txt if missing."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(REQ)], capture_output=True
        )
    if exe.exists():
        return str(exe)
    return shutil.which("py-spy")


def record(
    server: Server,
    out: Path,
    plan: Path,
    *,
    duration: int = 8,
    per_request: int = 1,
    rate: int = 200,
) -> dict[str, Any]:
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy not available"}
    spied = Server(
        server.name + " (py-spy)",
        [
            exe,
            "record",
            "--subprocesses",
            "--nonblocking",
            "--gil",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "-o",
            str(out),
            "--",
            *server.cmd,
        ],
        server.port,
        server.ready_path,
        server.env,
        server.log.with_suffix(".pyspy.log") if server.log else None,
    )
    with spied:
        result = runner.run(
            spied.base + "/fhir",
            plan,
            duration=duration,
            warmup=2,
            per_request=per_request,
            server_pids=spied.pids,
        )
    summary = summarise(out)
    if "samples" in summary:
        busy = (
            summary["samples"] + summary["wait_samples_dropped"] + summary["native_samples_dropped"]
        )
        # with --gil, one sample per tick at most (the GIL holder): the share of the load's
        # wall time (warm-up + measurement) during which some thread held the GIL
        summary["gil_held_pct"] = 100 * busy / (rate * (2 + duration))
    summary["load"] = {k: result[k] for k in ("rps", "ok_rps", "p50_ms", "p99_ms", "error_total")}
    summary["command"] = " ".join(spied.cmd)
    return summary


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if not f.startswith("process ")]


def _file_of(frame: str) -> str:
    if "(" in frame and frame.endswith(")"):
        return frame.rsplit("(", 1)[1][:-1].rsplit(":", 1)[0]
    return ""


def _area(frame: str) -> str:
    """A coarse bucket for the frame where a sample was taken (the leaf Python frame)."""
    f = _file_of(frame)
    if "hygie/fhir/" in f or "/hygie/fhir" in f or f.startswith("hygie/fhir"):
        return "hygie.fhir (validation, model)"
    for pkg in ("search", "store", "rest", "importing"):
        if f"hygie/{pkg}/" in f:
            return f"hygie.{pkg}"
    if "hygie/" in f:
        return "hygie (other)"
    for lib in (
        "asyncio",
        "concurrent",
        "threading",
        "queue",
        "json",
        "starlette",
        "psycopg",
        "psycopg_pool",
        "granian",
        "uvicorn",
        "email",
        "datetime",
        "uuid",
        "hashlib",
        "urllib",
        "re",
        "typing",
    ):
        if f.startswith((f"{lib}/", f"{lib}.py")) or f"/{lib}/" in f or f.endswith(f"/{lib}.py"):
            return lib
    return "other Python"


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Self (leaf) and inclusive frame counts, as % of the samples that were running Python
    code: start-up samples, blocked threads (waits) and samples without any Python frame
    (granian's native threads, or a thread between Python calls) are counted apart."""
    selfc: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    waits: collections.Counter[str] = collections.Counter()
    total = startup = native = 0
    if not path.exists():
        return {"error": f"no profile written at {path}"}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if any(m in stack for m in STARTUP_MARKERS):
            startup += n
            continue
        frames = _frames(stack)
        leaf = frames[-1] if frames else None
        if leaf is None:
            native += n
            continue
        if any(m in leaf for m in WAIT_MARKERS):
            waits[leaf] += n
            continue
        total += n
        selfc[leaf] += n
        areas[_area(leaf)] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return {"error": "no samples"}

    def pct(c):
        return [{"frame": k, "samples": v, "pct": 100 * v / total} for k, v in c.most_common(top)]

    incl_hygie = collections.Counter({k: v for k, v in incl.items() if "hygie/" in k})
    return {
        "samples": total,
        "startup_samples_dropped": startup,
        "wait_samples_dropped": sum(waits.values()),
        "native_samples_dropped": native,
        "waits": [{"frame": k, "samples": v} for k, v in waits.most_common(5)],
        "self": pct(selfc),
        "inclusive_hygie": pct(incl_hygie),
        "areas": pct(areas),
    }
