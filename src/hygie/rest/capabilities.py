"""The CapabilityStatement (`GET /metadata`), generated from what the server really implements:
every R4 resource type with the interactions the Repository serves, the search parameters the
search engine supports, and the system-level interactions."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from hygie import __version__, search
from hygie.fhir import definitions

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system", "search-system")


def _resource_entry(rtype: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": c} for c in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
        "searchParam": params,
        "operation": [
            {
                "name": "validate",
                "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
            }
        ],
    }
    return entry


def _not_supported() -> str:
    items = "; ".join(f"`{k}`: {v}" for k, v in search.NOT_SUPPORTED.items())
    return f"Search parameters and features not supported (a search using them is a 400): {items}."


@lru_cache(maxsize=4)
def _statement_body(generation: int) -> dict[str, Any]:
    """`generation`: of the custom SearchParameters (search.registry), listed with the official
    ones; a new generation builds a new statement."""
    supported = search.supported_parameters()
    resources = [
        _resource_entry(t, supported.get(t, [])) for t in sorted(definitions.resource_types())
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "publisher": "Hygie",
        "kind": "instance",
        "software": {"name": "Hygie", "version": __version__},
        "fhirVersion": definitions.FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": _not_supported(),
                "resource": resources,
                "interaction": [{"code": c} for c in SYSTEM_INTERACTIONS],
                "searchParam": supported.get("*", []),
            }
        ],
    }


def capability_statement(base: str) -> bytes:
    # a SearchParameter created or deleted (here or by another process) changes the statement
    search.refresh_custom()
    return _statement(base, search.custom_generation())


@lru_cache(maxsize=16)
def _statement(base: str, generation: int) -> bytes:
    body = dict(_statement_body(generation))
    body["implementation"] = {"description": "Hygie FHIR R4 server", "url": base}
    return orjson.dumps(body)
