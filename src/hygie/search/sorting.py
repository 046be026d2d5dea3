"""One page of results, choosing between two plans so that deep pages cost what page 1 costs.

* Filter-driven (`sql.page_select`): the matches are found through their indexes, each gets its
  sort keys, the database sorts them and seeks past the cursor. Cheap when the filter is
  selective; its cost grows with the number of matches.
* Index-driven (here): when a probe finds more than PROBE matches, the first sort key's index
  drives: rows of `idx_<type>` for that parameter are read in (value, rid) order from the
  cursor on, joined to their resource and checked against the filter until the page is full.
  A resource with several values is represented by its smallest (largest when descending)
  value, as the filter-driven plan's MIN/MAX. Resources without any value come after all the
  others (`sql.missing_value`), read by the filter-driven plan restricted to them.

Both plans produce the same order and the same cursor values, so a client may page across a
switch between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from hygie.search.paging import Cursor
from hygie.search.predicates import SQL, TABLES, fenced, leaf_sql
from hygie.search.query import Leaf, SearchQuery
from hygie.search.registry import params_for
from hygie.search.schema import INDEX_TABLES
from hygie.search.sql import (
    SortKey,
    missing_value,
    page_select,
    seek,
    sort_column,
    sort_keys,
    where,
)
from hygie.store.base import Cursor as DbCursor
from hygie.store.base import Dialect

PROBE = 1000  # above this many matches, the sort index drives
_CORRELATED = re.compile(r"\br\.")  # a sub-query naming the outer resources row
_VALUE_RID_INDEXED = {"idx_string", "idx_uri", "idx_number"}  # value index = (param, value, rid)
Row = tuple[Any, ...]
Compartment = tuple[str, str] | None


@dataclass(slots=True)
class Driver:
    table: str
    column: str
    key: int
    desc: bool
    missing: Any


def _driver(q: SearchQuery) -> Driver | None:
    """The index of the first sort key, when one parameter of one type is sorted on."""
    if not q.sort or len(q.types) != 1:
        return None
    code, desc = q.sort[0]
    p = params_for(q.types[0]).get(code)
    if p is None or p.type not in TABLES or p.type == "special" or code.startswith("_"):
        return None
    return Driver(
        TABLES[p.type], sort_column(p.type, desc), p.key, desc, missing_value(p.type, desc)
    )


def _resource_driven(q: SearchQuery) -> bool:
    return bool(q.sort) and q.sort[0][0] in ("_lastUpdated", "_id") and len(q.types) == 1


def _one_index_condition(q: SearchQuery, compartment: Compartment) -> SQL | None:
    """The index sub-query (`SELECT rid FROM idx_… WHERE …`) of a search whose only filter is
    one positive, uncorrelated index condition (no compartment, no access restriction)."""
    if compartment is not None or q.restrict is not None or len(q.types) != 1:
        return None
    if len(q.conditions) != 1 or not isinstance(q.conditions[0], Leaf):
        return None
    sql, args = leaf_sql("r", q.conditions[0])
    if not (sql.startswith("r.rid IN (SELECT rid FROM ") and sql.endswith(")")):
        return None  # NOT IN, :missing, _id, …
    inner = sql[len("r.rid IN (") : -1]
    return None if _CORRELATED.search(inner) else (inner, args)


def _few(cur: DbCursor, q: SearchQuery, compartment: Compartment) -> bool:
    if not (q.conditions or compartment):
        return False
    one = _one_index_condition(q, compartment)
    if one is not None:
        # its index rows are its matches (current, non-deleted, of the parameter's type):
        # count up to PROBE of them there, never materialise them all (SQLite evaluates
        # `rid IN (SELECT …)` in full before the first row: 87,000 rids for a code at 1 M)
        row = cur.fetchone(f"SELECT COUNT(*) FROM ({one[0]} LIMIT ?) n", [*one[1], PROBE])
        return row is not None and int(row[0]) < PROBE
    wsql, wargs = where(q, compartment, cur.dialect)
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM resources r WHERE {wsql} LIMIT ?) n"
    row = cur.fetchone(sql, [*wargs, PROBE])
    return row is not None and int(row[0]) < PROBE


_FIRST_WINDOW, _MAX_WINDOW = 256, 2048  # rids read in rid order before the filter drives


def _rid_ordered(q: SearchQuery, compartment: Compartment) -> bool:
    """Plain parameter tests only: a chain or `_has` keeps its own plan (its inner search is
    not a per-row probe)."""
    return (
        not q.sort
        and bool(q.conditions)
        and all(isinstance(n, Leaf) for n in q.conditions)
        and not any(n.code == "_id" for n in q.conditions)  # the (rtype, id) index answers
        and compartment is None
        and len(q.types) == 1
    )


def _sqlite_probes(sql: str) -> str:
    """The fenced probes of `predicates` for SQLite: without statistics SQLite would seek a
    probe through the value index (a prefix range, a code without system) and read every
    value per row; `INDEXED BY <table>_rid` reads only the row's own (rid, param) entries."""
    sql = sql.replace(" OFFSET 0)", ")")
    for table in INDEX_TABLES:
        sql = sql.replace(
            f"(SELECT 1 FROM {table} WHERE rid = r.rid",
            f"(SELECT 1 FROM {table} INDEXED BY {table}_rid WHERE rid = r.rid",
        )
    return sql


