"""Overhead of the access policy and the audit trail on read-by-id and search throughput, on
SQLite and PostgreSQL, measured in one run: the same Repository calls by the same practitioner
(in the care team, two factors) with enforcement off (no policy, no audit) and on (policy +
an audit record committed before each answer). In process, `threads` concurrent callers, so
that the audit's group commit is exercised as a server would; issue 7 targets < 15 %.

    run(quick) -> dict ; markdown(result) -> str   (bench/suites.py protocol)
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

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
    secured = open_repository(url)
    access.install(secured)
    recorder = audit.install(secured, seal_every=1.0)
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
    recorder.stop_sealer()  # type: ignore[attr-defined]
    recorder.close()
    secured.close()
    plain.close()
    return out


def run(quick: bool) -> dict[str, Any]:
    from bench import pgserver

    patients, seconds, threads = (50, 1.5, 8) if quick else (2000, 10.0, 16)
    result: dict[str, Any] = {"patients": patients, "seconds": seconds, "threads": threads}
    with tempfile.TemporaryDirectory(prefix="hygie-bench-policy-") as tmp:
        result["sqlite"] = _measure(f"sqlite:///{tmp}/p.db", patients, seconds, threads)
    url, stop = pgserver.start()
    try:
        db = pgserver.create_database(url, "policy")
        result["postgres"] = _measure(db, patients, seconds, threads)
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
        "(two factors). Off: no policy, no audit. On: policy + one audit record committed before "
        "each answer. Target: overhead < 15 %.",
        "",
        "| database | interaction | off (/s) | on (/s) | overhead |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for db in ("sqlite", "postgres"):
        for name, r in result.get(db, {}).items():
            lines.append(
                f"| {db} | {name} | {r['off_per_s']} | {r['on_per_s']} | {r['overhead_pct']} % |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    res = run(quick=True)
    print(markdown(res))
