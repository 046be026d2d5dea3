"""Cached benchmark databases (search and identity populations at 10 k … 1 M resources).

Building a million-resource database takes minutes, so each built database is kept under
`bench/out/data/scale/` and reused by later runs. The cache key is the dataset kind, its
generator version (`VERSIONS`: bump it when `bench/search/data.py` or the identity population
changes), the size and, for PostgreSQL, the server's major version (a data directory only
opens with its own major version):

* SQLite: the database file itself, `search-v1-1000000.db` (WAL checkpointed and truncated).
* PostgreSQL: a whole data directory, `search-v1-1000000-pg15/` (a cluster of its own), started
  in place by `pg_ctl` with the socket in a temporary directory. Starting a cluster in place
  takes about a second, against minutes for `pg_restore` (which rebuilds every index); the
  benchmarks only read, so the directory is not copied first.

A dataset is complete when its `*.ready.json` marker exists (written last, with the build
figures); a half-built one (interrupted run) is deleted and built again.

Build, SQLite: `Repository.load` in batches of 2,000 (validation + index extraction +
`store_batch`) with the secondary indexes of the search-index tables dropped, then the indexes
created in one pass each (sorting once is much cheaper than keeping b-trees ordered during a
load of a million rows). PostgreSQL: the SQLite dataset's rows (the same resources and index
rows, prepared once by Hygie) moved by COPY with the same indexes dropped, then indexed,
`VACUUM ANALYZE` (first build at 1 M on the busy 2-core machine: SQLite 955 s, PostgreSQL 259 s
more). The result is the same database a normal load gives (same tables, same indexes). The schema is created by `open_repository`, which also adds
tables and indexes a later version of Hygie introduces (`CREATE … IF NOT EXISTS`), so a cached
database stays usable across commits that only add to the schema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.pgserver import _as_postgres, find_bin, free_port
from hygie.search.schema import index_ddl
from hygie.store import Context, open_repository

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "out" / "data" / "scale"
VERSIONS = {"search": 1, "identity": 1}
BATCH = 2000

Population = Callable[[int], Iterator[dict[str, Any]]]


def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pg_major() -> str:
    out = subprocess.run([find_bin("pg_ctl"), "--version"], capture_output=True, text=True)
    return out.stdout.split()[-1].split(".")[0]


def key(kind: str, size: int, backend: str) -> str:
    base = f"{kind}-v{VERSIONS[kind]}-{size}"
    return f"{base}-pg{pg_major()}" if backend == "postgres" else base


def _marker(name: str) -> Path:
    return CACHE / f"{name}.ready.json"


def cached(kind: str, size: int, backend: str) -> dict[str, Any] | None:
    """The build record of a complete cached dataset, or None."""
    m = _marker(key(kind, size, backend))
    return json.loads(m.read_text()) if m.exists() else None


def disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- index handling during the build -------------------------------------------------------
def _secondary_indexes(dialect: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the search-index tables' indexes."""
    out = []
    for stmt in index_ddl(dialect):  # type: ignore[arg-type]
        if stmt.startswith("CREATE INDEX"):
            name = stmt.split("IF NOT EXISTS ", 1)[1].split()[0]
            out.append((name, stmt))
    return out


def _load(url: str, population: Iterator[dict[str, Any]], expected: int) -> dict[str, Any]:
    repo = open_repository(url)
    dialect = repo.backend.dialect
    ctx = Context.system()
    indexes = _secondary_indexes(dialect)
    try:
        with repo.backend.write() as cur:
            for name, _ in indexes:
                cur.execute(f"DROP INDEX IF EXISTS {name}")
        t0 = time.perf_counter()
        batch: list[dict[str, Any]] = []
        count, last = 0, t0
        for res in population:
            batch.append(res)
            if len(batch) == BATCH:
                count += repo.load(ctx, batch)
                batch = []
                if time.perf_counter() - last > 30:
                    last = time.perf_counter()
                    rate = count / (last - t0)
                    log(f"  {count:,}/{expected:,} resources ({rate:,.0f}/s)")
        if batch:
            count += repo.load(ctx, batch)
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        with repo.backend.write() as cur:
            if dialect == "postgres":
                cur.execute("SET maintenance_work_mem = '1GB'")
            for _, stmt in indexes:
                cur.execute(stmt)
        index_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        if dialect == "postgres":
            with repo.backend.write() as cur:
                cur.execute("ANALYZE")
        analyze_s = time.perf_counter() - t2
    finally:
        repo.close()
    if dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    return {
        "resources": count,
        "load_s": round(load_s, 1),
        "load_per_s": round(count / load_s),
        "index_s": round(index_s, 1),
        "analyze_s": round(analyze_s, 1),
    }


# -- PostgreSQL: a copy of the SQLite dataset's rows ---------------------------------------
_COPIED = {
    "resources": (
        "rid",
        "rtype",
        "id",
        "version",
        "last_updated",
        "deleted",
        "method",
        "hash",
        "content",
    ),
    "resource_history": ("rid", "version", "last_updated", "deleted", "method", "content"),
}


