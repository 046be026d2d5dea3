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
from hygie.search.paths import Walker, compile_expression

RESOURCE_COLUMNS = {"_id", "_lastUpdated"}  # read from `resources`, not from index tables
INDEXED_TYPES = {"string", "token", "date", "number", "quantity", "reference", "uri"}


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


@cache
def params_for(rtype: str) -> dict[str, SearchParam]:
    """Every supported search parameter of `rtype`, by code (compiled on first use)."""
    comps: dict[str, set[str]] = {}
    for ctype, members in compartment_definitions().items():
        for code in members.get(rtype, ()):
            comps.setdefault(code, set()).add(ctype)
    out: dict[str, SearchParam] = {}
    for sp in _definitions().get(rtype, ()):
        code, expr = sp["code"], sp.get("expression") or ""
        if sp["type"] not in INDEXED_TYPES or not (expr or code in RESOURCE_COLUMNS):
            continue
        p = SearchParam(
            rtype=rtype,
            code=code,
            type=sp["type"],
            url=sp["url"],
            description=sp.get("description", ""),
            expression=expr,
            targets=tuple(sp.get("target", ())),
            key=param_key(rtype, code),
            compartments=frozenset(comps.get(code, ())),
        )
        if code not in RESOURCE_COLUMNS:
            p.walker, p.fast = compile_expression(expr, rtype)
            if p.walker is None:
                continue
        out[code] = p
    return out


def all_params() -> dict[str, list[dict[str, Any]]]:
    return _definitions()
