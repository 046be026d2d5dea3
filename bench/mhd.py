"""The shared record over real HTTP: IHE MHD ITI-65 publications per second (one 200 KB PDF
each, `concurrency` clients) and the ITI-67 p99 for a patient with 1,000 documents, on SQLite
and PostgreSQL, with the access policy and the audit trail on (a system client with a bearer
token from the built-in OpenID provider; `hygie serve` without `--open`).

Each publication is a PDSm comprehensive Provide Document Bundle (SubmissionSet,
DocumentReference, Binary) with its own bytes (a unique marker inside the PDF), so the blob
store writes and fsyncs every document; the server checks the whole bundle (INS of a qualified
identity, RPPS author, codes, size and SHA-1, PDF format) before one transaction.

    run(quick) -> dict ; markdown(result) -> str   (bench/suites.py protocol)
"""

from __future__ import annotations

import hashlib
import os
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
from bench.procs import Server, cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).parent / "out" / "mhd.json"
LOGS = Path(__file__).parent / "out" / "logs"
BIN = Path(sys.executable).parent
PDF_SIZE = 200 * 1024
TARGET = 500.0  # publications/s on PostgreSQL (issue 8)


def _pdf(marker: bytes, size: int) -> bytes:
    head = b"%PDF-1.4\n% Hygie bench " + marker + b"\n"
    tail = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    body = (hashlib.sha256(b"page").hexdigest().encode() * (size // 64 + 1))[
        : size - len(head) - len(tail)
    ]
    return head + body + tail


class BundleMaker:
    """ITI-65 bundles for one patient from a template: only the PDF (and its hash) change."""

    def __init__(self, patient: str, size: int = PDF_SIZE) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.services.records.conftest import provide_bundle

        self.size = size
        self.template = provide_bundle(patient, [_pdf(b"0" * 16, size)])
        self.count = 0
        self.lock = threading.Lock()

    def make(self, docs: int = 1) -> bytes:
        from tests.services.records.conftest import provide_bundle

        with self.lock:
            self.count += 1
            n = self.count
        patient = self.template["entry"][0]["resource"]["subject"]["reference"]
        contents = [
            _pdf(f"{os.getpid()}-{n}-{k}".encode().ljust(16, b"."), self.size) for k in range(docs)
        ]
        return orjson.dumps(provide_bundle(patient, contents))


def _server(url: str, name: str, workers: int, blob_dir: str) -> Server:
    port = pgserver.free_port()
    cmd = [
        str(BIN / "hygie"),
        "serve",
        "--db",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--server",
        "granian",
    ]
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {"HYGIE_BLOB_DIR": blob_dir}
    return Server(f"hygie mhd {name}", cmd, port, "/fhir/metadata", env, LOGS / f"mhd-{name}.log")


def _token(url: str, base: str) -> str:
    run = subprocess.run(
        [
            str(BIN / "hygie"),
            "client",
            "create",
            "bench-mhd",
            "--scope",
            "system/*.cruds",
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    created = orjson.loads(run.stdout)
    r = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.cruds"},
        auth=(created["client_id"], created["client_secret"]),
    )
    r.raise_for_status()
    return r.json()["access_token"]


def _patients(url: str, n: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.services.records.conftest import add_patient

    from hygie.store import open_repository

    repo = open_repository(url)
    try:
        return [add_patient(repo, order=f"{100 + i:03d}") for i in range(n)]
    finally:
        repo.close()


def _publish_load(
    base: str, headers: dict[str, str], maker: BundleMaker, seconds: float, conc: int
) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    lat: list[list[float]] = [[] for _ in range(conc)]
    errors = [0] * conc

    def worker(i: int) -> None:
        with httpx.Client(timeout=60, headers=headers) as http:
            while time.perf_counter() < stop:
                body = maker.make()
                t0 = time.perf_counter()
                r = http.post(base, content=body)
                lat[i].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors[i] += 1
                    if errors[i] == 1:
                        print(f"  ITI-65 {r.status_code}: {r.text[:300]}", file=sys.stderr)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    all_lat = sorted(x for xs in lat for x in xs)
    ok = len(all_lat) - sum(errors)
    return {
        "publications": ok,
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "per_second": round(ok / elapsed, 1),
        "p50_ms": round(1000 * all_lat[len(all_lat) // 2], 1) if all_lat else None,
        "p99_ms": round(1000 * all_lat[int(len(all_lat) * 0.99) - 1], 1) if all_lat else None,
    }


def _analyze(url: str) -> None:
    """Fresh planner statistics (what autovacuum gives a database in steady state): measured
    right after 1,000 publications, PostgreSQL still plans with the statistics of an empty
    table until autoanalyze runs."""
    from hygie.store import open_backend

    backend = open_backend(url)
    try:
        backend.analyze()
    finally:
        backend.close()


def _find_p99(
    base: str,
    headers: dict[str, str],
    patient: str,
    docs: int,
    requests: int,
    analyze: Any = None,
) -> dict[str, Any]:
    maker = BundleMaker(patient, size=2048)
    with httpx.Client(timeout=120, headers=headers) as http:
        made = 0
        while made < docs:
            k = min(50, docs - made)
            r = http.post(base, content=maker.make(k))
            r.raise_for_status()
            made += k
        if analyze is not None:
            analyze()
        pid = patient.split("/")[1]
        queries = [
            f"DocumentReference?patient={pid}&status=current",
            f"DocumentReference?patient={pid}&status=current&type=http://loinc.org|11490-0",
            f"DocumentReference?patient={pid}&category=10&date=ge2026-01-01",
        ]
        total = http.get(f"{base}/{queries[0]}&_summary=count").json().get("total")
        lat = []
        for i in range(requests):
            t0 = time.perf_counter()
            r = http.get(f"{base}/{queries[i % len(queries)]}")
            lat.append(time.perf_counter() - t0)
            r.raise_for_status()
    lat.sort()
    return {
        "documents": total,
        "requests": requests,
        "page": "default _count",
        "p50_ms": round(1000 * lat[len(lat) // 2], 1),
        "p99_ms": round(1000 * lat[int(len(lat) * 0.99) - 1], 1),
    }


def _one(url: str, name: str, quick: bool, workers: int) -> dict[str, Any]:
    blob_dir = tempfile.mkdtemp(prefix=f"hygie-bench-blobs-{name}-")
    patients = _patients(url, 2)
    srv = _server(url, name, workers, blob_dir)
    with srv:
        iss = srv.base
        token = _token(url, iss)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/fhir+json",
            "Accept": "application/fhir+json",
        }
        base = f"{srv.base}/fhir"
        maker = BundleMaker(patients[0])
        _publish_load(base, headers, maker, 2 if quick else 5, 8)  # warm-up
        cpu0, client0 = cpu_seconds(srv.pids()), time.process_time()
        pub = _publish_load(base, headers, maker, 5 if quick else 30, 8)
        pub["server_cpu_s"] = round(cpu_seconds(srv.pids()) - cpu0, 1)
        pub["client_cpu_s"] = round(time.process_time() - client0, 1)
        n = max(1, pub["publications"])
        pub["server_cpu_ms_per_publication"] = round(1000 * pub["server_cpu_s"] / n, 2)
        pub["load_average_1m"] = os.getloadavg()[0]
        find = _find_p99(
            base,
            headers,
            patients[1],
            200 if quick else 1000,
            100 if quick else 600,
            analyze=lambda: _analyze(url),
        )
    return {
        "database": name,
        "workers": workers,
        "iti65": pub,
        "iti67": find,
        "policy_and_audit": "on (system client, bearer token)",
    }


def run(quick: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hygie-bench-mhd-"))
    out: dict[str, Any] = {"quick": quick, "pdf_bytes": PDF_SIZE, "concurrency": 8}
    out["sqlite"] = _one(f"sqlite:///{tmp / 'mhd.db'}", "sqlite", quick, 1)
    url, stop = pgserver.start()
    try:
        out["postgres"] = _one(url, "postgres", quick, 2)
    finally:
        stop()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "### Shared record (IHE MHD)",
        "",
        f"ITI-65 publications over real HTTP, one {result['pdf_bytes'] // 1024} KB PDF each,"
        f" {result['concurrency']} concurrent clients, policy and audit on; ITI-67 searches of one"
        " patient's documents (patient + status, + type, class + date), measured after the"
        " documents were published and the planner statistics refreshed (ANALYZE, as"
        " autovacuum does in steady state)."
        + (" Quick run (short, small)." if result.get("quick") else ""),
        "",
        "| database | server workers | ITI-65 publications/s | ITI-65 p50 / p99 ms | server CPU ms / publication | errors | ITI-67 documents | ITI-67 p50 / p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in ("sqlite", "postgres"):
        r = result.get(key)
        if not r:
            continue
        p, f = r["iti65"], r["iti67"]
        lines.append(
            f"| {key} | {r['workers']} | {p['per_second']} | {p['p50_ms']} / {p['p99_ms']}"
            f" | {p.get('server_cpu_ms_per_publication')} | {p['errors']}"
            f" | {f['documents']} | {f['p50_ms']} / {f['p99_ms']} |"
        )
    pg = (result.get("postgres") or {}).get("iti65", {}).get("per_second")
    if pg is not None:
        verdict = "met" if pg >= TARGET else "not met"
        lines += ["", f"Target ≥ {TARGET:.0f} publications/s on PostgreSQL: {verdict} ({pg}/s)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    res = run("--quick" in sys.argv)
    print(markdown(res))
