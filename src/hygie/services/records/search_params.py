"""The search parameters ITI-66/ITI-67 and PDSm use that the R4 core does not define.

Official R4 parameters already cover ITI-67 (DocumentReference: patient, status, category,
type, date, author (and its chains author.given / author.family), setting, facility, event,
related, relatesto, security-label, period, format, identifier) and most of ITI-66 (List: code,
patient, date, identifier, status, source). Added here as stored SearchParameters (indexed
like the official ones, `search/custom.py`):
- IHE MHD `List-DesignationType` and `List-SourceId` (ITI-66 `designationType`, `sourceId`);
- PDSm `isArchived` (DocumentReference, List) and Hygie's `isDeleted` (DocumentReference,
  List) for the PDSm extensions;
- Hygie's `blob` on Binary (the blob's SHA-256), to find the blobs no Binary references.
"""

from __future__ import annotations

from typing import Any

from hygie.access import author_param
from hygie.search import custom, registry
from hygie.services.records.binary import BLOB_URL
from hygie.services.records.documents import IS_ARCHIVED_URL, IS_DELETED_URL
from hygie.services.records.mhd import DESIGNATION_TYPE_URL, SOURCE_ID_URL
from hygie.store import Context, Repository


def _param(
    url: str, code: str, bases: list[str], expression: str, description: str
) -> dict[str, Any]:
    return {
        "resourceType": "SearchParameter",
        "url": url,
        "name": code,
        "status": "active",
        "description": description,
        "code": code,
        "base": bases,
        "type": "token",
        "expression": expression,
    }


def _ext(rtype: str, url: str) -> str:
    return f"{rtype}.extension.where(url='{url}').value"


PARAMETERS = [
    _param(
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/List-DesignationType",
        "designationType",
        ["List"],
        _ext("List", DESIGNATION_TYPE_URL),
        "IHE MHD ITI-66: the SubmissionSet's designationType (contentTypeCode)",
    ),
    _param(
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/List-SourceId",
        "sourceId",
        ["List"],
        _ext("List", SOURCE_ID_URL),
        "IHE MHD ITI-66: the SubmissionSet's sourceId",
    ),
    _param(
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/SearchParameter/PDSm-isArchived",
        "isArchived",
        ["DocumentReference", "List"],
        f"{_ext('DocumentReference', IS_ARCHIVED_URL)} | {_ext('List', IS_ARCHIVED_URL)}",
        "PDSm: archived fiches and submission sets",
    ),
    _param(
        "https://hygie.health/fhir/SearchParameter/binary-blob",
        "blob",
        ["Binary"],
        f"Binary.meta.extension.where(url='{BLOB_URL}').extension.where(url='sha256').value",
        "The SHA-256 name of a Binary's bytes in the blob store (blob garbage collection)",
    ),
    _param(
        "https://hygie.health/fhir/SearchParameter/records-isDeleted",
        "isDeleted",
        ["DocumentReference", "List"],
        f"{_ext('DocumentReference', IS_DELETED_URL)} | {_ext('List', IS_DELETED_URL)}",
        "PDSm logical deletion (isDeleted extension)",
    ),
    author_param.PARAMETER,  # the access policy's index of contained authors
]


def ensure_search_parameters(repo: Repository) -> None:
    """Store the parameters (conditional creates: once per database) and load them in this
    process, so that the documents written here from now on are indexed for them at write time
    (each server process does this before its own first publication)."""
    ctx = Context.system()
    for sp in PARAMETERS:
        repo.create(ctx, sp, rtype="SearchParameter", if_none_exist=f"url={sp['url']}")
    custom.refresh(force=True)


def referenced(repo: Repository, sha256: str) -> bool:
    """Whether a Binary (current version) points at this blob."""
    found = repo.search(
        Context.system(), "Binary", [("blob", sha256), ("_summary", "count")], base=""
    )
    return bool(found.get("total"))


def without_deleted(
    ctx: Context, rtype: str, params: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """A `Repository.search_defaults` hook: a logically deleted fiche is no longer returned
    (PDSm "Suppression logique": the fiche and its document leave the shared record) unless the
    search names `isDeleted` itself (`isDeleted=true` finds them, for the author's and the
    patient's history). The condition shows in the Bundle's self link."""
    if rtype != "DocumentReference":
        return params
    if any(name.split(":", 1)[0] == "isDeleted" for name, _ in params):
        return params
    if "isDeleted" not in registry.params_for(rtype):
        custom.refresh()  # registered by another process since this one loaded its parameters
        if "isDeleted" not in registry.params_for(rtype):
            return params  # no publication yet: nothing can be deleted
    return [*params, ("isDeleted:not", "true")]
