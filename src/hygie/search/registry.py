"""The search-parameter registry: every official R4 SearchParameter, per resource type.

A parameter is compiled for a resource type once (its FHIRPath parts for that type only) and
cached for the process. `_id` and `_lastUpdated` live in the `resources` table; the
parameters without an expression (`_text`, `_content`, `_query`) are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hygie.fhir.definitions import bundle_resources, resource_types, search_parameters
from hygie.search.keys import param_key
from hygie.search.paths import Walker, compile_expression, single_valued

RESOURCE_COLUMNS = {"_id", "_lastUpdated"}  # read from `resources`, not from index tables
INDEXED_TYPES = {"string", "token", "date", "number", "quantity", "reference", "uri"}
SPECIAL = {"near"}  # the special parameters implemented (search.html#special)


@dataclass(slots=True)
class SearchParam:
    rtype: str
    code: str
    type: str
    url: str
    description: str
    expression: str
    targets: tuple[str, ...]
    key: int
    walker: Walker | None = None
    fast: bool = True
    compartments: frozenset[str] = field(default_factory=frozenset)
    sub_type: str | None = None  # composite: the type of the second component
    ranges: bool = False  # quantity: values may be Ranges (low/high rows)
    single: bool = False  # at most one value per resource (from the elements' cardinality)


def _base_types(sp: dict[str, Any]) -> list[str]:
    bases = sp.get("base", [])
    if any(b in ("Resource", "DomainResource") for b in bases):
        return sorted(resource_types())
    return bases


@cache
def _definitions() -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for sp in search_parameters():
        for rtype in _base_types(sp):
            by_type.setdefault(rtype, []).append(sp)
    return by_type


@cache
def compartment_definitions() -> dict[str, dict[str, list[str]]]:
    """Compartment type -> resource type -> parameter codes placing it in the compartment."""
    out: dict[str, dict[str, list[str]]] = {}
    for cd in bundle_resources("profiles-resources"):
        if cd.get("resourceType") == "CompartmentDefinition":
            out[cd["code"]] = {
                r["code"]: list(r["param"]) for r in cd.get("resource", []) if r.get("param")
            }
    return out


_merged: dict[str, dict[str, SearchParam]] = {}


def params_for(rtype: str) -> dict[str, SearchParam]:
    """Every supported search parameter of `rtype`, official and custom (see custom.py)."""
    from hygie.search.custom import custom_params

    extra = custom_params(rtype)
    if not extra:
        return official_params(rtype)
    merged = _merged.get(rtype)
    if merged is None:
        merged = _merged[rtype] = {**official_params(rtype), **extra}
    return merged


_generation = [0]  # bumped whenever the custom parameters change (the CapabilityStatement)


def generation() -> int:
    """Changes whenever the set of custom parameters does (keys caches built from it)."""
    return _generation[0]


def custom_changed() -> None:
    from hygie.search.index import _plan

    _merged.clear()
    _plan.cache_clear()
    _generation[0] += 1


@cache
def official_params(rtype: str) -> dict[str, SearchParam]:
    """Every supported official search parameter of `rtype`, by code (compiled on first use)."""
    comps: dict[str, set[str]] = {}
    for ctype, members in compartment_definitions().items():
        for code in members.get(rtype, ()):
            comps.setdefault(code, set()).add(ctype)
    out: dict[str, SearchParam] = {}
    for sp in _definitions().get(rtype, ()):
        p = compile_param(sp, rtype, frozenset(comps.get(sp["code"], ())))
        if p is not None:
            out[p.code] = p
    return out


def compile_param(
    sp: dict[str, Any], rtype: str, compartments: frozenset[str] = frozenset()
) -> SearchParam | None:
    """A SearchParameter resource compiled for `rtype`, or None if this engine cannot index it."""
    code, expr, ptype = sp.get("code", ""), sp.get("expression") or "", sp.get("type", "")
    if code in RESOURCE_COLUMNS:
        return _param(sp, rtype, compartments)
    if not expr:
        return None
    p = _param(sp, rtype, compartments)
    if ptype in INDEXED_TYPES or (ptype == "special" and code in SPECIAL):
        p.walker, p.fast = compile_expression(expr, rtype)
        p.ranges = ptype == "quantity" and "Range" in expr
        p.single = ptype == "date" and single_valued(expr, rtype)
    elif ptype == "composite":
        from hygie.search.composite import compile_composite, component_types

        types = component_types(sp)
        p.walker = compile_composite(sp, rtype, types) if types else None
        if p.walker is not None:
            assert types is not None
            p.sub_type = types[1]
            second = sp["component"][1].get("expression", "")
            p.ranges = types[1] == "quantity" and "Range" in second
    return p if p.walker is not None else None


def _param(sp: dict[str, Any], rtype: str, compartments: frozenset[str]) -> SearchParam:
    return SearchParam(
        rtype=rtype,
        code=sp["code"],
        type=sp["type"],
        url=sp.get("url", ""),
        description=sp.get("description", ""),
        expression=sp.get("expression") or "",
        targets=tuple(sp.get("target", ())),
        key=param_key(rtype, sp["code"]),
        compartments=compartments,
    )


def all_params() -> dict[str, list[dict[str, Any]]]:
    return _definitions()
