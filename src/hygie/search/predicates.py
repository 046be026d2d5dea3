"""Conditions -> SQL predicates over the index tables, identical on SQLite and PostgreSQL.

Every predicate tests one resources alias (`a`) and is `a.rid IN (SELECT rid FROM idx_...)`
or its negation, so the planners use the (param, value, rid) indexes. Semantics follow
search.html; the row ranges are [low, high) as written by values.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from hygie.search.keys import contained_key, param_key
from hygie.search.near import near_sql
from hygie.search.normalize import MAX_TIME, MIN_TIME, fold
from hygie.search.query import AnyOf, Chain, Has, InList, Leaf, Node
from hygie.search.values import identifier_key, of_type_key, parse_reference
from hygie.store.context import Restriction

SQL = tuple[str, list[Any]]
_LIKE_ESC = " ESCAPE '\\'"
_alias = itertools.count()


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prefix_bounds(text: str) -> tuple[str, str]:
    """[text, next) so that `x >= lo AND x < hi` is `x starts with text` in code-point order."""
    return text, text[:-1] + chr(ord(text[-1]) + 1)


def _keys(leaf: Leaf) -> SQL:
    keys = [p.key for p in leaf.params]
    if len(keys) == 1:
        return "param = ?", keys
    return f"param IN ({', '.join('?' * len(keys))})", keys


def _ors(parts: list[SQL]) -> SQL:
    if len(parts) == 1:
        return parts[0]
    return "(" + " OR ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]


# " OFFSET 0" while building an index-driven PostgreSQL page (see fenced())
_FENCE: ContextVar[str] = ContextVar("fence", default="")


def _in(a: str, table: str, leaf: Leaf, value_sql: SQL, negate: bool = False) -> SQL:
    ksql, kargs = _keys(leaf)
    if _FENCE.get():
        # a correlated probe by (rid, param) per row of the driving sort index
        op = "NOT EXISTS" if negate else "EXISTS"
        return (
            f"{op} (SELECT 1 FROM {table} WHERE rid = {a}.rid AND {ksql} AND {value_sql[0]}"
            " OFFSET 0)",
            kargs + value_sql[1],
        )
    op = "NOT IN" if negate else "IN"
    return (
        f"{a}.rid {op} (SELECT rid FROM {table} WHERE {ksql} AND {value_sql[0]})",
        kargs + value_sql[1],
    )


class fenced:
    """Within this block, index filters are correlated probes behind a planning fence
    (`EXISTS (… OFFSET 0)`): PostgreSQL checks them per row of the sort index instead of
    joining every match first."""

    def __enter__(self) -> None:
        self.token = _FENCE.set(" OFFSET 0")

    def __exit__(self, *exc: object) -> None:
        _FENCE.reset(self.token)


TABLES = {
    "string": "idx_string",
    "token": "idx_token",
    "date": "idx_date",
    "number": "idx_number",
    "quantity": "idx_quantity",
    "reference": "idx_reference",
    "uri": "idx_uri",
    "special": "idx_near",
}


def _missing(a: str, leaf: Leaf, missing: bool) -> SQL:
    if leaf.code == "_id":
        return ("1 = 0" if missing else "1 = 1"), []
    if leaf.code == "_lastUpdated":
        return f"{a}.last_updated IS {'' if missing else 'NOT '}NULL", []
    ksql, kargs = _keys(leaf)
    if missing:
        # an anti-join probe per row: PostgreSQL cannot hash `NOT IN (SELECT …)` once the
        # list outgrows work_mem and then rescans it per row (minutes at 1 M resources)
        table = TABLES[leaf.type]
        return f"NOT EXISTS (SELECT 1 FROM {table} WHERE rid = {a}.rid AND {ksql})", kargs
    return f"{a}.rid IN (SELECT rid FROM {TABLES[leaf.type]} WHERE {ksql})", kargs


def _string(v: str, modifier: str | None) -> SQL:
    if modifier == "exact":
        return "value = ?", [v]
    text = fold(v)
    if modifier == "contains":
        return "value_norm LIKE ?" + _LIKE_ESC, [f"%{like_escape(text)}%"]
    lo, hi = prefix_bounds(text)
    return "value_norm >= ? AND value_norm < ?", [lo, hi]


def _token(v: Any, modifier: str | None) -> SQL:
    if modifier == "text":
        lo, hi = prefix_bounds(fold(v))
        return "text_norm >= ? AND text_norm < ?", [lo, hi]
    system, code = v
    parts, args = [], []
    if code is not None:
        parts.append("code = ?")
        args.append(code)
    if system == "":
        parts.append("system IS NULL")
    elif system is not None:
        parts.append("system = ?")
        args.append(system)
    return " AND ".join(parts) or "1 = 1", args


def _date(v: Any, _m: str | None, low: str = "low", high: str = "high") -> SQL:
    prefix, lo, hi = v
    # `low < hi` follows from low < high <= hi; stating it bounds the index range seek
    contained = f"({low} >= ? AND {low} < ? AND {high} <= ?)"
    if prefix == "eq":
        return contained, [lo, hi, hi]
    if prefix == "ne":
        return f"NOT {contained}", [lo, hi, hi]
    if prefix == "gt":
        return f"{high} > ?", [hi]
    if prefix == "lt":
        return f"{low} < ?", [lo]
    # ge/le: "above/below or contained" simplify since low < high on every row
    if prefix == "ge":
        return f"({low} >= ? OR {high} > ?)", [lo, hi]
    if prefix == "le":
        return f"({low} < ? OR {high} <= ?)", [lo, hi]
    if prefix == "sa":
        return f"{low} >= ?", [hi]
    if prefix == "eb":
        return f"{high} <= ?", [lo]
    # ap: overlap with the value widened by 10% of its distance to now (search.html#prefix)
    import time

    now = int(time.time() * 1_000_000)
    gap = max(abs(now - lo), hi - lo) // 10
    return f"({low} < ? AND {high} > ?)", [hi + gap, lo - gap]


def _low_bounds(v: Any, span: int) -> tuple[int | None, int | None]:
    """[from, to) bounds on `low` implied by a date test when no value is longer than `span`
    (high - low <= span): they let the (param, low) index seek a range."""
    prefix, lo, hi = v
    return {
        "eq": (lo, hi),
        "gt": (hi - span, None),
        "ge": (min(lo, hi - span), None),
        "lt": (None, lo),
        "le": (None, hi),
        "sa": (hi, None),
        "eb": (None, lo),
    }.get(prefix, (None, None))


def _date_leaf(leaf: Leaf) -> SQL:
    if leaf.modifier == "all":
        parts = [_date(v, None) for v in leaf.values]
        sql, args = " AND ".join(p[0] for p in parts), [x for p in parts for x in p[1]]
        bounds = [_low_bounds(v, leaf.span) for v in leaf.values] if leaf.span else []
        lows = [b[0] for b in bounds if b[0] is not None]
        highs = [b[1] for b in bounds if b[1] is not None]
        lower, upper = (max(lows) if lows else None), (min(highs) if highs else None)
    else:
        sql, args = _ors([_date(v, None) for v in leaf.values])
        bounds = [_low_bounds(v, leaf.span) for v in leaf.values] if leaf.span else []
        lower = (
            min((b[0] for b in bounds), default=None)
            if all(b[0] is not None for b in bounds)
            else None
        )
        upper = (
            max((b[1] for b in bounds), default=None)
            if all(b[1] is not None for b in bounds)
            else None
        )
    if lower is not None and lower > MIN_TIME:
        sql, args = f"low >= ? AND ({sql})", [lower, *args]
    if upper is not None and upper < MAX_TIME:
        sql, args = f"low < ? AND ({sql})", [upper, *args]
    return sql, args


def _numeric(v: Any) -> SQL:
    prefix, value, lo, hi = v[:4]
    if prefix == "eq":
        return "(value >= ? AND value < ?)", [lo, hi]
    if prefix == "ne":
        return "NOT (value >= ? AND value < ?)", [lo, hi]
    if prefix == "ap":
        gap = abs(value) / 10
        return "(value >= ? AND value <= ?)", [value - gap, value + gap]
    op = {"gt": ">", "sa": ">", "lt": "<", "eb": "<", "ge": ">=", "le": "<="}[prefix]
    return f"value {op} ?", [value]


def _range(v: Any) -> SQL:
    """A Range row [low, high] against the search value's implicit range (search.html#prefix)."""
    prefix, value, lo, hi = v[:4]
    if prefix == "ap":
        gap = abs(value) / 10
        return "(low <= ? AND high >= ?)", [value + gap, value - gap]
    if prefix in ("gt", "lt", "ge", "le"):
        # above/below the search value, or (ge/le) contained in it
        return {
            "gt": ("high > ?", [value]),
            "lt": ("low < ?", [value]),
            "ge": ("high >= ?", [value]),
            "le": ("low <= ?", [value]),
        }[prefix]
    return _date((prefix, lo, hi), None)


