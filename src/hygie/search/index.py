"""Index extraction: a resource -> the rows of every search index table (see schema.py).

Called by the store on every write, in the write's transaction; must stay cheap (compiled
walkers, no I/O).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from hygie.search.codegen import extractor
from hygie.search.custom import refresh
from hygie.search.keys import contained_key
from hygie.search.paths import parts_for, split_top
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
def _plan(
    rtype: str,
) -> tuple[tuple[int, Any, Converter, frozenset[str], frozenset[str] | None], ...]:
    return tuple(
        (p.key, p.walker, converter_for(p), p.compartments, top_fields(p.expression, rtype))
        for p in params_for(rtype).values()
        if p.code not in RESOURCE_COLUMNS and p.walker is not None
    )


_IDENT = re.compile(r"[A-Za-z_]\w*")
_LOGIC = ("exists(", "empty(", "not(", " and ", " or ", "=", "iif(")
_CHOICE_KEY = re.compile(r"([a-z][A-Za-z0-9]*?)[A-Z]")


def top_fields(expression: str, rtype: str) -> frozenset[str] | None:
    """The top-level elements an expression starts from, or None when it cannot be told:
    a parameter none of whose elements is in the resource has nothing to index."""
    fields = set()
    if any(op in expression for op in _LOGIC):  # e.g. `deceased.exists() and deceased != false`
        return None
    for part in parts_for(expression, rtype):
        segments = split_top(part.lstrip("("), ".")
        m = _IDENT.match(segments[1]) if len(segments) > 1 else None
        if m is None:
            return None
        rest = segments[1][m.end() :]
        if rest.startswith("(") and m.group(0) != "extension":
            return None
        fields.add(m.group(0))
    return frozenset(fields) if fields else None


def _present(resource: dict[str, Any]) -> set[str]:
    """Element names in the resource, choice elements also under their base name
    (`valueQuantity` -> `value`); over-inclusive on purpose (never skips a present one)."""
    keys = set(resource)
    for k in resource:
        m = _CHOICE_KEY.match(k)
        if m:
            keys.add(m.group(1))
    return keys


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


def with_own_id(
    rtype: str, index: dict[str, list[tuple[Any, ...]]], extracted_id: str | None, rid: str
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows extracted before the server chose the id (a create): a resource that is a
    compartment's focus (a Patient in its own Patient compartment) belongs to it by its id,
    so the self-membership rows are those of `rid`, not of the id the client sent, if any."""
    comps = _self_compartments(rtype)
    if not comps or extracted_id == rid:
        return index
    rows = index.get("compartment", [])
    if extracted_id:
        stale = {(c, extracted_id) for c in comps}
        rows = [r for r in rows if r not in stale]
    return {**index, "compartment": [*rows, *((c, rid) for c in comps)]}


def extract(resource: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per index table (tuples in INDEX_TABLES column order, without rid).

    Runs the function generated from `_plan` for the resource's type (codegen.py): the rows
    of `extract_reference`, several times faster."""
    refresh()
    rows = extractor(resource["resourceType"])(resource)
    if resource.get("contained"):
        contained_rows(resource, rows)
    return rows


def contained_rows(resource: dict[str, Any], rows: Rows) -> None:
    """The index rows of the contained resources a reference of the container points to
    ("#id"), added to the container's rows under `contained_key(reference, parameter)`: the
    SQL of a chain (`author.family=…`) evaluates its condition inside contained resources too,
    as FHIR R4 search requires ("A chained condition will be evaluated inside contained
    resources", search.html#contained). Contained resources are not resources of their own:
    no compartment rows, no `_id`."""
    by_id = {
        c["id"]: c
        for c in resource.get("contained") or ()
        if isinstance(c, dict) and isinstance(c.get("id"), str) and c.get("resourceType")
    }
    if not by_id:
        return
    added = False
    for p in params_for(resource["resourceType"]).values():
        if p.type != "reference" or p.walker is None:
            continue
        for value, _ftype in p.walker(resource):
            ref = value.get("reference") if isinstance(value, dict) else value
            inner = by_id.get(ref[1:]) if isinstance(ref, str) and ref.startswith("#") else None
            if inner is None or (p.targets and inner["resourceType"] not in p.targets):
                continue
            try:
                found = extractor(inner["resourceType"])(inner)
            except KeyError:  # not a resource type (validation refuses it before a write)
                continue
            for table, inner_rows in found.items():
                if table != "compartment" and inner_rows:
                    rows.setdefault(table, []).extend(
                        (contained_key(p.key, r[0]), *r[1:]) for r in inner_rows
                    )
                    added = True
    if added:
        for table, lst in rows.items():
            if len(lst) > 1:
                rows[table] = list(dict.fromkeys(lst))


def extract_reference(resource: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """`extract` by running each parameter's walker and converter in turn: the reference
    the generated extractors are tested against."""
    refresh()
    rtype = resource["resourceType"]
    rows: Rows = {t: [] for t in _TABLES}
    compartment = rows["compartment"]
    references = rows["idx_reference"]
    present = _present(resource)
    for key, walker, convert, comps, fields in _plan(rtype):
        if fields is not None and fields.isdisjoint(present):
            continue
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
    if resource.get("contained"):
        contained_rows(resource, rows)
    return rows


def extract_params(
    resource: dict[str, Any], params: list[SearchParam]
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of only `params` (the reindex of new parameters), no compartments."""
    rows: Rows = {t: [] for t in _TABLES}
    for p in params:
        if p.walker is None or p.rtype != resource["resourceType"]:
            continue
        convert = converter_for(p)
        for value, ftype in p.walker(resource):
            convert(rows, p.key, value, ftype)
    return {t: list(dict.fromkeys(v)) for t, v in rows.items() if v}
