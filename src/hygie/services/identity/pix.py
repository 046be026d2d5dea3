"""IHE PIXm (ITI-83) `$ihe-pix`: the identifiers one patient has in other domains.

`Patient/$ihe-pix?sourceIdentifier=system|value[&targetSystem=…]` finds the patients holding
the source identifier, follows their `Patient.link` (merged or related records, one hop) and
answers a Parameters of `targetIdentifier` and `targetId`. `Patient/[id]/$ihe-pix` starts from
one patient. Errors per ITI-83 §2:3.83.4.2.3: an unknown source identifier is 404; a target
system no patient is known in is 403.
"""

from __future__ import annotations

from typing import Any

from hygie.fhir.outcome import FhirError
from hygie.services.identity.paging import each
from hygie.store import Context, Repository

MAX_PATIENTS = 100


def _linked(repo: Repository, ctx: Context, patients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {p["id"]: p for p in patients}
    for p in list(patients):
        for link in p.get("link") or []:
            ref = (link.get("other") or {}).get("reference") or ""
            if ref.startswith("Patient/") and ref[8:] not in seen:
                try:
                    seen[ref[8:]] = repo.read(ctx, "Patient", ref[8:]).resource()
                except FhirError:
                    continue
    return list(seen.values())


def _known_system(repo: Repository, ctx: Context, system: str, base: str) -> bool:
    found = repo.search(ctx, "Patient", [("identifier", f"{system}|"), ("_count", "1")], base=base)
    return bool(found.get("entry"))


def cross_references(
    repo: Repository,
    ctx: Context,
    *,
    base: str,
    source: str | None = None,
    pid: str | None = None,
    targets: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    if pid is not None:
        patients = [repo.read(ctx, "Patient", pid).resource()]
        source_pair = None
    else:
        if not source or "|" not in source:
            raise FhirError(400, "sourceIdentifier must be system|value", "required")
        system, _, value = source.partition("|")
        source_pair = (system, value)
        patients = list(
            each(repo, ctx, "Patient", [("identifier", source), ("_count", "50")], base=base)
        )[:MAX_PATIENTS]
        if not patients:
            raise FhirError(
                404, f"sourceIdentifier {source}: Patient Identifier not found", "not-found"
            )
    for system in targets:
        if not _known_system(repo, ctx, system, base):
            raise FhirError(403, f"targetSystem {system} is not a known domain", "code-invalid")
    params: list[dict[str, Any]] = []
    for p in _linked(repo, ctx, patients):
        for ident in p.get("identifier") or []:
            if not isinstance(ident, dict) or not ident.get("system"):
                continue
            if (ident.get("system"), ident.get("value")) == source_pair:
                continue
            if targets and ident["system"] not in targets:
                continue
            params.append({"name": "targetIdentifier", "valueIdentifier": ident})
            params.append(
                {"name": "targetId", "valueReference": {"reference": f"Patient/{p['id']}"}}
            )
    return {"resourceType": "Parameters", "parameter": params}
