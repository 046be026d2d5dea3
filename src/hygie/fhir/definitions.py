"""Access to the vendored official FHIR R4 (4.0.1) definitions.

The files under `definitions/` are the specification's own JSON (CC0), gzip-compressed; see
`definitions/README.md`. Each bundle is loaded once, lazily, and cached for the process.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from typing import Any

import orjson

FHIR_VERSION = "4.0.1"


@cache
def load(name: str) -> dict[str, Any]:
    """Load `definitions/<name>.json.gz` (e.g. "profiles-resources")."""
    ref = resources.files("hygie.fhir").joinpath("definitions").joinpath(f"{name}.json.gz")
    with ref.open("rb") as fh:
        return orjson.loads(gzip.decompress(fh.read()))


def bundle_resources(name: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in load(name).get("entry", []) if "resource" in e]


@cache
def structure_definitions() -> dict[str, dict[str, Any]]:
    """Base StructureDefinitions of every resource and data type, by type name."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("profiles-types", "profiles-resources"):
        for res in bundle_resources(name):
            if (
                res.get("resourceType") == "StructureDefinition"
                and res.get("derivation") != "constraint"
                # the redistribution adds SubscriptionStatus from R4B (4.3.0): not an R4 type
                and res.get("fhirVersion", FHIR_VERSION) == FHIR_VERSION
            ):
                out[res["type"] if res["kind"] != "logical" else res["id"]] = res
    return out


@cache
def resource_types() -> frozenset[str]:
    """Every concrete R4 resource type (kind=resource, not abstract)."""
    return frozenset(
        name
        for name, sd in structure_definitions().items()
        if sd.get("kind") == "resource" and not sd.get("abstract")
    )


@cache
def search_parameters() -> list[dict[str, Any]]:
    """The official SearchParameter resources."""
    return [
        r
        for r in bundle_resources("search-parameters")
        if r.get("resourceType") == "SearchParameter"
    ]


@cache
def patient_compartment() -> dict[str, list[str]]:
    """Resource type -> search parameter codes that place it in the Patient compartment."""
    cd = load("compartmentdefinition-patient")
    return {r["code"]: list(r.get("param", [])) for r in cd.get("resource", []) if r.get("param")}
