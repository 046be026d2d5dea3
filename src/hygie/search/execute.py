"""Search execution: a SearchQuery run on a Cursor, rendered as a searchset Bundle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

from hygie.search.custom import refresh
from hygie.search.elements import subset
from hygie.search.include import Row, included
from hygie.search.paging import Cursor as PageCursor
from hygie.search.paging import decode
from hygie.search.parse import parse
from hygie.search.query import SearchQuery
from hygie.search.sorting import fetch_page
from hygie.search.sql import count_select, where
from hygie.search.terminology import bind
from hygie.store.base import Cursor
from hygie.store.context import Restriction

# The access policy's last check on each resource a search returns (rtype, resource) -> bool.
Admit = Callable[[str, dict[str, Any]], bool]


def matching_ids(
    cur: Cursor,
    rtype: str,
    params: list[tuple[str, str]],
    *,
    limit: int = 2,
    restrict: Restriction | None = None,
) -> list[tuple[int, str]]:
    """(rid, id) of current resources matching `params` (conditional create/update/delete),
    among those the caller may see: a conditional write must not reveal a hidden match."""
    refresh(cur)
    q = parse(rtype, params)
    q.restrict = restrict
    bind(cur, q.conditions)
    wsql, wargs = where(q, None, cur.dialect)
    rows = cur.fetchall(
        f"SELECT r.rid, r.id FROM resources r WHERE {wsql} LIMIT ?", [*wargs, limit]
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def _link(base: str, path: str, applied: list[tuple[str, str]], cursor: str | None) -> str:
    params = list(applied)
    if cursor:
        params.append(("_cursor", cursor))
    query = urlencode(params, safe=":|,/$")
    url = f"{base}/{path}" if path else base  # a system search has no type in its path
    return f"{url}?{query}" if query else url


def _path(q: SearchQuery, compartment: tuple[str, str] | None) -> str:
    if compartment:
        return f"{compartment[0]}/{compartment[1]}/{q.rtype or '*'}"
    return q.rtype or ""


def _entry(
    base: str, row: Row, mode: str, q: SearchQuery, admit: Admit | None = None
) -> dict[str, Any] | None:
    content = row[3]
    resource = content if isinstance(content, dict) else orjson.loads(content)
    if admit is not None and not admit(row[1], resource):
        return None
    if q.summary or q.elements:
        resource = subset(resource, q.summary, q.elements)
    return {
        "fullUrl": f"{base}/{row[1]}/{row[2]}",
        "resource": resource,
        "search": {"mode": mode},
    }


def execute(
    cur: Cursor,
    rtype: str | None,
    params: list[tuple[str, str]],
    *,
    base: str,
    strict: bool = True,
    compartment: tuple[str, str] | None = None,
    restrict: Restriction | None = None,
    admit: Admit | None = None,
) -> dict[str, Any]:
    """Run a search and return the searchset Bundle of one page.

    `restrict` (the caller's row filter) goes into the SQL, so that totals, paging and
    includes only ever see what the caller may see; `admit` re-checks each resource returned
    (a safety net: a resource it refuses is left out)."""
    refresh(cur)
    q = parse(rtype, params, strict=strict)
    q.restrict = restrict
    bind(cur, q.conditions)
    path = _path(q, compartment)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if q.summary == "count" or q.count == 0:
        csql, cargs = count_select(q, compartment, cur.dialect)
        bundle["total"] = int(cur.fetchone(csql, cargs)[0])  # type: ignore[index]
        bundle["link"] = [{"relation": "self", "url": _link(base, path, q.applied, None)}]
        return bundle
    page_cursor = decode(q.cursor, len(q.sort)) if q.cursor else None
    rows = fetch_page(cur, q, compartment, page_cursor, q.count + 1)
    more = len(rows) > q.count
    rows = rows[: q.count]
    backwards = bool(page_cursor and page_cursor.backwards)
    if backwards:
        rows.reverse()
    nkeys = len(q.sort)
    links = [{"relation": "self", "url": _link(base, path, q.applied, q.cursor)}]
    links.append({"relation": "first", "url": _link(base, path, q.applied, None)})
    has_prev = (more if backwards else page_cursor is not None) and rows
    has_next = (True if backwards else more) and rows
    if has_prev:
        first = rows[0]
        token = PageCursor(list(first[4 : 4 + nkeys]), int(first[0]), True).encode()
        links.append({"relation": "previous", "url": _link(base, path, q.applied, token)})
    if has_next:
        last = rows[-1]
        token = PageCursor(list(last[4 : 4 + nkeys]), int(last[0]), False).encode()
        links.append({"relation": "next", "url": _link(base, path, q.applied, token)})
    bundle["link"] = links
    if q.total in ("accurate", "estimate") or (q.total is None and not page_cursor and not more):
        if q.total is None:
            bundle["total"] = len(rows)
        else:
            csql, cargs = count_select(q, compartment, cur.dialect)
            bundle["total"] = int(cur.fetchone(csql, cargs)[0])  # type: ignore[index]
    matches: list[Row] = [(int(r[0]), r[1], r[2], r[3]) for r in rows]
    entries = [_entry(base, r, "match", q, admit) for r in matches]
    if q.includes and matches:
        extra = included(cur, q.includes, matches, restrict)
        entries += [_entry(base, r, "include", q, admit) for r in extra]
    bundle["entry"] = [e for e in entries if e is not None]
    return bundle