def window_select(q: SearchQuery, edge: int, end: int, limit: int) -> SQL:
    """SQLite: the matches with a rid between `edge` (excluded) and `end` (included; `end` <
    `edge` reads backwards), in that order, each condition probed by the row's rid."""
    back = end < edge
    if back:
        extra: SQL = ("r.rid >= ? AND r.rid < ?", [end, edge])
    else:
        extra = ("r.rid > ? AND r.rid <= ?", [edge, end])
    with fenced():
        sql, args = page_select(
            q, None, "sqlite", None, limit, extra=extra, back=back, type_index=False
        )
    return _sqlite_probes(sql), args


def _sample(cur: DbCursor, q: SearchQuery, lo: int, hi: int) -> bool:
    """Whether rids lo < rid <= hi are a sample of the searched type's density: at least
    1/16 of them of that type (the directory loaded before the patients is not)."""
    row = cur.fetchone(
        "SELECT COUNT(*) FROM resources WHERE rid > ? AND rid <= ? AND +rtype = ?",
        [lo, hi, q.types[0]],
    )
    return bool(row) and int(row[0]) * 16 >= hi - lo


def _rid_windows(cur: DbCursor, q: SearchQuery, cursor: Cursor | None, limit: int) -> list[Row]:
    """SQLite, no `_sort` (rid order): a filter matching many resources is cheapest checked
    row by row in rid order from the cursor, each condition a correlated probe of its index;
    SQLite would otherwise materialise every match of `rid IN (SELECT …)` before the first
    page (87 k rows for a code on 1 of 8 Observations at 1 M). A first window of rids measures
    how dense the matches are; a second one, sized from that density, is read only if it is
    small; otherwise (a selective filter) the filter-driven plan reads the rest, at the cost it
    always had."""
    back = cursor.backwards if cursor else False
    edge = cursor.rid if cursor else 0  # rows strictly after (before, backwards) this rid
    row = cur.fetchone("SELECT COALESCE(MAX(rid), 0) FROM resources")
    top = int(row[0]) if row else 0
    rows: list[Row] = []
    window, slides = _FIRST_WINDOW, 0
    while window and len(rows) < limit and (edge > 1 if back else edge < top):
        edge_next = max(0, edge - window) if back else edge + window
        got = cur.fetchall(*window_select(q, edge, edge_next, limit - len(rows)))
        rows += got
        lo, hi = (edge_next - 1, edge - 1) if back else (edge, edge_next)
        edge = edge_next
        if slides < 8 and window == _FIRST_WINDOW and not _sample(cur, q, lo, hi):
            slides += 1  # hardly any resource of the type there: not a density sample
            continue
        # the second window only if the density seen says it is small
        needed = (limit - len(rows)) * window * 3 // (2 * len(got)) if got else _MAX_WINDOW + 1
        window = needed if window == _FIRST_WINDOW and 0 < needed <= _MAX_WINDOW else 0
    if len(rows) < limit and (edge > 1 if back else edge < top):
        rest = page_select(q, None, "sqlite", Cursor([], edge, back), limit - len(rows))
        rows += cur.fetchall(*rest)
    return rows


def index_page_select(
    q: SearchQuery, compartment: Compartment, cursor: Cursor | None, limit: int, dialect: Dialect
) -> SQL | None:
    """PostgreSQL, no `_sort`, one positive index condition, no compartment, no access
    restriction: the page's rids are taken from the index alone (`… GROUP BY rid ORDER BY rid
    LIMIT n`, an index-only scan), then only those resources are read. Index rows exist only
    for the current, non-deleted versions of the parameter's own type, so no match is lost;
    the filter-driven plan would read every matching resource (13,000 Patients for a common
    family prefix at 1 M) to keep 21. None when the shape does not apply."""
    if dialect != "postgres" or q.sort:
        return None
    one = _one_index_condition(q, compartment)
    if one is None:
        return None  # NOT IN, :missing, _id, several conditions, …: the general plans
    inner, args = one
    back = cursor.backwards if cursor else False
    cmp, order = ("<", " DESC") if back else (">", "")
    seek_sql = f" WHERE m.rid {cmp} ?" if cursor else ""
    page = f"SELECT m.rid FROM ({inner}) m{seek_sql} GROUP BY m.rid ORDER BY m.rid{order} LIMIT ?"
    full = (
        f"SELECT r.rid, r.rtype, r.id, r.content FROM resources r WHERE r.rid IN ({page})"
        f" AND r.deleted = 0 AND r.rtype = ? ORDER BY r.rid{order}"
    )
    return full, [*args, *([cursor.rid] if cursor else []), limit, q.types[0]]