def _quantity(v: Any, _m: str | None, ranges: bool = False) -> SQL:
    sql, args = _numeric(v)
    if ranges:
        rsql, rargs = _range(v)
        sql, args = f"(({sql}) OR (value IS NULL AND {rsql}))", [*args, *rargs]
    system, code = v[4], v[5]
    if code is not None:
        sql += " AND code = ?"
        args.append(code)
    if system is not None:
        sql += " AND system = ?"
        args.append(system)
    return sql, args


def _reference(v: str, modifier: str | None) -> SQL:
    rtype, rid, version, url = parse_reference(v) if "/" in v or ":" in v else (None, v, None, None)
    if url and rtype is None:
        sql, args = "url = ?", [url]
        if version:
            sql, args = sql + " AND target_version = ?", [*args, version]
        return sql, args
    if modifier and modifier != "missing":
        if rtype and rtype != modifier:
            return "1 = 0", []
        rtype = modifier
    parts, args = ["target_id = ?"], [rid]
    if rtype:
        parts.append("target_type = ?")
        args.append(rtype)
    if url and "|" in v:
        parts.append("target_version = ?")
        args.append(version)
    return " AND ".join(parts), args


def _concepts(v: frozenset[tuple[str | None, str | None]], _m: str | None) -> SQL:
    """Membership in a set of (system, code) bound by terminology.py."""
    by_system: dict[str | None, list[str]] = {}
    whole: list[str] = []
    for system, code in sorted(v, key=lambda c: (c[0] or "", c[1] or "")):
        if code is None:
            whole.append(system or "")
        else:
            by_system.setdefault(system, []).append(code)
    parts: list[SQL] = []
    if whole:
        parts.append((f"system IN ({', '.join('?' * len(whole))})", whole))
    for system, codes in by_system.items():
        sql = f"code IN ({', '.join('?' * len(codes))})"
        if system is None:
            parts.append((sql, codes))
        else:
            parts.append((f"({sql} AND system = ?)", [*codes, system]))
    return _ors(parts) if parts else ("1 = 0", [])


