"""Identity benchmarks: `$match` latency and the duplicate report over N synthetic patients.

`run(db_url, n)` loads N patients of the demo population (only the Patient resources) plus one
planted duplicate per 100 patients (a typo, an inverted day/month, a married name, a hyphen
dropped), then measures in process, through the Repository like the REST handlers do:
- `$match` latency (p50, p99, max) over a fixed set of queries, each a variant of a stored
  patient, and whether the stored patient comes first;
- the duplicate report: wall time, pairs found, planted duplicates recalled, and the peak
  resident memory it added.
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Iterator
from typing import Any

from bench.identity.people import person
from hygie.services.identity import duplicates, matching
from hygie.store import Context, open_repository

BASE = "http://bench/fhir"


def _person(seed: int, n: int) -> dict[str, Any]:
    return person(seed, n)


def variant(p: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same person written differently at another desk."""
    q = {k: v for k, v in p.items() if k not in ("id", "meta", "identifier")}
    q["name"] = [dict(n) for n in p["name"]]
    official = q["name"][0]
    kind = rng.choice(("typo", "swap", "married", "hyphen", "given"))
    family = official["family"]
    if kind == "typo" and len(family) > 3:
        i = rng.randrange(1, len(family) - 1)
        official["family"] = family[:i] + family[i + 1] + family[i] + family[i + 2 :]
    elif kind == "swap" and int(p["birthDate"][8:10]) <= 12:
        d = p["birthDate"]
        q["birthDate"] = f"{d[:5]}{d[8:10]}-{d[5:7]}"
    elif kind == "married":
        official["family"] = "Bench-Épouse"
        q["name"].append({"use": "maiden", "family": family, "given": official.get("given", [])})
    elif kind == "hyphen":
        official["family"] = family.replace("-", " ").upper()
    else:
        official["given"] = [g.upper() for g in official.get("given", [])]
    return q


def population(n: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:duplicates")
    for k in range(n):
        p = _person(seed, k)
        yield p
        if k % 100 == 50:
            dup = variant(p, rng)
            dup["resourceType"] = "Patient"
            dup["id"] = f"dup-{k:07d}"
            yield dup


def load(db_url: str, n: int, seed: int) -> dict[str, Any]:
    repo = open_repository(db_url)
    ctx = Context.system()
    started, batch, count = time.perf_counter(), [], 0
    try:
        for p in population(n, seed):
            batch.append(p)
            if len(batch) == 1000:
                count += repo.load(ctx, batch)
                batch = []
        if batch:
            count += repo.load(ctx, batch)
    finally:
        repo.close()
    return {"patients": count, "load_s": round(time.perf_counter() - started, 1)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_match(db_url: str, n: int, seed: int, queries: int) -> dict[str, Any]:
    repo = open_repository(db_url)
    ctx = Context.system()
    rng = random.Random(f"{seed}:queries")
    times, first = [], 0
    try:
        for _ in range(queries):
            k = rng.randrange(n)
            query = variant(_person(seed, k), rng)
            query["resourceType"] = "Patient"
            t = time.perf_counter()
            bundle = matching.match(repo, ctx, query, base=BASE, count=10)
            times.append((time.perf_counter() - t) * 1000)
            entries = bundle["entry"]
            first += bool(entries) and entries[0]["resource"]["id"] == f"pat-{k:06d}"
    finally:
        repo.close()
    return {
        "match_queries": queries,
        "match_p50_ms": round(_percentile(times, 0.5), 2),
        "match_p99_ms": round(_percentile(times, 0.99), 2),
        "match_max_ms": round(max(times), 2),
        "match_top1": round(first / queries, 3),
    }


def bench_duplicates(db_url: str, n: int) -> dict[str, Any]:
    repo = open_repository(db_url)
    ctx = Context.system()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        report = duplicates.report(repo, ctx, base=BASE)
    finally:
        repo.close()
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    planted = {f"pat-{k:06d}" for k in range(50, n, 100)}
    found = {
        p.a if p.b.startswith("dup-") else p.b
        for p in report.pairs
        if p.a.startswith("dup-") or p.b.startswith("dup-")
    }
    return {
        "dup_report_s": round(elapsed, 1),
        "dup_scanned": report.scanned,
        "dup_compared": report.compared,
        "dup_pairs": len(report.pairs),
        "dup_planted": len(planted),
        "dup_recall": round(len(found & planted) / max(1, len(planted)), 3),
        "dup_peak_rss_added_mb": round((rss_after - rss_before) / 1024, 1),
    }


def run(
    db_url: str, n: int, *, seed: int = 2026, queries: int = 300, skip_load: bool = False
) -> dict[str, Any]:
    figures: dict[str, Any] = {"n": n, "db": db_url.split(":", 1)[0]}
    if not skip_load:
        figures.update(load(db_url, n, seed))
    figures.update(bench_match(db_url, n, seed, queries))
    figures.update(bench_duplicates(db_url, n))
    return figures
