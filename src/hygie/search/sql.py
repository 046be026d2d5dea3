"""SearchQuery -> the SELECT of one page (filter, sort, keyset seek) and its COUNT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hygie.search.paging import Cursor
from hygie.search.predicates import SQL, TABLES, node_sql
from hygie.search.query import Leaf, SearchQuery
from hygie.search.registry import params_for
from hygie.store.base import Dialect

_TEXT_MAX = chr(0x10FFFF)
_INT_MAX = 2**62
_NUM_MAX = 1e300
# column read by a sort on each parameter type: (ascending, descending)
_SORT_COLUMN = {
    "string": ("value_norm", "value_norm"),
    "token": ("code", "code"),
    "date": ("low", "high"),
    "number": ("value", "value"),
    "quantity": ("value", "value"),
    "reference": ("target_id", "target_id"),
    "uri": ("value", "value"),
}


@dataclass(slots=True)
class SortKey:
    sql: str
    args: list[Any]
    desc: bool


def where(
    q: SearchQuery,
    compartment: tuple[str, str] | None,
    dialect: Dialect = "sqlite",
    a: str = "r",
    *,
    type_index: bool | None = None,
) -> SQL:
    parts, args = [f"{a}.deleted = 0"], []
    # SQLite has no statistics: keep it from scanning every resource of the type when an
    # index condition exists; `+col` disables the (rtype, ...) indexes for this term only.
    if type_index is None:
        # `_id` is answered by the (rtype, id) index itself
        by_id = any(
            isinstance(n, Leaf) and n.code == "_id" and not n.modifier for n in q.conditions
        )
        type_index = by_id or not (q.conditions or compartment)
    driven = not type_index and dialect == "sqlite"
    if len(q.types) == 1:
        parts.append(f"{'+' if driven else ''}{a}.rtype = ?")
        args.append(q.types[0])
    elif q.rtype is None and q.types != _all_types():
        parts.append(f"{a}.rtype IN ({', '.join('?' * len(q.types))})")
        args.extend(q.types)
    if compartment:
        parts.append(f"{a}.rid IN (SELECT rid FROM compartment WHERE ctype = ? AND cid = ?)")
        args.extend(compartment)
    for node in q.conditions:
        sql, nargs = node_sql(a, node, dialect, q.restrict)
        parts.append(sql)
        args.extend(nargs)
    if q.restrict is not None:
        rsql, rargs = q.restrict.render(a)
        parts.append(rsql)
        args.extend(rargs)
    return " AND ".join(parts), args


def _all_types() -> list[str]:
    from hygie.fhir.definitions import resource_types

    return sorted(resource_types())


def missing_value(ptype: str, desc: bool) -> Any:
    """The sort value of a resource without a value: missing values sort last both ways."""
    if ptype == "date":
        return -_INT_MAX if desc else _INT_MAX
    if ptype in ("number", "quantity"):
        return -_NUM_MAX if desc else _NUM_MAX
    return "" if desc else _TEXT_MAX


def sort_column(ptype: str, desc: bool) -> str:
    return _SORT_COLUMN[ptype][desc]


def sort_keys(q: SearchQuery, dialect: Dialect) -> list[SortKey]:
    keys = []
    for code, desc in q.sort:
        if code == "_id":
            collate = ' COLLATE "C"' if dialect == "postgres" else ""
            keys.append(SortKey(f"r.id{collate}", [], desc))
            continue
        if code == "_lastUpdated":
            keys.append(SortKey("r.last_updated", [], desc))
            continue
        params = [params_for(t)[code] for t in q.types if code in params_for(t)]
        ptype = params[0].type
        col = _SORT_COLUMN[ptype][desc]
        agg = "MAX" if desc else "MIN"
        marks = ", ".join("?" * len(params))
        sentinel = missing_value(ptype, desc)
        # `+param`: SQLite must seek (rid, param), not scan a param-leading value index
        sql = (
            f"COALESCE((SELECT {agg}({col}) FROM {TABLES[ptype]} WHERE rid = r.rid"
            f" AND +param IN ({marks})), ?)"
        )
        keys.append(SortKey(sql, [p.key for p in params] + [sentinel], desc))
    return keys


def rid_desc(keys: list[SortKey]) -> bool:
    """Ties are ordered by rid in the first key's direction, so that a descending sort reads
    its (param, value, rid) index backwards without a sort."""
    return bool(keys) and keys[0].desc


def seek(keys: list[SortKey], cursor: Cursor, back: bool) -> SQL:
    """Rows strictly after (or before, backwards) the cursor in (keys..., rid) order."""
    names = [f"q.s{i}" for i in range(len(keys))] + ["q.rid"]
    descs = [k.desc for k in keys] + [rid_desc(keys)]
    values = [*cursor.keys, cursor.rid]
    ors, args = [], []
    for i, name in enumerate(names):
        forward = descs[i] == back
        terms = [f"{names[j]} = ?" for j in range(i)] + [f"{name} {'>' if forward else '<'} ?"]
        ors.append("(" + " AND ".join(terms) + ")")
        args.extend(values[: i + 1])
    return "(" + " OR ".join(ors) + ")", args


def page_select(
    q: SearchQuery,
    compartment: tuple[str, str] | None,
    dialect: Dialect,
    cursor: Cursor | None,
    limit: int,
    *,
    extra: SQL | None = None,
    back: bool | None = None,
    type_index: bool | None = None,
) -> SQL:
    """SELECT rid, rtype, id, content, s0..sn of one page, in page order reversed if backwards.

    The filter drives: every match gets its sort keys, then the database sorts (cheap when the
    filter is selective; see sorting.py for the index-driven plan of large result sets)."""
    keys = sort_keys(q, dialect)
    wsql, wargs = where(q, compartment, dialect, type_index=type_index)
    if extra is not None:
        wsql, wargs = f"{wsql} AND {extra[0]}", [*wargs, *extra[1]]
    cols = "".join(f", {k.sql} AS s{i}" for i, k in enumerate(keys))
    inner = f"SELECT r.rid, r.rtype, r.id, r.content{cols} FROM resources r WHERE {wsql}"
    args = [x for k in keys for x in k.args] + wargs
    if back is None:
        back = cursor.backwards if cursor else False
    order = [f"q.s{i}{' DESC' if k.desc != back else ''}" for i, k in enumerate(keys)]
    order.append(f"q.rid{' DESC' if rid_desc(keys) != back else ''}")
    outer = f"SELECT q.* FROM ({inner}) q"
    if cursor:
        ssql, sargs = seek(keys, cursor, back)
        outer += f" WHERE {ssql}"
        args += sargs
    outer += f" ORDER BY {', '.join(order)} LIMIT ?"
    return outer, [*args, limit]


def count_select(q: SearchQuery, compartment: tuple[str, str] | None, dialect: Dialect) -> SQL:
    wsql, wargs = where(q, compartment, dialect)
    return f"SELECT COUNT(*) FROM resources r WHERE {wsql}", wargs
