"""`Patient/[id]/$identity-status`: the one way to change an identity's status.

The change is checked against the RNIV transitions (`status.transition_problems`); when it adds
"retrieved", the server itself queries INSi and takes the INS and the INS traits from the
answer; when it removes "retrieved", the INS identifiers are kept with `use = old` (nothing is
lost). The Patient and a Provenance (who, why, from which version) are written in one
transaction; the Provenance is what issue 7's audit trail will pick up.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from hygie.fhir.outcome import FhirError
from hygie.services.identity import profile, status
from hygie.services.identity.insi import FOUND, CardData, InsiConnector
from hygie.services.identity.lookup import consistent, ins_identifier, query
from hygie.services.identity.rules import STATUS_OPERATION, ins_identifiers
from hygie.services.identity.traits import apply_to_patient, from_patient
from hygie.store import Context, Repository
from hygie.store.bundle import BundleProcessor

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


@dataclasses.dataclass(frozen=True, slots=True)
class StatusRequest:
    target: str
    reason: str | None
    document: str | None = None
    special_case: str | None = None
    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    card: CardData | None = None
    if_match: int | None = None


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _retrieve(connector: InsiConnector, patient: dict[str, Any], card: CardData | None) -> str:
    """Query INSi and write the INS and its traits into `patient`; the method code used."""
    answer = query(connector, patient, None, card)
    if answer.code != FOUND or answer.identity is None:
        raise FhirError(422, f"INSi: {answer.message}", "business-rule")
    ident = answer.identity
    if not consistent(ident.traits, from_patient(patient)):
        raise FhirError(
            422,
            "INSi: the identity found differs from the patient's traits; check"
            " the traits before retrieving the INS",
            "business-rule",
        )
    apply_to_patient(patient, ident.traits)
    kept = [
        i
        for i in patient.get("identifier") or []
        if not (isinstance(i, dict) and i.get("value") == ident.value)
    ]
    patient["identifier"] = [ins_identifier(ident.system, ident.value), *kept]
    return "CV" if card is not None else "INSI"


def _retire_ins(patient: dict[str, Any]) -> None:
    for _, ident in ins_identifiers(patient):
        ident["use"] = "old"


def change_status(
    repo: Repository,
    ctx: Context,
    connector: InsiConnector,
    pid: str,
    req: StatusRequest,
    *,
    base: str,
) -> dict[str, Any]:
    stored = repo.read(ctx, "Patient", pid)
    if req.if_match is not None and req.if_match != stored.version:
        raise FhirError(
            412, f"Patient/{pid} is at version {stored.version}, not {req.if_match}", "conflict"
        )
    patient = stored.resource()
    current = profile.status(patient) or status.PROV
    attrs_now = profile.comments(patient)
    attrs_after = (attrs_now | req.add) - req.remove
    r_now, v_now = status.criteria(current) if current in status.STATUSES else (False, False)
    target_r, target_v = (
        status.criteria(req.target) if req.target in status.STATUSES else (False, False)
    )
    method = None
    insi_ok = False
    problems = status.transition_problems(
        current,
        req.target,
        attrs_now,
        attrs_after,
        status.Evidence(req.reason, req.document, req.special_case, insi_ok=True),
    )
    if not problems and target_r and not r_now:
        method = _retrieve(connector, patient, req.card)
        insi_ok = True
    problems = status.transition_problems(
        current,
        req.target,
        attrs_now,
        attrs_after,
        status.Evidence(req.reason, req.document, req.special_case, insi_ok=insi_ok or r_now),
    )
    if problems:
        raise FhirError(
            422, f"{current} -> {req.target} refused: {'; '.join(problems)}", "business-rule"
        )
    if r_now and not target_r:
        _retire_ins(patient)
    gained_v = target_v and not v_now
    profile.set_reliability(
        patient,
        status=req.target,
        comments=attrs_after,
        method=method,
        insi_date=_today() if method else None,
        validation_mode=req.document if gained_v else None,
        validation_date=_today() if gained_v else None,
    )
    if req.target in (status.QUAL, status.RECUP):
        patient.setdefault("meta", {}).setdefault("profile", [])
        if profile.INS_PROFILE not in patient["meta"]["profile"]:
            patient["meta"]["profile"].append(profile.INS_PROFILE)
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": f"Patient/{pid}"}],
        "recorded": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "activity": {
            "coding": [{"system": DATA_OPERATION, "code": "UPDATE"}],
            "text": f"identity status {current} -> {req.target}",
        },
        "reason": [{"text": req.reason}],
        "agent": [{"who": {"display": ctx.actor}}],
        "entity": [
            {"role": "revision", "what": {"reference": f"Patient/{pid}/_history/{stored.version}"}}
        ],
    }
    op_ctx = dataclasses.replace(ctx, attributes={**ctx.attributes, STATUS_OPERATION: True})
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": patient,
                "request": {
                    "method": "PUT",
                    "url": f"Patient/{pid}",
                    "ifMatch": f'W/"{stored.version}"',
                },
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": provenance,
                "request": {"method": "POST", "url": "Provenance"},
            },
        ],
    }
    result = BundleProcessor(repo).process(op_ctx, bundle, base=base)
    prov_location = result["entry"][1]["response"]["location"]
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "return", "resource": repo.read(ctx, "Patient", pid).resource()},
            {
                "name": "provenance",
                "valueReference": {"reference": prov_location.split("/_history")[0]},
            },
        ],
    }