def _reference_driver(q: SearchQuery, compartment: Compartment) -> tuple[Leaf, SQL] | None:
    """The condition naming one referenced resource (`patient=`, `subject=`…) of a search
    without `_sort`, and its index sub-query, when every condition is a plain test."""
    if q.sort or compartment is not None or len(q.types) != 1:
        return None
    if not all(isinstance(n, Leaf) for n in q.conditions):
        return None
    driver = next(
        (
            n
            for n in q.conditions
            if isinstance(n, Leaf)
            and n.type == "reference"
            and n.modifier is None
            and len(n.values) == 1
            and not n.code.startswith("_")
        ),
        None,
    )
    if driver is None:
        return None
    sql, args = leaf_sql("r", driver)
    if not (sql.startswith("r.rid IN (SELECT rid FROM idx_reference ") and sql.endswith(")")):
        return None
    inner = sql[len("r.rid IN (") : -1]
    return None if _CORRELATED.search(inner) else (driver, (inner, args))


def reference_driven_select(
    q: SearchQuery, compartment: Compartment, cursor: Cursor | None, limit: int, dialect: Dialect
) -> SQL | None:
    """No `_sort`: a search naming one referenced resource (`patient=`, `subject=`, ITI-67's
    shape). The page is read from that reference's index entries in rid order, each candidate
    probed for the other tests (and the access policy's row filter) until the page is full:
    bounded by what the one patient has (their 1,000 documents), never by how common the other
    values are in the whole base (`status=current` holds nearly every document), which the
    filter-driven plan intersected. PostgreSQL: with other tests or a row filter (one test
    alone is `index_page_select`'s); SQLite: also alone, when `fetch_page` found the reference
    selective (its rid windows suit dense matches). None when the shape does not apply."""
    found = _reference_driver(q, compartment)
    if found is None:
        return None
    driver, (inner, args) = found
    if dialect == "postgres" and len(q.conditions) < 2 and q.restrict is None:
        return None
    rest = replace(q, conditions=[n for n in q.conditions if n is not driver])
    with fenced():  # the other tests as probes of the candidate's own index rows
        wsql, wargs = where(rest, None, dialect, type_index=False)
    back = cursor.backwards if cursor else False
    cmp, order = ("<", " DESC") if back else (">", "")
    seek_sql, seek_args = (f" AND m.rid {cmp} ?", [cursor.rid]) if cursor else ("", [])
    # CROSS JOIN: SQLite reads the reference's entries first, then each resource by rid
    join = "CROSS JOIN" if dialect == "sqlite" else "JOIN"
    full = (
        f"SELECT r.rid, r.rtype, r.id, r.content FROM (SELECT DISTINCT rid FROM ({inner}) d) m"
        f" {join} resources r ON r.rid = m.rid WHERE {wsql}{seek_sql}"
        f" ORDER BY m.rid{order} LIMIT ?"
    )
    if dialect == "sqlite":
        full = _sqlite_probes(full)
    return full, [*args, *wargs, *seek_args, limit]


def _selective_reference(cur: DbCursor, q: SearchQuery, compartment: Compartment) -> bool:
    """SQLite: whether the search's reference names fewer than PROBE entries (counted in its
    index, never materialised)."""
    found = _reference_driver(q, compartment)
    if found is None:
        return False
    inner, args = found[1]
    row = cur.fetchone(f"SELECT COUNT(*) FROM ({inner} LIMIT ?) n", [*args, PROBE])
    return row is not None and int(row[0]) < PROBE


