"""Bulk storage of many prepared resources in one write transaction (`Repository.load`).

Instead of a few statements per resource, a batch costs one lookup of the ids it carries, then
one `executemany` per table: resources, history copies, index deletions and index rows. Row
keys for new resources are taken in one step (SQLite holds the single write lock; PostgreSQL
hands out blocks of its identity sequence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hygie.search.schema import INDEX_TABLES
from hygie.store.base import Cursor
from hygie.store.records import format_instant, new_id

if TYPE_CHECKING:
    from hygie.store.repository import Prepared

_LOOKUP_CHUNK = 400  # (rtype, id) pairs per lookup: 800 parameters, under every limit


def lookup_current(cur: Cursor, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """(rtype, id) -> (rid, version, last_updated, deleted, hash), locked on PostgreSQL."""
    found: dict[tuple[str, str], tuple] = {}
    lock = " FOR UPDATE" if cur.dialect == "postgres" else ""
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    # `rtype = ? AND id IN (...)` probes the (rtype, id) index once per id on both databases;
    # `(rtype, id) IN (VALUES ...)` scanned the whole table per chunk (quadratic loads)
    for rtype, ids in by_type.items():
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            rows = cur.fetchall(
                "SELECT rtype, id, rid, version, last_updated, deleted, hash FROM resources"
                f" WHERE rtype = ? AND id IN ({', '.join('?' * len(chunk))}){lock}",
                [rtype, *chunk],
            )
            for rt, rid, *rest in rows:
                found[(rt, rid)] = tuple(rest)
    return found


def _first_rid(cur: Cursor, count: int) -> list[int]:
    if cur.dialect == "postgres":
        return [cur.new_rid() for _ in range(count)]  # type: ignore[misc]
    row = cur.fetchone("SELECT COALESCE(MAX(rid), 0) FROM resources")
    start = (row[0] if row else 0) + 1
    return list(range(start, start + count))


def store_batch(cur: Cursor, prepared: list[Prepared], now: int) -> int:
    """Store every prepared resource (update-as-create when it carries an id); return the
    number of versions written. Unchanged resources (same content hash) write nothing."""
    keys = [(p.rtype, p.resource["id"]) for p in prepared if p.resource.get("id")]
    current = lookup_current(cur, keys) if keys else {}
    inserts: list[tuple[Prepared, str]] = []
    updates: list[tuple[Prepared, str, tuple]] = []
    for p in prepared:
        rid = p.resource.get("id")
        row = current.get((p.rtype, rid)) if rid else None
        if row is None:
            inserts.append((p, rid or new_id()))
        elif row[3] or bytes(row[4]) != p.hash:  # deleted, or changed
            updates.append((p, rid, row))
    index_rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in INDEX_TABLES}
    instant = format_instant(now)
    if inserts:
        resource_rows = []
        for (p, rid), key in zip(inserts, _first_rid(cur, len(inserts)), strict=True):
            content = p.serialize(rid, 1, instant).decode()
            resource_rows.append(
                (key, p.rtype, rid, now, "PUT" if p.resource.get("id") else "POST", p.hash, content)
            )
            _collect(index_rows, key, p.index_for(rid))
        cur.executemany(
            "INSERT INTO resources (rid, rtype, id, version, last_updated, deleted, method, hash,"
            " content) VALUES (?, ?, ?, 1, ?, 0, ?, ?, ?)",
            resource_rows,
        )
    if updates:
        history, changes, stale = [], [], []
        for p, rid, (key, version, last_lu, deleted, _hash) in updates:
            lu = max(now, last_lu + 1000)
            content = p.serialize(rid, version + 1, format_instant(lu)).decode()
            history.append((key,))
            changes.append((version + 1, lu, p.hash, content, key))
            if not deleted:
                stale.append((key,))
            _collect(index_rows, key, p.index)
        cur.executemany(
            "INSERT INTO resource_history (rid, version, last_updated, deleted, method, content)"
            " SELECT rid, version, last_updated, deleted, method, content FROM resources"
            " WHERE rid = ?",
            history,
        )
        cur.executemany(
            "UPDATE resources SET version = ?, last_updated = ?, deleted = 0, method = 'PUT',"
            " hash = ?, content = ? WHERE rid = ?",
            changes,
        )
        for table in INDEX_TABLES:
            if stale:
                cur.executemany(f"DELETE FROM {table} WHERE rid = ?", stale)
    for table, rows in index_rows.items():
        if rows:
            cols = INDEX_TABLES[table]
            marks = ", ".join("?" * (len(cols) + 1))
            cur.executemany(f"INSERT INTO {table} (rid, {', '.join(cols)}) VALUES ({marks})", rows)
    return len(inserts) + len(updates)


def _collect(
    into: dict[str, list[tuple[Any, ...]]], key: int, index: dict[str, list[tuple]]
) -> None:
    for table, rows in index.items():
        if rows:
            into[table].extend((key, *r) for r in rows)
