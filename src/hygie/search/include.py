"""`_include` and `_revinclude` (with `:iterate`): resources referenced by / referencing a page."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hygie.search.query import Include
from hygie.search.registry import params_for
from hygie.store.base import Cursor
from hygie.store.context import Restriction

Row = tuple[int, str, str, str]  # rid, rtype, id, content
MAX_ROUNDS = 4  # :iterate depth bound
MAX_INCLUDED = 5000


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _forward(cur: Cursor, inc: Include, rows: list[Row], restrict: Restriction | None) -> list[Row]:
    source = [r for r in rows if inc.source_type in ("*", r[1])]
    if not source:
        return []
    if inc.param is not None:
        keys = [inc.param.key]
    else:
        types = {r[1] for r in source}
        keys = [p.key for t in types for p in params_for(t).values() if p.type == "reference"]
    # index text is in "C" order on PostgreSQL; compare in the resources index's collation
    coll = ' COLLATE "default"' if cur.dialect == "postgres" else ""
    sql = (
        "SELECT t.rid, t.rtype, t.id, t.content FROM idx_reference ref JOIN resources t"
        f" ON t.rtype = ref.target_type{coll} AND t.id = ref.target_id{coll}"
        # `+param`: look the page's references up by (rid, param), not scan them by param
        f" WHERE ref.rid IN ({_marks(len(source))}) AND +ref.param IN ({_marks(len(keys))})"
        " AND t.deleted = 0"
    )
    args: list[Any] = [r[0] for r in source] + keys
    if inc.target_type:
        sql += " AND ref.target_type = ?"
        args.append(inc.target_type)
    if restrict is not None:
        rsql, rargs = restrict.render("t")
        sql += f" AND {rsql}"
        args += rargs
    return cur.fetchall(sql, args)


def _reverse(cur: Cursor, inc: Include, rows: list[Row], restrict: Restriction | None) -> list[Row]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if inc.target_type in (None, r[1]):
            by_type[r[1]].append(r[2])
    out: list[Row] = []
    for rtype, ids in by_type.items():
        sql = (
            "SELECT s.rid, s.rtype, s.id, s.content FROM idx_reference ref JOIN resources s"
            f" ON s.rid = ref.rid WHERE ref.target_type = ? AND ref.target_id IN ({_marks(len(ids))})"
        )
        args: list[Any] = [rtype, *ids]
        if inc.param is not None:
            sql += " AND ref.param = ?"  # (param, target_id, target_type) index
            args.append(inc.param.key)
        if restrict is not None:
            rsql, rargs = restrict.render("s")
            sql += f" AND {rsql}"
            args += rargs
        out.extend(cur.fetchall(sql, args))
    return out


def included(
    cur: Cursor, includes: list[Include], matches: list[Row], restrict: Restriction | None = None
) -> list[Row]:
    """The distinct resources added by the include directives, matches excluded; only those
    the caller's row filter lets through (and `:iterate` goes on from those only)."""
    seen = {r[0] for r in matches}
    result: list[Row] = []
    frontier = matches
    for round_ in range(MAX_ROUNDS):
        found: list[Row] = []
        for inc in includes:
            if round_ and not inc.iterate:
                continue
            fetch = _reverse if inc.reverse else _forward
            for row in fetch(cur, inc, frontier, restrict):
                if row[0] not in seen:
                    seen.add(row[0])
                    found.append(tuple(row))  # type: ignore[arg-type]
        result.extend(found)
        if not found or not any(i.iterate for i in includes) or len(result) > MAX_INCLUDED:
            break
        frontier = found
    return result
