"""`_summary` and `_elements` (search.html#summary, #elements): subsets of a resource, derived
from the `isSummary` and `min` flags of the R4 StructureDefinitions; subsets carry the
SUBSETTED tag (http://terminology.hl7.org/CodeSystem/v3-ObservationValue)."""

from __future__ import annotations

from functools import cache
from typing import Any

from hygie.fhir import definitions
from hygie.fhir.outcome import invalid

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
SUMMARY_MODES = ("true", "false", "text", "data", "count")
_ALWAYS = ("resourceType", "id", "meta")


@cache
def _top_level(rtype: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(summary element names, mandatory element names, choice prefixes) of a type."""
    sd = definitions.structure_definitions().get(rtype)
    summary, mandatory, choices = set(), set(), set()
    for el in (sd or {}).get("snapshot", {}).get("element", []):
        path = el["path"]
        if path.count(".") != 1:
            continue
        name = path.split(".", 1)[1]
        if name.endswith("[x]"):
            name = name[:-3]
            choices.add(name)
        if el.get("isSummary"):
            summary.add(name)
        if el.get("min", 0) > 0:
            mandatory.add(name)
    return frozenset(summary), frozenset(mandatory), frozenset(choices)


def _base_name(key: str, choices: frozenset[str]) -> str:
    key = key.lstrip("_")
    for prefix in choices:
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return prefix
    return key


def _tag(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return resource


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """Apply `_summary=true|text|data|false` to one resource."""
    if mode == "false":
        return resource
    rtype = resource.get("resourceType", "")
    summary, mandatory, choices = _top_level(rtype)
    if mode == "true":
        keep = summary | mandatory
        out = {k: v for k, v in resource.items() if k in _ALWAYS or _base_name(k, choices) in keep}
    elif mode == "text":
        out = {
            k: v
            for k, v in resource.items()
            if k in _ALWAYS or k == "text" or _base_name(k, choices) in mandatory
        }
    elif mode == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    else:
        raise invalid(
            f"_summary must be one of {', '.join(SUMMARY_MODES)}, not '{mode}'", "_summary"
        )
    return _tag(out)


def select_elements(resource: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Apply `_elements=a,b` (top-level names) to one resource; mandatory elements stay."""
    rtype = resource.get("resourceType", "")
    _, mandatory, choices = _top_level(rtype)
    wanted = {n.split(".", 1)[-1] if n.startswith(rtype + ".") else n for n in names}
    out = {
        k: v
        for k, v in resource.items()
        if k in _ALWAYS or _base_name(k, choices) in wanted or _base_name(k, choices) in mandatory
    }
    return _tag(out)


def parse_elements(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [n.strip() for n in value.split(",") if n.strip()]
