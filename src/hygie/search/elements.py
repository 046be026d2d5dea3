"""`_summary` and `_elements`: subsets of a resource (search.html#summary, #elements)."""

from __future__ import annotations

from functools import cache
from typing import Any

from hygie.fhir.definitions import structure_definitions

_ALWAYS = ("resourceType", "id", "meta")
_SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}


@cache
def _summary_elements(rtype: str) -> frozenset[str]:
    sd = structure_definitions().get(rtype, {})
    names = set()
    for el in sd.get("snapshot", {}).get("element", []):
        parts = el["path"].split(".")
        if len(parts) == 2 and (el.get("isSummary") or el.get("min", 0) > 0):
            names.add(parts[1].removesuffix("[x]"))
    return frozenset(names)


@cache
def _mandatory(rtype: str) -> frozenset[str]:
    sd = structure_definitions().get(rtype, {})
    return frozenset(
        el["path"].split(".")[1].removesuffix("[x]")
        for el in sd.get("snapshot", {}).get("element", [])
        if el["path"].count(".") == 1 and el.get("min", 0) > 0
    )


def _base_name(key: str, names: frozenset[str] | set[str]) -> bool:
    if key in names:
        return True
    # choice elements: valueQuantity -> value
    return any(key.startswith(n) and key[len(n) : len(n) + 1].isupper() for n in names)


def _keep(resource: dict[str, Any], names: frozenset[str] | set[str]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k in _ALWAYS or _base_name(k, names)}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), _SUBSETTED]
    out["meta"] = meta
    return out


def subset(resource: dict[str, Any], summary: str | None, elements: list[str]) -> dict[str, Any]:
    rtype = resource.get("resourceType", "")
    if elements:
        return _keep(resource, set(elements) | _mandatory(rtype))
    if summary == "true":
        return _keep(resource, _summary_elements(rtype))
    if summary == "text":
        return _keep(resource, {"text"} | _mandatory(rtype))
    if summary == "data":
        return _keep(resource, {k for k in resource if k != "text"})
    return resource
