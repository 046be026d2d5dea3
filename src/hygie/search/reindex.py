"""The resumable, chunked reindex of existing resources for new or changed SearchParameters.

A job (a row of `search_jobs`, written with the SearchParameter) lists the (type, code) pairs
to index and the highest resource key that existed then (`max_rid`): later writes are indexed
by the writers themselves. `run` processes jobs in order, CHUNK resources per transaction;
each transaction replaces the job's rows for its resources and advances the job's `next_rid`,
so a killed job resumes where it stopped and never indexes a resource twice. The server keeps
serving meanwhile: a chunk is a short write (on PostgreSQL it locks only its own rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from hygie.search.schema import INDEX_TABLES
from hygie.store.base import Backend, Cursor

CHUNK = 500
Progress = Callable[[int, int, int], None]  # (job, done, total)

_COLS = "job, url, params, status, next_rid, max_rid, done, total, created, updated, error"


def _now() -> int:
    return int(time.time() * 1_000_000)


def create_job(cur: Cursor, resource: dict[str, Any] | None) -> int:
    """Record the job for a written (or deleted: None) SearchParameter; returns its number."""
    from hygie.search.custom import compile_all

    pairs = []
    if resource is not None:
        compiled = compile_all([resource])
        pairs = sorted([t, code] for t, params in compiled.items() for code in params)
    row = cur.fetchone("SELECT MAX(rid) FROM resources")
    max_rid = int(row[0]) if row and row[0] is not None else 0
    now = _now()
    return cur.insert_returning_id(
        "INSERT INTO search_jobs (url, params, status, max_rid, created, updated)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING job",
        [
            (resource or {}).get("url"),
            orjson.dumps(pairs).decode(),
            "pending" if pairs else "done",
            max_rid,
            now,
            now,
        ],
    )


def jobs(cur: Cursor) -> list[dict[str, Any]]:
    rows = cur.fetchall(f"SELECT {_COLS} FROM search_jobs ORDER BY job")
    names = [c.strip() for c in _COLS.split(",")]
    out = []
    for r in rows:
        job = dict(zip(names, r, strict=True))
        job["params"] = orjson.loads(job["params"])
        out.append(job)
    return out


def status_parameters(cur: Cursor) -> dict[str, Any]:
    """The jobs as a FHIR Parameters resource (`GET /fhir/$reindex-status`)."""
    params = []
    for j in jobs(cur):
        parts: list[dict[str, Any]] = [
            {"name": "job", "valueInteger": int(j["job"])},
            {"name": "status", "valueCode": j["status"]},
            {"name": "processed", "valueInteger": int(j["done"])},
        ]
        if j["url"]:
            parts.append({"name": "searchParameter", "valueUri": j["url"]})
        if j["total"] is not None:
            parts.append({"name": "total", "valueInteger": int(j["total"])})
        parts += [{"name": "parameter", "valueString": f"{t}.{c}"} for t, c in j["params"]]
        if j["error"]:
            parts.append({"name": "error", "valueString": j["error"]})
        params.append({"name": "job", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}


def pending(cur: Cursor) -> list[dict[str, Any]]:
    return [j for j in jobs(cur) if j["status"] in ("pending", "running")]


def run(backend: Backend, *, chunk: int = CHUNK, progress: Progress | None = None) -> int:
    """Run every pending job to the end; returns the number of resources reindexed."""
    from hygie.search import custom

    custom.refresh(force=True)
    total = 0
    while True:
        with backend.read() as cur:
            todo = pending(cur)
        if not todo:
            return total
        total += _run_job(backend, todo[0], chunk, progress)


def _params(job: dict[str, Any]) -> dict[str, list[Any]]:
    from hygie.search.registry import params_for

    by_type: dict[str, list[Any]] = {}
    for rtype, code in job["params"]:
        p = params_for(rtype).get(code)
        if p is not None:
            by_type.setdefault(rtype, []).append(p)
    return by_type


def _run_job(backend: Backend, job: dict[str, Any], chunk: int, progress: Progress | None) -> int:
    by_type = _params(job)
    types = sorted(by_type)
    marks = ", ".join("?" * len(types))
    if job["total"] is None:

        def count(cur: Cursor) -> int:
            row = (
                cur.fetchone(
                    f"SELECT COUNT(*) FROM resources WHERE rtype IN ({marks}) AND deleted = 0"
                    " AND rid > ? AND rid <= ?",
                    [*types, job["next_rid"], job["max_rid"]],
                )
                if types
                else (0,)
            )
            n = int(row[0]) if row else 0
            cur.execute(
                "UPDATE search_jobs SET total = ?, status = 'running', updated = ? WHERE job = ?",
                [n + int(job["done"]), _now(), job["job"]],
            )
            return n + int(job["done"])

        job["total"] = backend.run_write(count)
    done = 0
    while True:
        n, finished = backend.run_write(lambda cur: _chunk(cur, job, by_type, types, chunk))
        done += n
        job["done"] = int(job["done"]) + n
        if progress is not None:
            progress(int(job["job"]), int(job["done"]), int(job["total"]))
        if finished:
            return done


def _chunk(
    cur: Cursor, job: dict[str, Any], by_type: dict[str, list[Any]], types: list[str], size: int
) -> tuple[int, bool]:
    from hygie.search.index import extract_params

    lock = " FOR UPDATE" if cur.dialect == "postgres" else ""
    rows = []
    if types:
        rows = cur.fetchall(
            f"SELECT rid, rtype, content FROM resources WHERE rid > ? AND rid <= ?"
            f" AND rtype IN ({', '.join('?' * len(types))}) AND deleted = 0"
            f" ORDER BY rid LIMIT ?{lock}",
            [job["next_rid"], job["max_rid"], *types, size],
        )
    rids = [int(r[0]) for r in rows]
    keys = sorted({p.key for ps in by_type.values() for p in ps})
    if rids and keys:
        rid_marks, key_marks = ", ".join("?" * len(rids)), ", ".join("?" * len(keys))
        for table, cols in INDEX_TABLES.items():
            if "param" in cols:
                cur.execute(
                    f"DELETE FROM {table} WHERE rid IN ({rid_marks}) AND param IN ({key_marks})",
                    [*rids, *keys],
                )
    inserts: dict[str, list[tuple[Any, ...]]] = {}
    for rid, rtype, content in rows:
        resource = content if isinstance(content, dict) else orjson.loads(content)
        for table, trows in extract_params(resource, by_type[rtype]).items():
            inserts.setdefault(table, []).extend((rid, *r) for r in trows)
    for table, trows in inserts.items():
        _insert(cur, table, trows)
    finished = len(rows) < size
    job["next_rid"] = job["max_rid"] if finished else rids[-1]
    cur.execute(
        "UPDATE search_jobs SET next_rid = ?, done = done + ?, status = ?, updated = ?"
        " WHERE job = ?",
        [job["next_rid"], len(rows), "done" if finished else "running", _now(), job["job"]],
    )
    return len(rows), finished


def _insert(cur: Cursor, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Index rows (rid first, then the table's columns)."""
    cols = ("rid", *INDEX_TABLES[table])
    cur.executemany(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows
    )


