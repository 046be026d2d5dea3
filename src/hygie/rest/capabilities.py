"""The CapabilityStatement (`GET /metadata`), generated from what the server really implements:
every R4 resource type with the interactions the Repository serves, the search parameters the
search engine supports, and the system-level interactions."""

from __future__ import annotations

from functools import cache
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


@cache
def _statement_body() -> dict[str, Any]:
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
                "resource": resources,
                "interaction": [{"code": c} for c in SYSTEM_INTERACTIONS],
                "searchParam": supported.get("*", []),
            }
        ],
    }


@cache
def capability_statement(base: str) -> bytes:
    body = dict(_statement_body())
    body["implementation"] = {"description": "Hygie FHIR R4 server", "url": base}
    return orjson.dumps(body)