def fetch_page(
    cur: DbCursor, q: SearchQuery, compartment: Compartment, cursor: Cursor | None, limit: int
) -> list[Row]:
    """Up to `limit` rows (rid, rtype, id, content, s0..sn) in page order (reversed if the
    cursor goes backwards)."""
    dialect = cur.dialect
    drv = _driver(q)
    if drv is None:
        from_index = index_page_select(q, compartment, cursor, limit, dialect)
        if from_index is not None:
            return cur.fetchall(*from_index)
    if drv is None and (dialect == "postgres" or _selective_reference(cur, q, compartment)):
        by_reference = reference_driven_select(q, compartment, cursor, limit, dialect)
        if by_reference is not None:
            return cur.fetchall(*by_reference)
    if drv is None and dialect == "sqlite" and _rid_ordered(q, compartment):
        return _rid_windows(cur, q, cursor, limit)
    if drv is None:
        type_index = True if _resource_driven(q) and not _few(cur, q, compartment) else None
        sql, args = page_select(q, compartment, dialect, cursor, limit, type_index=type_index)
        return cur.fetchall(sql, args)
    if _few(cur, q, compartment):
        return cur.fetchall(*page_select(q, compartment, dialect, cursor, limit))
    back = cursor.backwards if cursor else False
    in_missing = cursor is not None and cursor.keys[0] == drv.missing
    if not back:
        rows = [] if in_missing else _driven(cur, q, compartment, drv, cursor, False, limit)
        if len(rows) < limit:
            rows += _missing(
                cur, q, compartment, drv, cursor if in_missing else None, False, limit - len(rows)
            )
        return rows
    rows = _missing(cur, q, compartment, drv, cursor, True, limit) if in_missing else []
    if len(rows) < limit:
        rows += _driven(
            cur, q, compartment, drv, None if in_missing else cursor, True, limit - len(rows)
        )
    return rows


def _missing(
    cur: DbCursor,
    q: SearchQuery,
    compartment: Compartment,
    drv: Driver,
    cursor: Cursor | None,
    back: bool,
    limit: int,
) -> list[Row]:
    # NOT EXISTS: PostgreSQL rescans an unhashable NOT IN list per row; SQLite must probe by
    # (rid, param), not range over the value index per row
    indexed = f" INDEXED BY {drv.table}_rid" if cur.dialect == "sqlite" else ""
    extra = (
        f"NOT EXISTS (SELECT 1 FROM {drv.table} x{indexed} WHERE x.rid = r.rid AND x.param = ?"
        f" AND x.{drv.column} IS NOT NULL)",
        [drv.key],
    )
    sql, args = page_select(q, compartment, cur.dialect, cursor, limit, extra=extra, back=back)
    return cur.fetchall(sql, args)


def driven_select(
    q: SearchQuery,
    compartment: Compartment,
    dialect: str,
    drv: Driver,
    cursor: Cursor | None,
    back: bool,
    limit: int,
) -> SQL:
    """The index-driven page query (rows may repeat a resource with tied values)."""
    keys = sort_keys(q, dialect)  # type: ignore[arg-type]
    col = f"s.{drv.column}"
    agg = "MAX" if drv.desc else "MIN"
    first = SortKey(col, [], drv.desc)
    rest = keys[1:]
    if dialect == "postgres":
        with fenced():
            wsql, wargs = where(q, compartment, dialect, type_index=False)  # type: ignore[arg-type]
    else:
        wsql, wargs = where(q, compartment, dialect, type_index=False)  # type: ignore[arg-type]
    cols = "".join(f", {k.sql} AS s{i + 1}" for i, k in enumerate(rest))
    # CROSS JOIN: SQLite must read the sort index first, in order; the resource follows by rid
    inner = (
        f"SELECT s.rid, r.rtype, r.id, r.content, {col} AS s0{cols}"
        f" FROM {drv.table} s CROSS JOIN resources r"
        f" WHERE s.param = ? AND r.rid = s.rid AND {col} IS NOT NULL AND {wsql}"
        f" AND {col} = (SELECT {agg}(x.{drv.column}) FROM {drv.table} x"
        " WHERE x.rid = s.rid AND +x.param = ?)"
    )
    args: list[Any] = [x for k in rest for x in k.args] + [drv.key, *wargs, drv.key]
    if cursor is not None:
        # the range start lets the index seek; `seek` then orders ties exactly
        ahead = drv.desc == back
        inner += f" AND {col} {'>=' if ahead else '<='} ?"
        args.append(cursor.keys[0])
        if not rest and drv.table in _VALUE_RID_INDEXED:
            # the index is (param, value, rid): the seek itself is an index range
            inner += f" AND ({col}, s.rid) {'>' if ahead else '<'} (?, ?)"
            args += [cursor.keys[0], cursor.rid]
    order = [f"q.s{i}{' DESC' if k.desc != back else ''}" for i, k in enumerate([first, *rest])]
    order.append(f"q.rid{' DESC' if drv.desc != back else ''}")
    outer = f"SELECT q.* FROM ({inner}) q"
    if cursor is not None:
        ssql, sargs = seek([first, *rest], cursor, back)
        outer += f" WHERE {ssql}"
        args += sargs
    return f"{outer} ORDER BY {', '.join(order)} LIMIT ?", [*args, limit]