def _uri(v: str, modifier: str | None) -> SQL:
    if modifier == "below":
        return "(value = ? OR value LIKE ?" + _LIKE_ESC + ")", [
            v,
            like_escape(v.rstrip("/")) + "/%",
        ]
    if modifier == "above":
        segs = v.split("/")
        prefixes = ["/".join(segs[:i]) for i in range(3, len(segs) + 1)] or [v]
        return f"value IN ({', '.join('?' * len(prefixes))})", prefixes
    return "value = ?", [v]


_VALUE_SQL: dict[str, Callable[[Any, str | None], SQL]] = {
    "string": _string,
    "token": _token,
    "date": _date,
    "number": lambda v, m: _numeric(v),
    "quantity": _quantity,
    "reference": _reference,
    "uri": _uri,
    "special": lambda v, m: near_sql(v),
}
_TERMINOLOGY = {"in", "not-in", "above", "below"}


def _resource_column(a: str, leaf: Leaf) -> SQL:
    if leaf.code == "_id":
        ids = [code for _s, code in leaf.values]
        sql = f"{a}.id IN ({', '.join('?' * len(ids))})"
        return (f"NOT {sql}" if leaf.modifier == "not" else sql), ids
    # a stored instant is the point range [t, t+1µs)
    col = f"{a}.last_updated"
    return _ors([_date(v, None, col, f"({col} + 1)") for v in leaf.values])


def leaf_sql(a: str, leaf: Leaf) -> SQL:
    if leaf.modifier == "missing":
        return _ors([_missing(a, leaf, m) for m in leaf.values])
    if leaf.code in ("_id", "_lastUpdated"):
        return _resource_column(a, leaf)
    if leaf.type == "token" and leaf.modifier == "of-type":
        return _of_type(a, leaf)
    if leaf.type == "reference" and leaf.modifier == "identifier":
        return _identifier(a, leaf)
    if leaf.type == "token" and leaf.modifier in _TERMINOLOGY:
        value_sql = _ors([_concepts(v, None) for v in leaf.values])
        return _in(a, "idx_token", leaf, value_sql, negate=leaf.modifier == "not-in")
    if leaf.type == "date" and leaf.modifier in (None, "all"):
        return _in(a, "idx_date", leaf, _date_leaf(leaf))
    if leaf.type == "quantity" and any(p.ranges for p in leaf.params):
        value_sql = _ors([_quantity(v, None, ranges=True) for v in leaf.values])
        return _in(a, "idx_quantity", leaf, value_sql)
    value_sql = _ors([_VALUE_SQL[leaf.type](v, leaf.modifier) for v in leaf.values])
    negate = leaf.type == "token" and leaf.modifier == "not"
    return _in(a, TABLES[leaf.type], leaf, value_sql, negate)


def _derived(a: str, keys: list[int], value_sql: SQL) -> SQL:
    ksql = f"param IN ({', '.join('?' * len(keys))})"
    return f"{a}.rid IN (SELECT rid FROM idx_token WHERE {ksql} AND {value_sql[0]})", [
        *keys,
        *value_sql[1],
    ]


