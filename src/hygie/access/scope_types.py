"""The resource types a token's SMART scopes open, for the row filter (scopes.py matches one
type at a time; a system-level search or an `_include` needs the whole list)."""

from __future__ import annotations

from functools import lru_cache

from hygie.access.scopes import KIND_CONTEXTS, granting_contexts
from hygie.fhir.definitions import resource_types


@lru_cache(maxsize=1024)
def allowed_types(
    scopes: frozenset[str], kind: str, interaction: str
) -> tuple[frozenset[str], frozenset[str]]:
    """(types the scopes allow for `interaction`, those of them granted only by patient/
    scopes, hence confined to the patient in context)."""
    contexts = KIND_CONTEXTS.get(kind, frozenset())
    allowed, patient_only = set(), set()
    for rtype in resource_types():
        granted = granting_contexts(scopes, rtype, interaction) & contexts
        if granted:
            allowed.add(rtype)
            if granted == {"patient"}:
                patient_only.add(rtype)
    return frozenset(allowed), frozenset(patient_only)


@lru_cache(maxsize=1024)
def readable_types(
    scopes: frozenset[str], kind: str
) -> tuple[frozenset[str] | None, frozenset[str]]:
    """Types whose resources the caller may receive (read or search permission); None = all.
    A resource read or included must be readable; a search match needs `s` on its type (the
    coarse check)."""
    read, read_p = allowed_types(scopes, kind, "read")
    found, found_p = allowed_types(scopes, kind, "search")
    allowed = read | found
    patient_only = (read_p | found_p) - ((read - read_p) | (found - found_p))
    if allowed >= frozenset(resource_types()):
        return None, frozenset(patient_only)
    return frozenset(allowed), frozenset(patient_only)
