"""The database ceiling: raw inserts of the very rows Hygie writes, without Hygie.

The rows (one `resources` row plus the search-index and compartment rows of each resource) are
produced beforehand by Hygie's own write preparation (validation, index extraction,
serialisation), untimed; then only the database work is timed: SQLite `executemany` (sqlite3
module, same PRAGMAs as the SQLite backend) and PostgreSQL `COPY` (psycopg; `executemany` too,
for context), in transactions of 1,000 resources, into a fresh schema with all its indexes.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from hygie.search.schema import INDEX_TABLES
from hygie.store.records import format_instant
from hygie.store.repository import Prepared
from hygie.store.schema import full_ddl

RES_COLS = ("rid", "rtype", "id", "version", "last_updated", "deleted", "method", "hash", "content")


def prepare_rows(resources: list[dict[str, Any]]) -> list[tuple[tuple, dict[str, list[tuple]]]]:
    """(resources row, {index table: rows}) per resource, exactly as Hygie would store them."""
    out = []
    lu = 1_795_000_000_000_000
    for n, res in enumerate(resources, start=1):
        p = Prepared(res)
        lu += 1000
        content = p.serialize(res["id"], 1, format_instant(lu)).decode()
        row = (n, p.rtype, res["id"], 1, lu, 0, "PUT", p.hash, content)
        index = {t: [(n, *r) for r in rows] for t, rows in p.index.items() if rows}
        out.append((row, index))
    return out


def count_rows(rows) -> int:
    return sum(1 + sum(len(v) for v in idx.values()) for _, idx in rows)


def _batches(rows, size):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def sqlite_executemany(path: str, rows, batch: int = 1000) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for pragma in (
        "synchronous=NORMAL",
        "cache_size=-65536",
        "temp_store=MEMORY",
        "mmap_size=268435456",
    ):
        conn.execute(f"PRAGMA {pragma}")
    for stmt in full_ddl("sqlite"):
        conn.execute(stmt)
    ins_res = (
        f"INSERT INTO resources ({', '.join(RES_COLS)}) VALUES ({', '.join('?' * len(RES_COLS))})"
    )
    ins_idx = {
        t: f"INSERT INTO {t} (rid, {', '.join(c)}) VALUES (?{', ?' * len(c)})"
        for t, c in INDEX_TABLES.items()
    }
    t0 = time.perf_counter()
    for chunk in _batches(rows, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(ins_res, [r for r, _ in chunk])
        per_table: dict[str, list] = {}
        for _, idx in chunk:
            for t, lst in idx.items():
                per_table.setdefault(t, []).extend(lst)
        for t, lst in per_table.items():
            conn.executemany(ins_idx[t], lst)
        conn.execute("COMMIT")
    secs = time.perf_counter() - t0
    conn.close()
    return _figures("SQLite executemany", rows, secs, batch)


def _pg_schema(conn) -> None:
    for stmt in full_ddl("postgres"):
        conn.execute(stmt)
    conn.commit()


def postgres_copy(url: str, rows, batch: int = 1000) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        _pg_schema(conn)
        cur = conn.cursor()
        t0 = time.perf_counter()
        for chunk in _batches(rows, batch):
            with cur.copy(f"COPY resources ({', '.join(RES_COLS)}) FROM STDIN") as cp:
                for r, _ in chunk:
                    cp.write_row(r)
            per_table: dict[str, list] = {}
            for _, idx in chunk:
                for t, lst in idx.items():
                    per_table.setdefault(t, []).extend(lst)
            for t, lst in per_table.items():
                cols = ", ".join(("rid", *INDEX_TABLES[t]))
                with cur.copy(f"COPY {t} ({cols}) FROM STDIN") as cp:
                    for r in lst:
                        cp.write_row(r)
            conn.commit()
        secs = time.perf_counter() - t0
    return _figures("PostgreSQL COPY", rows, secs, batch)


def postgres_executemany(url: str, rows, batch: int = 1000) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        _pg_schema(conn)
        cur = conn.cursor()
        ins_res = (
            f"INSERT INTO resources ({', '.join(RES_COLS)})"
            f" VALUES ({', '.join(['%s'] * len(RES_COLS))})"
        )
        ins_idx = {
            t: f"INSERT INTO {t} (rid, {', '.join(c)}) VALUES (%s{', %s' * len(c)})"
            for t, c in INDEX_TABLES.items()
        }
        t0 = time.perf_counter()
        for chunk in _batches(rows, batch):
            cur.executemany(ins_res, [r for r, _ in chunk])
            per_table: dict[str, list] = {}
            for _, idx in chunk:
                for t, lst in idx.items():
                    per_table.setdefault(t, []).extend(lst)
            for t, lst in per_table.items():
                cur.executemany(ins_idx[t], lst)
            conn.commit()
        secs = time.perf_counter() - t0
    return _figures("PostgreSQL executemany", rows, secs, batch)


def _figures(method: str, rows, secs: float, batch: int) -> dict[str, Any]:
    n_rows = count_rows(rows)
    return {
        "method": method,
        "resources": len(rows),
        "rows": n_rows,
        "rows_per_resource": n_rows / len(rows),
        "batch": batch,
        "seconds": secs,
        "rows_per_s": n_rows / secs,
        "resources_per_s": len(rows) / secs,
    }