def _copy_from_sqlite(sqlite_path: Path, url: str) -> dict[str, Any]:
    """Fill an empty PostgreSQL database with the rows of the SQLite dataset: the same
    resources, versions and index rows Hygie wrote there (`Repository.load` prepared each
    resource once: validation, index extraction, serialisation), moved by COPY with the
    search-index tables' indexes dropped, then indexed. The row keys are kept and the
    identity sequence moved past them."""
    import sqlite3

    from hygie.search.schema import INDEX_TABLES

    repo = open_repository(url)  # the schema, as Hygie creates it on PostgreSQL
    repo.close()
    tables = {**_COPIED, **{t: ("rid", *cols) for t, cols in INDEX_TABLES.items()}}
    indexes = _secondary_indexes("postgres")
    import psycopg

    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    t0 = time.perf_counter()
    rows_copied = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for name, _ in indexes:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for table, cols in tables.items():
            names = ", ".join(cols)
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in src.execute(f"SELECT {names} FROM {table}"):
                        copy.write_row(row)
                        rows_copied += 1
            log(f"  copied {table} ({rows_copied:,} rows so far)")
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for _, stmt in indexes:
            conn.execute(stmt)
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('resources', 'rid'),"
            " (SELECT COALESCE(MAX(rid), 1) FROM resources))"
        )
        index_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - t2
    count = src.execute("SELECT COUNT(*) FROM resources").fetchone()[0]
    src.close()
    return {
        "resources": count,
        "rows_copied": rows_copied,
        "load_s": round(load_s, 1),
        "load_per_s": round(count / load_s),
        "index_s": round(index_s, 1),
        "analyze_s": round(analyze_s, 1),
        "built_from": f"{sqlite_path.name} (COPY of its rows)",
    }


# -- PostgreSQL clusters in a directory of the cache ---------------------------------------
PG_BUILD_CONF = {
    "fsync": "off",  # a cache being built: an interrupted build is thrown away anyway
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "jit": "off",
    "autovacuum": "off",
}
PG_RUN_CONF = {
    "fsync": "on",
    "synchronous_commit": "on",
    "shared_buffers": "1GB",
    "jit": "off",  # JIT compilation costs ~30 ms on plans above jit_above_cost
    "max_connections": "50",
}


def _pg_initdb(data: Path) -> None:
    data.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data.parent, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                find_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )


@contextmanager
def pg_cluster(data: Path, conf: dict[str, str]) -> Iterator[str]:
    """Start the cluster of `data` on a free port; yield the URL of its `postgres` database."""
    port = free_port()
    sock = Path(tempfile.mkdtemp(prefix="hygie-h6-pgsock-"))
    if os.geteuid() == 0:
        shutil.chown(sock, "postgres", "postgres")
    opts = [f"-c listen_addresses=127.0.0.1 -c port={port}", f"-c unix_socket_directories={sock}"]
    opts += [f"-c {k}={v}" for k, v in conf.items()]
    log_file = data.parent / "server.log"
    pg_ctl = find_bin("pg_ctl")
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-l", str(log_file), "-w", "-t", "300", "-o", " ".join(opts)]
            + ["start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "300", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(sock, ignore_errors=True)


# -- the public entry points ---------------------------------------------------------------
def build(
    kind: str, size: int, backend: str, population: Iterator[dict[str, Any]]
) -> dict[str, Any]:
    """Build the dataset into the cache (replacing a half-built one); return its record."""
    name = key(kind, size, backend)
    CACHE.mkdir(parents=True, exist_ok=True)
    _marker(name).unlink(missing_ok=True)
    started = time.perf_counter()
    log(f"building {name} (first build; later runs reuse it)")
    if backend == "sqlite":
        final = CACHE / f"{name}.db"
        tmp = CACHE / f"{name}.building.db"
        for p in (final, tmp):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{p}{suffix}").unlink(missing_ok=True)
        figures = _load(f"sqlite:///{tmp}", population, size)
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        tmp.rename(final)
    else:
        final = CACHE / name
        tmp = CACHE / f"{name}.building"
        shutil.rmtree(final, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        source = CACHE / f"{key(kind, size, 'sqlite')}.db"
        if cached(kind, size, "sqlite") is None:
            build(kind, size, "sqlite", population)  # the rows to copy
        _pg_initdb(tmp / "data")
        with pg_cluster(tmp / "data", PG_BUILD_CONF) as url:
            figures = _copy_from_sqlite(source, url)
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        subprocess.run(["sync"], check=False)
        tmp.rename(final)
    record = {
        "dataset": name,
        "kind": kind,
        "size": size,
        "backend": backend,
        **figures,
        "build_s": round(time.perf_counter() - started, 1),
        "disk_bytes": disk_size(final),
        "path": str(final.relative_to(ROOT)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load_average": os.getloadavg(),
    }
    _marker(name).write_text(json.dumps(record, indent=1))
    log(f"built {name}: {record['build_s']} s, {record['disk_bytes'] / 2**30:.2f} GiB")
    return record


@contextmanager
def opened(
    kind: str, size: int, backend: str, population: Callable[[], Iterator[dict[str, Any]]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (database URL, build record) of the dataset, building it first if not cached."""
    record = cached(kind, size, backend)
    reused = record is not None
    if record is None:
        record = build(kind, size, backend, population())
    record = {**record, "reused_cache": reused}
    name = key(kind, size, backend)
    if backend == "sqlite":
        yield f"sqlite:///{CACHE / f'{name}.db'}", record
    else:
        with pg_cluster(CACHE / name / "data", PG_RUN_CONF) as url:
            yield url, record
