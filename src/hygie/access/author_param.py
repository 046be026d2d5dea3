"""The index the row filter needs to know a document's contained authors.

PDSm fiches name their author as a contained Practitioner (or a contained PractitionerRole
and Practitioner) carrying the IDNPS (`8` + RPPS), not as a reference to a server resource.
The author of a document still sees it when it is hidden from professionals (MASQUE_PS) or
outside their profession's document types: for the SQL filter to know that author, the
identifiers of the contained practitioners are indexed under this SearchParameter. The shared
record stores it with its own parameters before its first publication
(`services/records/search_params.py`: an unused server stays empty); writing it starts a
reindex job for the documents already there (search/reindex.py). Without it (no document
published yet) the clause matches nothing.

The filter matches every contained Practitioner's identifier (an authenticator contained in a
fiche would match too); the per-resource check (`policy.admit`, `content.contained_rpps`)
keeps the authors only, so such a document is dropped from the page rather than shown.
"""

from __future__ import annotations

from typing import Any

from hygie.search.keys import param_key

CODE = "author-identifier"
URL = "https://hygie.health/fhir/SearchParameter/access-author-identifier"
KEY = param_key("DocumentReference", CODE)
PARAMETER: dict[str, Any] = {
    "resourceType": "SearchParameter",
    "url": URL,
    "name": "AuthorIdentifier",
    "status": "active",
    "description": "Identifiers (IDNPS, RPPS) of the Practitioners contained in a document"
    " (its authors in the PDSm form), for the access policy's row filter",
    "code": CODE,
    "base": ["DocumentReference"],
    "type": "token",
    "expression": "DocumentReference.contained.where(resourceType = 'Practitioner').identifier",
}


def identifier_values(rpps: str) -> list[str]:
    """The forms an RPPS takes in a contained Practitioner's identifier."""
    return sorted({rpps, rpps[1:] if len(rpps) == 12 and rpps.startswith("8") else "8" + rpps})
