"""What the engine really supports, for the CapabilityStatement (truthfully, per type)."""

from __future__ import annotations

from typing import Any

from hygie.fhir.definitions import resource_types
from hygie.search.parse import MODIFIERS
from hygie.search.registry import params_for

RESULT_PARAMETERS = [
    "_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude", "_type",
    "_has", "_list",
]  # fmt: skip
NOT_SUPPORTED = {
    "_text": "full-text search is not supported yet",
    "_content": "full-text search is not supported yet",
    "_query": "named queries are not supported",
    "_list=$...": "functional lists ($current-allergies...) are not supported",
    "composite": "composite parameters whose first component is not a token, or with three "
    "components (MolecularSequence coordinates), are not supported",
    "special": "special parameters other than Location near are not supported",
}


def supported_parameters() -> dict[str, list[dict[str, Any]]]:
    """Resource type -> CapabilityStatement.rest.resource.searchParam entries."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rtype in sorted(resource_types()):
        out[rtype] = [
            {
                "name": p.code,
                "definition": p.url,
                "type": p.type,
                "documentation": p.description,
            }
            for p in sorted(params_for(rtype).values(), key=lambda p: p.code)
        ]
    return out


def supported_modifiers() -> dict[str, list[str]]:
    """Parameter type -> modifiers accepted (reference also takes `:[Type]`)."""
    out = {t: sorted(m) for t, m in MODIFIERS.items()}
    out["reference"] = sorted([*out["reference"], "[type]"])
    return out
