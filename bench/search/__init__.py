"""Search latency at 10 k / 100 k / 1 M resources on SQLite and PostgreSQL.

`run_benchmark(sizes, backends)` loads the synthetic population of `data.py` through
`Repository.load` (batches of 1000), then times each search shape in process (parse, SQL,
rows, Bundle; no HTTP) and returns p50/p99 in milliseconds per (backend, size, shape), plus
the query plans of the main shapes. `python -m bench.search --sizes 10000 100000` prints a
Markdown table and writes bench/out/search.json.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bench.search.data import LOINC, RARE_CODE, population
from hygie.store import Context, Repository, open_repository

BATCH = 1000
REPEAT = 100
BASE = "http://bench/fhir"
Params = list[tuple[str, str]]
Shape = Callable[[random.Random, int], tuple[str, Params]]


def _pid(rng: random.Random, n: int) -> int:
    return rng.randrange(n)


SHAPES: dict[str, Shape] = {
    "token (identifier)": lambda r, n: (
        "Patient",
        [("identifier", f"urn:oid:1.2.250.1.999.1|P{_pid(r, n):08d}")],
    ),
    "token (code, 1/8 of Observations)": lambda r, n: (
        "Observation",
        [("code", f"http://loinc.org|{r.choice(LOINC)[0]}")],
    ),
    "string prefix (family)": lambda r, n: (
        "Patient",
        [("family", r.choice(["mart", "dub", "lef", "de la", "hel", "gir"]))],
    ),
    "date range (one week)": lambda r, n: (
        "Observation",
        [("date", f"ge2022-03-{r.randrange(1, 20):02d}"), ("date", "lt2022-03-28")],
    ),
    "reference (subject)": lambda r, n: ("Observation", [("subject", f"Patient/pat{_pid(r, n)}")]),
    "chain, two levels": lambda r, n: (
        "Observation",
        [("encounter.subject:Patient.identifier", f"urn:oid:1.2.250.1.999.1|P{_pid(r, n):08d}")],
    ),
    "_has (rare code)": lambda r, n: (
        "Patient",
        [("_has:Observation:subject:code", RARE_CODE[0]), ("gender", "female")],
    ),
    "_include": lambda r, n: (
        "Observation",
        [
            ("subject", f"Patient/pat{_pid(r, n)}"),
            ("_include", "Observation:subject"),
            ("_include", "Observation:encounter"),
        ],
    ),
    "_revinclude": lambda r, n: (
        "Patient",
        [
            ("_id", f"pat{_pid(r, n)}"),
            ("_revinclude", "Observation:subject"),
            ("_revinclude", "Encounter:subject"),
        ],
    ),
    "sorted, page 1": lambda r, n: ("Observation", [("_sort", "-date"), ("_count", "20")]),
    "sorted + filter, page 1": lambda r, n: (
        "Observation",
        [("code", "http://loinc.org|8867-4"), ("_sort", "-date"), ("_count", "20")],
    ),
    "sorted by family, page 1": lambda r, n: ("Patient", [("_sort", "family"), ("_count", "20")]),
}
DEEP = {  # page 50 of the sorted shapes
    "sorted, page 50": "sorted, page 1",
    "sorted + filter, page 50": "sorted + filter, page 1",
    "sorted by family, page 50": "sorted by family, page 1",
}


class Recorder:
    """A Cursor wrapper keeping the statements a search ran (for EXPLAIN)."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.dialect = cur.dialect
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append((sql, args))
        return self._cur.fetchall(sql, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def load(repo: Repository, total: int) -> float:
    """Load the population; returns resources per second."""
    ctx, batch, t0, count = Context.system(), [], time.perf_counter(), 0
    for res in population(total):
        batch.append(res)
        if len(batch) == BATCH:
            count += repo.load(ctx, batch)
            batch = []
    if batch:
        count += repo.load(ctx, batch)
    if repo.backend.dialect == "postgres":
        with repo.backend.write() as cur:
            cur.execute("ANALYZE")
    return count / (time.perf_counter() - t0)


def _search(repo: Repository, rtype: str, params: Params) -> dict[str, Any]:
    return repo.search(Context.system(), rtype, params, base=BASE)


def _deep_cursor(repo: Repository, rtype: str, params: Params, page: int) -> Params:
    bundle = _search(repo, rtype, params)
    for _ in range(page - 1):
        nxt = [lk["url"] for lk in bundle["link"] if lk["relation"] == "next"]
        if not nxt:
            break
        params = parse_qsl(urlsplit(nxt[0]).query)
        bundle = _search(repo, rtype, params)
    return params


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def measure(
    repo: Repository, patients: int, repeat: int = REPEAT
) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for name, shape in SHAPES.items():
        rng = random.Random(name)
        out[name] = _time(lambda shape=shape, rng=rng: _search(repo, *shape(rng, patients)), repeat)
    for name, first in DEEP.items():
        rtype, params = SHAPES[first](random.Random(0), patients)
        deep = _deep_cursor(repo, rtype, params, 50)
        out[name] = _time(lambda rtype=rtype, deep=deep: _search(repo, rtype, deep), repeat)
    return out


def plans(repo: Repository, patients: int) -> dict[str, list[str]]:
    """EXPLAIN of the page query of each shape (the last and largest statement it ran)."""
    from hygie import search

    out: dict[str, list[str]] = {}
    with repo.backend.read() as cur:
        for name, shape in SHAPES.items():
            rtype, params = shape(random.Random(name), patients)
            rec = Recorder(cur)
            search.execute(rec, rtype, params, base=BASE)  # type: ignore[arg-type]
            sql, args = max(rec.statements, key=lambda s: len(s[0]))
            if cur.dialect == "postgres":
                rows = cur.fetchall("EXPLAIN " + sql, args)
                out[name] = [r[0] for r in rows]
            else:
                out[name] = [r[-1] for r in cur.fetchall("EXPLAIN QUERY PLAN " + sql, args)]
    return out


def _open(backend: str, size: int, workdir: Path, pg_url: str | None) -> Repository:
    if backend == "sqlite":
        path = workdir / f"search-{size}.db"
        path.unlink(missing_ok=True)
        return open_repository(f"sqlite:///{path}")
    from bench.pgserver import create_database

    assert pg_url is not None
    return open_repository(create_database(pg_url, f"search_{size}"))


def run_benchmark(
    sizes: Sequence[int] = (10_000, 100_000),
    backends: Sequence[str] = ("sqlite", "postgres"),
    *,
    repeat: int = REPEAT,
    workdir: Path = Path("bench/out"),
) -> dict[str, Any]:
    """Load and measure every (backend, size); returns {"results": [...], "plans": {...}}."""
    workdir.mkdir(parents=True, exist_ok=True)
    results, all_plans = [], {}
    stop = None
    pg_url = None
    if "postgres" in backends:
        from bench import pgserver

        pg_url, stop = pgserver.start(
            extra_conf={
                "shared_buffers": "1GB",
                "synchronous_commit": "off",
                "max_wal_size": "4GB",
                "jit": "off",  # JIT compilation costs ~30 ms on plans above jit_above_cost
            }
        )
    try:
        for backend in backends:
            for size in sizes:
                repo = _open(backend, size, workdir, pg_url)
                try:
                    rate = load(repo, size)
                    patients = max(1, (size - 250) // 10)
                    timings = measure(repo, patients, repeat)
                    results.append(
                        {
                            "backend": backend,
                            "size": size,
                            "load_per_s": round(rate),
                            "timings": {k: [round(v, 2) for v in t] for k, t in timings.items()},
                        }
                    )
                    if size == max(sizes):
                        all_plans[backend] = plans(repo, patients)
                    print(f"{backend} {size}: loaded at {rate:.0f}/s", flush=True)
                finally:
                    repo.close()
    finally:
        if stop is not None:
            stop()
    return {"results": results, "plans": all_plans}


def markdown(report: dict[str, Any]) -> str:
    rows = report["results"]
    shapes = list(rows[0]["timings"]) if rows else []
    head = "| shape | " + " | ".join(f"{r['backend']} {r['size']:,}" for r in rows) + " |"
    lines = [head, "|---" * (len(rows) + 1) + "|"]
    for shape in shapes:
        cells = [f"{r['timings'][shape][0]:.1f} / {r['timings'][shape][1]:.1f}" for r in rows]
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    lines.append(
        "| load (resources/s) | " + " | ".join(f"{r['load_per_s']:,}" for r in rows) + " |"
    )
    return "\n".join(lines)
