"""What the policy reads in a resource's content: its patients (the Patient compartment, as
the search index computes it, so that the per-resource decision and the SQL filter agree), its
visibility labels, its document type and class codes, its authors."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hygie import search
from hygie.access.labels import DMP_VISIBILITY_SYSTEM
from hygie.search.registry import compartment_definitions


@lru_cache(maxsize=1)
def patient_compartment_types() -> frozenset[str]:
    """Resource types that can belong to a patient's compartment (Patient itself included)."""
    return frozenset(compartment_definitions()["Patient"]) | {"Patient"}


_known: dict[tuple[str, str, str], frozenset[str]] = {}


def patients_of(rtype: str, resource: dict[str, Any]) -> frozenset[str]:
    """Ids of the patients whose compartment holds the resource (the index's own rows).
    Remembered per stored version (type, id, versionId), which never changes."""
    if rtype not in patient_compartment_types():
        return frozenset()
    meta = resource.get("meta") or {}
    key = (rtype, resource.get("id"), meta.get("versionId"), meta.get("lastUpdated"))
    if key[1] is not None and key[2] is not None and key[3] is not None:
        hit = _known.get(key)  # type: ignore[arg-type]
        if hit is not None:
            return hit
    rows = search.extract(resource).get("compartment", ())
    found = frozenset(cid for ctype, cid in rows if ctype == "Patient")
    if key[1] is not None and key[2] is not None and key[3] is not None:
        if len(_known) > 100_000:
            _known.clear()
        _known[key] = found  # type: ignore[index]
    return found


def labels_of(resource: dict[str, Any]) -> frozenset[str]:
    """The shared record's visibility codes on meta.security and DocumentReference.securityLabel."""
    codings: list[Any] = list((resource.get("meta") or {}).get("security") or ())
    for concept in resource.get("securityLabel") or ():
        if isinstance(concept, dict):
            codings.extend(concept.get("coding") or ())
    return frozenset(
        c.get("code")
        for c in codings
        if isinstance(c, dict) and c.get("system") == DMP_VISIBILITY_SYSTEM and c.get("code")
    )


def document_codes(resource: dict[str, Any]) -> frozenset[str]:
    """DocumentReference type and category (class) codes."""
    concepts = [resource.get("type") or {}, *(resource.get("category") or ())]
    return frozenset(
        c.get("code")
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and c.get("code")
    )


def authors_of(resource: dict[str, Any]) -> frozenset[str]:
    return frozenset(
        a.get("reference")
        for a in resource.get("author") or ()
        if isinstance(a, dict) and a.get("reference")
    )


def contained_rpps(doc: dict[str, Any]) -> frozenset[str]:
    """RPPS numbers of the contained Practitioners (directly or through a contained
    PractitionerRole) the document's authors name (IDNPS `8` + RPPS accepted)."""
    contained = {
        c.get("id"): c for c in doc.get("contained") or () if isinstance(c, dict) and c.get("id")
    }
    found = set()
    for ref in authors_of(doc):
        res = contained.get(ref[1:]) if ref.startswith("#") else None
        if res and res.get("resourceType") == "PractitionerRole":
            inner = reference_of(res.get("practitioner")) or ""
            res = contained.get(inner[1:]) if inner.startswith("#") else None
        if res and res.get("resourceType") == "Practitioner":
            for ident in res.get("identifier") or ():
                value = (ident or {}).get("value")
                if isinstance(value, str):
                    found.add(value[1:] if len(value) == 12 and value.startswith("8") else value)
    return frozenset(found)


def reference_of(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return value["reference"]
    return None