def _of_type(a: str, leaf: Leaf) -> SQL:
    keys = [of_type_key(p.key) for p in leaf.params]
    parts = [
        ("(system = ? AND code = ?)" if s else "code = ?", [s, f"{c}|{v}"] if s else [f"{c}|{v}"])
        for s, c, v in leaf.values
    ]
    return _derived(a, keys, _ors(parts))


def _identifier(a: str, leaf: Leaf) -> SQL:
    keys = [identifier_key(p.key) for p in leaf.params]
    return _derived(a, keys, _ors([_token(v, None) for v in leaf.values]))


_LIST_ITEM = param_key("List", "item")


def _restricted(alias: str, restrict: Restriction | None) -> SQL:
    """The caller's row filter on a sub-query's alias: a chain, `_has` or `_list` must not
    reveal resources the caller may not see (not even that they match)."""
    if restrict is None:
        return "", []
    sql, args = restrict.render(alias)
    return f" AND {sql}", args


def _in_list(a: str, node: InList, restrict: Restriction | None = None) -> SQL:
    marks = ", ".join("?" * len(node.list_ids))
    rsql, rargs = _restricted("l", restrict)
    sql = (
        f"({a}.rtype, {a}.id) IN (SELECT ref.target_type, ref.target_id FROM resources l"
        f" CROSS JOIN idx_reference ref WHERE l.rtype = 'List' AND l.id IN ({marks})"
        f" AND l.deleted = 0 AND ref.rid = l.rid AND ref.param = ?{rsql})"
    )
    return sql, [*node.list_ids, _LIST_ITEM, *rargs]


# modifiers whose test reads the parameter's own rows (evaluable on a contained resource's rows
# in its container); negations and `:missing` would be about the container instead
_CONTAINED_MODIFIERS = (None, "exact", "contains", "text", "above", "below", "all")


def _in_contained(a: str, node: Chain) -> SQL | None:
    """A chain's condition on the contained resources its reference names ("#id"): their
    rows are the container's, keyed `contained_key(reference, parameter)` (index.py). One
    plain parameter test only (a deeper chain or `_has` stays on server resources)."""
    leaf = node.inner
    if not isinstance(leaf, Leaf) or leaf.modifier not in _CONTAINED_MODIFIERS:
        return None
    if leaf.code.startswith("_") or (leaf.type == "token" and leaf.modifier in _TERMINOLOGY):
        return None
    params = [
        replace(inner, key=contained_key(ref.key, inner.key))
        for ref in node.params
        for inner in leaf.params
        if inner.rtype in node.target_types
    ]
    if not params:
        return None
    return leaf_sql(a, replace(leaf, params=params))


def node_sql(
    a: str, node: Node, dialect: str = "sqlite", restrict: Restriction | None = None
) -> SQL:
    if isinstance(node, Leaf):
        return leaf_sql(a, node)
    if isinstance(node, AnyOf):
        return _ors([node_sql(a, n, dialect, restrict) for n in node.nodes])
    if isinstance(node, InList):
        return _in_list(a, node, restrict)
    t = f"t{next(_alias) % 1_000_000}"
    inner_sql, inner_args = node_sql(t, node.inner, dialect, restrict)
    rsql, rargs = _restricted(t, restrict)
    inner_sql += rsql
    inner_args = [*inner_args, *rargs]
    # CROSS JOIN fixes SQLite's join order (the matches of `inner` first, then their
    # references through the index); PostgreSQL plans it as an ordinary inner join.
    # `rtype || ''` keeps SQLite from scanning resources by type through the IN list; `+param`
    # makes it look references up by (rid, param), not scan them by param.
    if isinstance(node, Chain):
        keys = [p.key for p in node.params]
        sql = (
            f"{a}.rid IN (SELECT ref.rid FROM resources {t} CROSS JOIN idx_reference ref"
            f" WHERE ref.target_type = {t}.rtype || '' AND ref.target_id = {t}.id"
            f" AND ref.param IN ({', '.join('?' * len(keys))})"
            f" AND ref.target_type IN ({', '.join('?' * len(node.target_types))})"
            f" AND {t}.deleted = 0 AND {inner_sql})"
        )
        args = [*keys, *node.target_types, *inner_args]
        local = _in_contained(a, node)
        if local is not None:  # or inside a contained resource the reference names
            sql, args = f"({sql} OR {local[0]})", [*args, *local[1]]
        return sql, args
    assert isinstance(node, Has)
    # index text is in "C" order on PostgreSQL: compare in the resources columns' collation
    coll = ' COLLATE "default"' if dialect == "postgres" else ""
    sql = (
        f"({a}.rtype, {a}.id) IN (SELECT ref.target_type{coll}, ref.target_id{coll}"
        f" FROM resources {t}"
        f" CROSS JOIN idx_reference ref WHERE ref.rid = {t}.rid AND +ref.param = ? AND {inner_sql})"
    )
    return sql, [node.param.key, *inner_args]
