"""Merge two identities of one person, and undo it.

`merge(source -> target)` in ONE transaction: every resource of the source's compartment that
points to the source is rewritten to point to the target (each keeps its previous version in
history), the source becomes inactive with a `replaced-by` link and the comments DOUA
(confirmed duplicate) and DESA (deactivated), the target gets a `replaces` link, and a
Provenance (activity ISO 21089 `merge`) records who, why, and exactly which resources moved.
The source's link carries a reference to that Provenance, which is what `unmerge` replays
backwards (again in one transaction, with its own Provenance `unmerge`). Provenance and
AuditEvent resources are never rewritten: the record of what happened stays as it happened.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hygie.fhir.outcome import FhirError
from hygie.services.identity import profile, status
from hygie.services.identity.paging import each
from hygie.store import Context, Repository
from hygie.store.bundle import BundleProcessor

LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
MERGE_PROVENANCE_URL = "https://hygie.example.org/fhir/StructureDefinition/merge-provenance"
CONFIRMED_DUPLICATE, DEACTIVATED = "DOUA", "DESA"
NEVER_MOVED = frozenset({"Provenance", "AuditEvent"})


def _rewrite(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and (v == old or v.endswith("/" + old)):
                out[k] = v[: len(v) - len(old)] + new
            else:
                out[k] = _rewrite(v, old, new)
        return out
    if isinstance(node, list):
        return [_rewrite(v, old, new) for v in node]
    return node


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _put(resource: dict[str, Any], version: int) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": url, "ifMatch": f'W/"{version}"'},
    }


def _provenance(
    ctx: Context, activity: str, reason: str, targets: list[str], entities: list[str]
) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": _now(),
        "activity": {"coding": [{"system": LIFECYCLE, "code": activity}]},
        "reason": [{"text": reason}],
        "agent": [{"who": {"display": ctx.actor}}],
        "entity": [{"role": "source", "what": {"reference": e}} for e in entities],
    }


def _require_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise FhirError(400, "a merge or unmerge needs a reason (parameter 'reason')", "required")
    return reason


def merge(
    repo: Repository, ctx: Context, source_id: str, target_id: str, reason: str | None, *, base: str
) -> dict[str, Any]:
    reason = _require_reason(reason)
    if source_id == target_id:
        raise FhirError(422, "a patient cannot be merged into itself", "business-rule")
    source_s = repo.read(ctx, "Patient", source_id)
    target_s = repo.read(ctx, "Patient", target_id)
    source, target = source_s.resource(), target_s.resource()
    for p, role in ((source, "source"), (target, "target")):
        if any(link.get("type") == "replaced-by" for link in p.get("link") or []):
            raise FhirError(
                422, f"the {role} Patient/{p['id']} is already merged into another", "business-rule"
            )
    old, new = f"Patient/{source_id}", f"Patient/{target_id}"
    entries, moved = [], []
    for res in each(
        repo, ctx, None, [("_count", "500")], base=base, compartment=("Patient", source_id)
    ):
        if res["resourceType"] in NEVER_MOVED or res["resourceType"] == "Patient":
            continue
        rewritten = _rewrite(res, old, new)
        if rewritten != res:
            entries.append(_put(rewritten, int(res["meta"]["versionId"])))
            moved.append(f"{res['resourceType']}/{res['id']}")
    prov_url = f"urn:uuid:{uuid.uuid4()}"
    source["active"] = False
    source.setdefault("link", []).append(
        {
            "extension": [{"url": MERGE_PROVENANCE_URL, "valueReference": {"reference": prov_url}}],
            "other": {"reference": new},
            "type": "replaced-by",
        }
    )
    profile.set_reliability(
        source,
        status=profile.status(source) or status.PROV,
        comments=profile.comments(source) | {CONFIRMED_DUPLICATE, DEACTIVATED},
    )
    target.setdefault("link", []).append({"other": {"reference": old}, "type": "replaces"})
    prov = _provenance(
        ctx,
        "merge",
        reason,
        [old, new, *moved],
        [f"{old}/_history/{source_s.version}", f"{new}/_history/{target_s.version}"],
    )
    entries += [
        _put(source, source_s.version),
        _put(target, target_s.version),
        {"fullUrl": prov_url, "resource": prov, "request": {"method": "POST", "url": "Provenance"}},
    ]
    result = BundleProcessor(repo).process(
        ctx, {"resourceType": "Bundle", "type": "transaction", "entry": entries}, base=base
    )
    return _outcome(result, len(moved), "merged")


def unmerge(
    repo: Repository, ctx: Context, source_id: str, reason: str | None, *, base: str
) -> dict[str, Any]:
    reason = _require_reason(reason)
    source_s = repo.read(ctx, "Patient", source_id)
    source = source_s.resource()
    link = next((lk for lk in source.get("link") or [] if lk.get("type") == "replaced-by"), None)
    prov_ref = next(
        (
            e.get("valueReference", {}).get("reference")
            for e in (link or {}).get("extension") or []
            if e.get("url") == MERGE_PROVENANCE_URL
        ),
        None,
    )
    if link is None or not prov_ref:
        raise FhirError(
            422, f"Patient/{source_id} was not merged by Hygie: nothing to undo", "business-rule"
        )
    target_ref = link["other"]["reference"]
    target_id = target_ref.split("/")[-1]
    old, new = f"Patient/{target_id}", f"Patient/{source_id}"
    prov = repo.read(ctx, "Provenance", prov_ref.split("/")[-1]).resource()
    entries = []
    for t in prov.get("target") or []:
        ref = t.get("reference", "")
        if ref in (old, new):
            continue
        rtype, _, rid = ref.partition("/")
        try:
            current = repo.read(ctx, rtype, rid)
        except FhirError:
            continue  # deleted since the merge: nothing to move back
        entries.append(_put(_rewrite(current.resource(), old, new), current.version))
    source["active"] = True
    source["link"] = [lk for lk in source["link"] if lk is not link]
    if not source["link"]:
        del source["link"]
    profile.set_reliability(
        source,
        status=profile.status(source) or status.PROV,
        comments=profile.comments(source) - {CONFIRMED_DUPLICATE, DEACTIVATED},
    )
    target_s = repo.read(ctx, "Patient", target_id)
    target = target_s.resource()
    target["link"] = [
        lk
        for lk in target.get("link") or []
        if not (lk.get("type") == "replaces" and lk["other"].get("reference") == new)
    ]
    if not target["link"]:
        del target["link"]
    moved = [e["request"]["url"] for e in entries]
    entries += [
        _put(source, source_s.version),
        _put(target, target_s.version),
        {
            "resource": _provenance(
                ctx, "unmerge", reason, [new, old, *moved], [f"Provenance/{prov['id']}"]
            ),
            "request": {"method": "POST", "url": "Provenance"},
        },
    ]
    result = BundleProcessor(repo).process(
        ctx, {"resourceType": "Bundle", "type": "transaction", "entry": entries}, base=base
    )
    return _outcome(result, len(moved), "unmerged")


def _outcome(result: dict[str, Any], moved: int, what: str) -> dict[str, Any]:
    location = result["entry"][-1]["response"]["location"]
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "outcome", "valueString": f"{what}; {moved} resources moved"},
            {"name": "moved", "valueInteger": moved},
            {"name": "provenance", "valueReference": {"reference": location.split("/_history")[0]}},
        ],
    }
