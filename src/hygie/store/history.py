"""History of one resource, one type, or the whole system (http.html#history), with _since, _at,
_count and keyset paging (newest first), as a FHIR history Bundle."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from hygie.fhir.outcome import invalid
from hygie.store.base import Cursor
from hygie.store.context import Restriction
from hygie.store.records import format_instant

_VERSIONS = "SELECT rid, version, last_updated, deleted, method, content FROM {table}"
_STATUS = {"POST": "201 Created", "PUT": "200 OK", "PATCH": "200 OK", "DELETE": "204 No Content"}


@dataclass(slots=True)
class HistoryQuery:
    rtype: str | None = None
    rid: str | None = None
    since: int | None = None  # µs, inclusive
    at: tuple[int, int] | None = None  # [low, high) µs
    count: int = 50
    cursor: str | None = None


def encode_cursor(lu: int, key: int, version: int) -> str:
    return base64.urlsafe_b64encode(f"{lu}.{key}.{version}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, int, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        lu, key, version = (int(x) for x in raw.split("."))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"Invalid paging cursor '{token}'") from exc
    return lu, key, version


def _versions_sql(q: HistoryQuery, key: int | None, args: list[Any]) -> str:
    """All versions (current and older) in scope, as one derived table `v`."""
    cur_sql = _VERSIONS.format(table="resources")
    hist_sql = _VERSIONS.format(table="resource_history h")
    if key is not None:
        args += [key, key]
        return f"{cur_sql} WHERE rid = ? UNION ALL {hist_sql} WHERE h.rid = ?"
    if q.rtype is not None:
        args += [q.rtype, q.rtype]
        return (
            f"{cur_sql} WHERE rtype = ? UNION ALL {hist_sql}"
            " WHERE h.rid IN (SELECT rid FROM resources WHERE rtype = ?)"
        )
    return f"{cur_sql} UNION ALL {hist_sql}"


def fetch_history(
    cur: Cursor, q: HistoryQuery, key: int | None, restrict: Restriction | None = None
) -> tuple[list[tuple], int | None]:
    """Rows (rtype, id, version, last_updated, deleted, method, content, rid) newest first,
    one more than `count` to know whether a next page exists; and the total for an instance.
    `restrict` (the caller's row filter) applies to the resource's current version."""
    args: list[Any] = []
    inner = _versions_sql(q, key, args)
    if q.at is not None:
        inner = (
            "SELECT rid, version, last_updated, deleted, method, content, LEAD(last_updated)"
            f" OVER (PARTITION BY rid ORDER BY version) AS next_lu FROM ({inner}) w"
        )
    where = ["1 = 1"]
    if q.since is not None:
        where.append("v.last_updated >= ?")
        args.append(q.since)
    if q.at is not None:
        where.append("v.last_updated < ? AND (v.next_lu IS NULL OR v.next_lu > ?)")
        args += [q.at[1], q.at[0]]
    if q.cursor:
        lu, ckey, version = decode_cursor(q.cursor)
        where.append(
            "(v.last_updated < ? OR (v.last_updated = ? AND (v.rid < ? OR (v.rid = ? AND v.version < ?))))"
        )
        args += [lu, lu, ckey, ckey, version]
    if restrict is not None:
        rsql, rargs = restrict.render("r")
        where.append(rsql)
        args += rargs
    sql = (
        "SELECT r.rtype, r.id, v.version, v.last_updated, v.deleted, v.method, v.content, v.rid"
        f" FROM ({inner}) v JOIN resources r ON r.rid = v.rid WHERE {' AND '.join(where)}"
        " ORDER BY v.last_updated DESC, v.rid DESC, v.version DESC LIMIT ?"
    )
    rows = cur.fetchall(sql, [*args, q.count + 1])
    total = None
    if key is not None and q.since is None and q.at is None:
        row = cur.fetchone(
            "SELECT (SELECT COUNT(*) FROM resource_history WHERE rid = ?) + 1", (key,)
        )
        total = row[0] if row else None
    return rows, total


def history_bundle(
    rows: list[tuple],
    q: HistoryQuery,
    base: str,
    path: str,
    extra: list[tuple[str, str]],
    total: int | None,
) -> dict[str, Any]:
    more = len(rows) > q.count
    rows = rows[: q.count]
    entries = []
    for rtype, rid, version, lu, deleted, method, content, _key in rows:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{rtype}/{rid}"}
        if not deleted and content is not None:
            data = content.encode() if isinstance(content, str) else content
            entry["resource"] = orjson.Fragment(data)
        url = rtype if method == "POST" else f"{rtype}/{rid}"
        entry["request"] = {"method": method, "url": url}
        entry["response"] = {
            "status": _STATUS.get(method, "200 OK"),
            "etag": f'W/"{version}"',
            "lastModified": format_instant(lu),
        }
        entries.append(entry)
    links = [{"relation": "self", "url": _link(base, path, extra, q.count, q.cursor)}]
    if more and rows:
        last = rows[-1]
        token = encode_cursor(last[3], last[7], last[2])
        links.append({"relation": "next", "url": _link(base, path, extra, q.count, token)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    return bundle


def _link(
    base: str, path: str, extra: list[tuple[str, str]], count: int, cursor: str | None
) -> str:
    params = [*extra, ("_count", str(count))]
    if cursor:
        params.append(("_cursor", cursor))
    return f"{base}/{path}?{urlencode(params)}"
