"""Index extraction: a resource -> the rows of every search index table (see schema.py).

Called by the store on every write, in the write's transaction; must stay cheap (compiled
walkers, no I/O).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hygie.search.custom import refresh
from hygie.search.registry import (
    RESOURCE_COLUMNS,
    SearchParam,
    compartment_definitions,
    params_for,
)
from hygie.search.schema import INDEX_TABLES
from hygie.search.values import CONVERTERS, Converter, Rows

_TABLES = tuple(INDEX_TABLES)


@cache
def _plan(rtype: str) -> tuple[tuple[int, Any, Converter, frozenset[str]], ...]:
    return tuple(
        (p.key, p.walker, converter_for(p), p.compartments)
        for p in params_for(rtype).values()
        if p.code not in RESOURCE_COLUMNS and p.walker is not None
    )


def converter_for(p: SearchParam) -> Converter:
    if p.type == "composite":
        from hygie.search.composite import converter

        assert p.sub_type is not None
        return converter(p.sub_type)
    if p.type == "special":
        from hygie.search.near import near_rows

        return near_rows
    return CONVERTERS[p.type]


@cache
def _self_compartments(rtype: str) -> tuple[str, ...]:
    return tuple(c for c in compartment_definitions() if c == rtype)


def extract(resource: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per index table (tuples in INDEX_TABLES column order, without rid)."""
    refresh()
    rtype = resource["resourceType"]
    rows: Rows = {t: [] for t in _TABLES}
    compartment = rows["compartment"]
    references = rows["idx_reference"]
    for key, walker, convert, comps in _plan(rtype):
        values = walker(resource)
        if not values:
            continue
        start = len(references)
        for value, ftype in values:
            convert(rows, key, value, ftype)
        if comps:
            for _k, ttype, tid, _v, _u in references[start:]:
                if ttype in comps and tid:
                    compartment.append((ttype, tid))
    rid = resource.get("id")
    if rid:
        compartment.extend((c, rid) for c in _self_compartments(rtype))
    for table, lst in rows.items():
        if len(lst) > 1:
            rows[table] = list(dict.fromkeys(lst))
    return rows


def extract_params(resource: dict[str, Any], params: list[SearchParam]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of only `params` (the reindex of new parameters), no compartments."""
    rows: Rows = {t: [] for t in _TABLES}
    for p in params:
        if p.walker is None or p.rtype != resource["resourceType"]:
            continue
        convert = converter_for(p)
        for value, ftype in p.walker(resource):
            convert(rows, p.key, value, ftype)
    return {t: list(dict.fromkeys(v)) for t, v in rows.items() if v}
