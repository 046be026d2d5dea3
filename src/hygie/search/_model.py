"""Element types from the base StructureDefinitions, to compile FHIRPath steps statically.

A *context* is either a type name ("HumanName") or a backbone element path
("Observation.component"). `children(context, name)` gives the JSON keys a step may read and
the FHIR type each key holds; choice elements (`value[x]`) expand to one key per type.
"""

from __future__ import annotations

from functools import cache

from hygie.fhir.definitions import bundle_resources, structure_definitions

_BACKBONE = {"BackboneElement", "Element"}
_SYSTEM_STRING = "http://hl7.org/fhirpath/System.String"


@cache
def _elements() -> dict[str, tuple[list[str], str | None]]:
    """Element path -> (type codes, contentReference target path)."""
    out: dict[str, tuple[list[str], str | None]] = {}
    for sd in structure_definitions().values():
        for el in sd.get("snapshot", {}).get("element", []):
            codes = [
                "string" if t["code"] == _SYSTEM_STRING else t["code"] for t in el.get("type", [])
            ]
            ref = el.get("contentReference")
            out[el["path"]] = (codes, ref[1:] if ref else None)
    return out


def _cap(code: str) -> str:
    return code[0].upper() + code[1:]


@cache
def children(context: str, name: str) -> tuple[tuple[str, str, str], ...]:
    """(json key, fhir type, next context) for step `name` from `context`; () if unknown."""
    els = _elements()
    path = f"{context}.{name}"
    if path in els:
        codes, ref = els[path]
        if ref:
            return ((name, "BackboneElement", ref),)
        if len(codes) == 1 and codes[0] in _BACKBONE:
            return ((name, codes[0], path),)
        return tuple((name, c, c) for c in codes[:1])
    choice = f"{path}[x]"
    if choice in els:
        return tuple((name + _cap(c), c, c) for c in els[choice][0])
    return ()


def is_known_type(name: str) -> bool:
    return name in structure_definitions()


@cache
def _value_set_systems() -> dict[str, str]:
    """ValueSet URL -> its code system, for value sets drawn from exactly one system."""
    out = {}
    for vs in bundle_resources("valuesets"):
        if vs.get("resourceType") != "ValueSet":
            continue
        includes = (vs.get("compose") or {}).get("include", [])
        systems = {inc.get("system") for inc in includes}
        if len(systems) == 1 and None not in systems and not any("valueSet" in i for i in includes):
            out[vs["url"]] = systems.pop()
    return out


@cache
def _bindings() -> dict[str, str]:
    """Element path -> the system of its required binding (for `code` elements)."""
    out = {}
    systems = _value_set_systems()
    for sd in structure_definitions().values():
        for el in sd.get("snapshot", {}).get("element", []):
            binding = el.get("binding") or {}
            if binding.get("strength") == "required" and binding.get("valueSet"):
                system = systems.get(binding["valueSet"].split("|", 1)[0])
                if system:
                    out[el["path"]] = system
    return out


def code_system(context: str, name: str) -> str | None:
    """The implicit system of a `code` element (search.html#token: codes have one)."""
    return _bindings().get(f"{context}.{name}")


@cache
def _max_one() -> frozenset[str]:
    """Element paths with max cardinality 1."""
    return frozenset(
        el["path"]
        for sd in structure_definitions().values()
        for el in sd.get("snapshot", {}).get("element", [])
        if el.get("max") == "1"
    )


def max_one(path: str) -> bool:
    return path in _max_one()
