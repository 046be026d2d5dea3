"""An access (`store.context.Access`) as an AuditEvent in the IHE Basic Audit Log Patterns
shape (BALP, https://profiles.ihe.net/ITI/BALP/): type `rest`, subtype the interaction, action
C/R/U/D/E, outcome, agents (the user as requestor, the client application, the server),
source (this server), entities (the patient with role 1, the resource, the query in base64).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from hygie.access.content import patients_of as compartment_patients
from hygie.access.labels import ACT_REASON_SYSTEM, BREAK_THE_GLASS
from hygie.store.context import Access, Context
from hygie.store.records import format_instant

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
OBJECT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ACTION = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "search": "E",
    "history": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
}
PROFILE = {
    "C": "IHE.BasicAudit.Create",
    "R": "IHE.BasicAudit.Read",
    "U": "IHE.BasicAudit.Update",
    "D": "IHE.BasicAudit.Delete",
    "E": "IHE.BasicAudit.Query",
}
SERVER = "Device/hygie"
AUTH_SUBTYPES = {
    "login-success": ("110122", "Login"),
    "login-failure": ("110122", "Login"),
    "lockout": ("110122", "Login"),
    "token-issued": ("110122", "Login"),
    "token-revoked": ("110123", "Logout"),
}


def outcome_code(status: int) -> str:
    """AuditEvent.outcome: 0 success, 4 minor failure (the caller's), 8 serious (server)."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


_refs: dict[frozenset[str], list[str]] = {}  # patient ids -> sorted references


def patients_of(access: Access) -> list[str]:
    """Patient/… the access touched: the Patient compartments of its resources (as the search
    index and the access policy compute them, remembered per version), or the Patient itself."""
    if not access.patients and len(access.resources) == 1:  # a read: one resource
        res = access.resources[0]
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        if not isinstance(rtype, str):
            return []
        ids = compartment_patients(rtype, res)  # remembered per version
        refs = _refs.get(ids)
        if refs is None:
            if len(_refs) > 10_000:
                _refs.clear()
            refs = _refs[ids] = sorted(f"Patient/{p}" for p in ids)
        return list(refs)
    found = set(access.patients)
    for res in access.resources:
        if not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if isinstance(rtype, str):
            found.update(f"Patient/{p}" for p in compartment_patients(rtype, res))
    return sorted(found)


# Context fields kept in a record: who, through what, from where, why
_CTX_FIELDS = ("kind", "user", "client_id", "display", "source", "btg_reason", "session")


# the caller's fields of a record, per Context object (a verified token's Context is reused
# for every request made with it: auth/verify.py); the Context is kept, so its id is not reused
_by_context: dict[int, tuple[Context, dict[str, Any]]] = {}


def _context_fields(ctx: Context) -> dict[str, Any]:
    hit = _by_context.get(id(ctx))
    if hit is not None and hit[0] is ctx:
        return hit[1]
    fields = {k: getattr(ctx, k) for k in _CTX_FIELDS if getattr(ctx, k)}
    if len(_by_context) > 10_000:
        _by_context.clear()
    _by_context[id(ctx)] = (ctx, fields)
    return fields


def compact(access: Access) -> dict[str, Any]:
    """What a record keeps besides its columns (recorded, action, outcome, actor, purpose,
    patients): small, so that recording a read costs little; `render` rebuilds the AuditEvent."""
    out = dict(_context_fields(access.ctx))
    for key in ("rtype", "rid", "query", "detail"):
        value = getattr(access, key)
        if value is not None:
            out[key] = value
    return out


def render(row: tuple[Any, ...]) -> dict[str, Any]:
    """The BALP AuditEvent of a stored record (seq, recorded, action, outcome, actor, purpose,
    patients, content)."""
    seq, recorded, action, outcome, actor, purpose, patients, content = row
    data = orjson.loads(content)
    ctx = Context(actor=actor, purpose=purpose, **{k: data[k] for k in _CTX_FIELDS if k in data})
    access = Access(
        ctx,
        action,
        data.get("rtype"),
        data.get("rid"),
        int(outcome),
        query=data.get("query"),
        detail=data.get("detail"),
    )
    event = audit_event(access, int(recorded), patients.split() if patients else [])
    event["id"] = str(seq)
    return event


def audit_event(access: Access, recorded: int, patients: list[str]) -> dict[str, Any]:
    ctx = access.ctx
    action = ACTION.get(access.action, "E")
    subtype = access.action if access.action in ACTION else "operation"
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "meta": {"profile": [BALP + PROFILE[action]]},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "Restful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": subtype}],
        "action": action,
    }
    if access.action in AUTH_SUBTYPES:  # DICOM "User Authentication" (110114)
        event["type"] = {"system": DCM, "code": "110114", "display": "User Authentication"}
        code, display = AUTH_SUBTYPES[access.action]
        event["subtype"] = [{"system": DCM, "code": code, "display": display}]
        del event["meta"]  # BALP profiles cover REST interactions, not logins
        event["subtype"].append({"system": "urn:hygie:auth-event", "code": access.action})
    event.update(
        {
            "recorded": format_instant(recorded),
            "outcome": outcome_code(access.status),
        }
    )
    if access.detail:
        event["outcomeDesc"] = access.detail
    if ctx.purpose == BREAK_THE_GLASS:
        event["purposeOfEvent"] = [
            {
                "coding": [{"system": ACT_REASON_SYSTEM, "code": BREAK_THE_GLASS}],
                "text": ctx.btg_reason or "",
            }
        ]
    event["agent"] = _agents(access)
    event["source"] = {
        "observer": {"reference": SERVER, "display": "Hygie"},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    event["entity"] = _entities(access, patients)
    return event


def _agents(access: Access) -> list[dict[str, Any]]:
    ctx = access.ctx
    user: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if ctx.user else "dataprocessor",
                }
            ]
        },
        "who": {"reference": ctx.actor, **({"display": ctx.display} if ctx.display else {})},
        "requestor": True,
    }
    if ctx.user:
        user["altId"] = ctx.user
    if ctx.purpose == BREAK_THE_GLASS:
        user["purposeOfUse"] = [
            {"coding": [{"system": ACT_REASON_SYSTEM, "code": BREAK_THE_GLASS}]}
        ]
    client: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"identifier": {"value": ctx.client_id or "hygie"}},
        "requestor": False,
    }
    if ctx.source:
        client["network"] = {"address": ctx.source, "type": "2"}
    server = {
        "type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
        "who": {"reference": SERVER},
        "requestor": False,
    }
    return [user, client, server]


def _entities(access: Access, patients: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "what": {"reference": p},
            "type": {"system": OBJECT_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
        for p in patients
    ]
    if access.rtype and access.rid:
        out.append(
            {
                "what": {"reference": f"{access.rtype}/{access.rid}"},
                "type": {"system": OBJECT_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            }
        )
    if access.query is not None:
        out.append(
            {
                "type": {"system": OBJECT_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": access.rtype or "",
                "query": base64.b64encode(access.query.encode()).decode(),
            }
        )
    return out