def run_contained(backend: Backend, *, chunk: int = CHUNK, progress: Progress | None = None) -> int:
    """Index the contained resources of the resources already stored (`index.contained_rows`:
    chains evaluated inside contained resources; rows written with each version since
    2026-11-27, so older resources lack them). Idempotent and restartable: each chunk replaces
    the contained rows of its resources in one transaction. Returns the resources indexed."""
    from hygie.search.index import contained_rows

    like = '%"contained":%'
    with backend.read() as cur:
        row = cur.fetchone(
            "SELECT COUNT(*) FROM resources WHERE deleted = 0 AND content LIKE ?", (like,)
        )
    total = int(row[0]) if row else 0
    done, last = 0, 0

    def one_chunk(cur: Cursor) -> tuple[int, int]:
        rows = cur.fetchall(
            "SELECT rid, content FROM resources WHERE rid > ? AND deleted = 0"
            " AND content LIKE ? ORDER BY rid LIMIT ?",
            (last, like, chunk),
        )
        for rid, content in rows:
            resource = content if isinstance(content, dict) else orjson.loads(content)
            added: dict[str, list[tuple[Any, ...]]] = {}
            contained_rows(resource, added)
            keys = sorted({r[0] for found in added.values() for r in found})
            if not keys:
                continue
            marks = ", ".join("?" * len(keys))
            for table, found in added.items():
                cur.execute(
                    f"DELETE FROM {table} WHERE rid = ? AND param IN ({marks})", [rid, *keys]
                )
                _insert(cur, table, [(rid, *r) for r in found])
        return len(rows), int(rows[-1][0]) if rows else last

    while True:
        n, last = backend.run_write(one_chunk)
        done += n
        if progress is not None:
            progress(0, done, max(total, done))
        if n < chunk:
            return done