def chunk_select(
    q: SearchQuery,
    compartment: Compartment,
    drv: Driver,
    cursor: Cursor | None,
    back: bool,
    chunk: int,
) -> SQL:
    """PostgreSQL, one sort key: the next `chunk` entries of the sort index after the cursor,
    each with its resource and `ok` (1 when it matches the filter and is the resource's
    representative value). Rows: (rid, rtype, id, content, s0, ok) in page order.

    The LIMIT sits on the scan of the sort index itself, so the planner can only read the index
    in order from the cursor: without it, a cursor deep inside a run of equal values (page 50
    of `_sort=family`) made PostgreSQL estimate a handful of rows after the seek, fetch every
    remaining row through a bitmap scan and sort them (75 ms instead of 1.4 ms at 100 k)."""
    col = f"s.{drv.column}"
    agg = "MAX" if drv.desc else "MIN"
    ahead = drv.desc == back  # the scan runs towards larger values
    direction = "" if ahead else " DESC"
    with fenced():
        wsql, wargs = where(q, compartment, "postgres", type_index=False)
    cand = f"SELECT s.rid, {col} AS v FROM {drv.table} s WHERE s.param = ? AND {col} IS NOT NULL"
    cargs: list[Any] = [drv.key]
    if cursor is not None:
        # the first term is an index range on every sort index; the row comparison orders ties
        cand += f" AND {col} {'>=' if ahead else '<='} ? AND ({col}, s.rid) {'>' if ahead else '<'} (?, ?)"
        cargs += [cursor.keys[0], cursor.keys[0], cursor.rid]
    cand += f" ORDER BY {col}{direction}, s.rid{direction} LIMIT ?"
    cargs.append(chunk)
    sql = (
        "SELECT c.rid, r.rtype, r.id, r.content, c.v AS s0,"
        f" CASE WHEN r.rid IS NOT NULL AND {wsql} AND c.v = (SELECT {agg}(x.{drv.column})"
        f" FROM {drv.table} x WHERE x.rid = c.rid AND +x.param = ?) THEN 1 ELSE 0 END AS ok"
        f" FROM ({cand}) c LEFT JOIN resources r ON r.rid = c.rid"
        f" ORDER BY c.v{direction}, c.rid{direction}"
    )
    return sql, [*wargs, drv.key, *cargs]


_CHUNK_MAX = 5000


def _driven_chunks(
    cur: DbCursor,
    q: SearchQuery,
    compartment: Compartment,
    drv: Driver,
    cursor: Cursor | None,
    back: bool,
    limit: int,
) -> list[Row]:
    out: list[Row] = []
    seen: set[int] = set()
    chunk = 2 * limit + 8
    while len(out) < limit:
        rows = cur.fetchall(*chunk_select(q, compartment, drv, cursor, back, chunk))
        matched = 0
        for row in rows:
            if row[5] and row[0] not in seen:  # ties between two values of one resource
                seen.add(row[0])
                matched += 1
                out.append(row[:5])
                if len(out) == limit:
                    return out
        if len(rows) < chunk:
            break  # the index has no more entries
        cursor = Cursor([rows[-1][4]], int(rows[-1][0]), back)
        # a selective filter: read further at once (its rate in this chunk, doubled)
        wanted = (limit - len(out)) * len(rows) * 2 // max(1, matched)
        chunk = min(_CHUNK_MAX, max(2 * chunk, wanted))
    return out


def _driven(
    cur: DbCursor,
    q: SearchQuery,
    compartment: Compartment,
    drv: Driver,
    cursor: Cursor | None,
    back: bool,
    limit: int,
) -> list[Row]:
    nkeys = len(q.sort)
    if nkeys == 1 and cur.dialect == "postgres":
        return _driven_chunks(cur, q, compartment, drv, cursor, back, limit)
    out: list[Row] = []
    seen: set[int] = set()
    while len(out) < limit:
        want = limit - len(out) + 1
        sql, args = driven_select(q, compartment, cur.dialect, drv, cursor, back, want)
        rows = cur.fetchall(sql, args)
        for row in rows:
            if row[0] not in seen:  # a tie between two values of one resource
                seen.add(row[0])
                out.append(row)
        if len(rows) < want or not rows:
            break
        last = rows[-1]
        cursor = Cursor(list(last[4 : 4 + nkeys]), int(last[0]), back)
    return out[:limit]
