"""A small synthetic world for the access tests: patients with different oppositions, a care
team, documents of two types under each visibility label, and the callers (roles), with the
rules restated independently (`expected`) from docs/access.md, not from the policy's code."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from hygie.access.labels import (
    ACT_REASON_SYSTEM,
    DMP_VISIBILITY_SYSTEM,
    INVISIBLE_PATIENT,
    INVISIBLE_REP_LEGAUX,
    MASQUE_PS,
)
from hygie.store import Context, Repository

LAB, CONSULT = "11502-2", "11488-4"
LABELS = (None, MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX)
# patient id -> (opposed by name, opposed to all, opposed to BTG)
PATIENTS = {
    "pa": (frozenset(), False, False),  # adult, no opposition
    "pm": (frozenset(), False, False),  # a minor
    "pg": (frozenset({"gp1"}), False, False),  # opposed the GP by name
    "pall": (frozenset(), True, False),  # opposed every professional
    "pbtg": (frozenset(), False, True),  # opposed break-the-glass
    "po": (frozenset(), False, False),  # another patient, treated by gp2 only
}
TEAM = {pid: {"gp1", "n1", "ph1", "o1"} for pid in PATIENTS if pid != "po"}
TEAM["po"] = {"gp2"}
PROFESSION = {"gp1": "10", "gp2": "10", "gp3": "10", "n1": "60", "ph1": "21", "o1": "86"}
MATRIX = {"10": None, "60": {LAB}, "21": {LAB}, "86": set()}  # the defaults, for these two types
SENSITIVE = {"DocumentReference", "Binary", "MedicationRequest"}


@dataclass(frozen=True)
class Res:
    rtype: str
    id: str
    patient: str
    labels: frozenset[str] = frozenset()
    doc_type: str | None = None
    author: str | None = None
    doc: Res | None = None  # a Binary's DocumentReference


@dataclass
class Role:
    name: str
    ctx: Context
    expect: dict = field(default_factory=dict)


def _coding(system: str, code: str) -> dict:
    return {"system": system, "code": code}


def build(repo: Repository) -> list[Res]:
    system = Context.system()
    out: list[Res] = []

    def put(resource: dict) -> None:
        repo.update(system, resource["resourceType"], resource["id"], resource)

    for pid, (named, everyone, btg) in PATIENTS.items():
        put({"resourceType": "Patient", "id": pid, "name": [{"family": f"Test-{pid}"}]})
        out.append(Res("Patient", pid, pid))
        put(
            {
                "resourceType": "CareTeam",
                "id": f"ct-{pid}",
                "status": "active",
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [
                    {"member": {"reference": f"Practitioner/{m}"}} for m in sorted(TEAM[pid])
                ],
            }
        )
        deny: list[dict] = [{"actor": [_actor(n)]} for n in sorted(named)]
        if everyone:
            deny.append({})
        if btg:
            deny.append({"purpose": [_coding(ACT_REASON_SYSTEM, "BTG")]})
        for n, provision in enumerate(deny):
            put(_consent(f"c-{pid}-{n}", pid, provision))
        put(
            {
                "resourceType": "Observation",
                "id": f"obs-{pid}",
                "status": "final",
                "code": {"coding": [_coding("http://loinc.org", "8867-4")]},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
        out.append(Res("Observation", f"obs-{pid}", pid))
        put(
            {
                "resourceType": "MedicationRequest",
                "id": f"mr-{pid}",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "paracétamol"},
                "subject": {"reference": f"Patient/{pid}"},
            }
        )
        out.append(Res("MedicationRequest", f"mr-{pid}", pid))
        docs = [(t, lab, "auth") for t in (LAB, CONSULT) for lab in LABELS]
        docs.append((CONSULT, MASQUE_PS, "gp1"))  # masked, but gp1 wrote it
        for n, (doc_type, label, author) in enumerate(docs):
            did = f"doc-{pid}-{n}"
            labels = frozenset({label}) if label else frozenset()
            put(_document(did, pid, doc_type, label, author))
            doc = Res("DocumentReference", did, pid, labels, doc_type, author)
            out.append(doc)
            put(
                {
                    "resourceType": "Binary",
                    "id": f"bin-{pid}-{n}",
                    "contentType": "text/plain",
                    "securityContext": {"reference": f"DocumentReference/{did}"},
                    "data": base64.b64encode(b"compte rendu").decode(),
                }
            )
            out.append(Res("Binary", f"bin-{pid}-{n}", pid, labels, doc_type, author, doc))
    return out


def _actor(practitioner: str) -> dict:
    return {
        "role": {
            "coding": [
                _coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP")
            ]
        },
        "reference": {"reference": f"Practitioner/{practitioner}"},
    }


def _consent(cid: str, pid: str, provision: dict) -> dict:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {
            "coding": [
                _coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")
            ]
        },
        "category": [{"coding": [_coding("http://loinc.org", "59284-0")]}],
        "patient": {"reference": f"Patient/{pid}"},
        "policyRule": {"text": "opposition DMP"},
        "provision": {"type": "deny", **provision},
    }


def _document(did: str, pid: str, doc_type: str, label: str | None, author: str) -> dict:
    doc: dict = {
        "resourceType": "DocumentReference",
        "id": did,
        "status": "current",
        "type": {"coding": [_coding("http://loinc.org", doc_type)]},
        "subject": {"reference": f"Patient/{pid}"},
        "author": [{"reference": f"Practitioner/{author}"}],
        "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{did}"}}],
    }
    if label:
        doc["securityLabel"] = [{"coding": [_coding(DMP_VISIBILITY_SYSTEM, label)]}]
    return doc


def _pro(pid: str, **kw: object) -> Context:
    return Context(
        actor=f"Practitioner/{pid}",
        kind="practitioner",
        scopes=frozenset({"user/*.cruds"}),
        profession=PROFESSION[pid],
        auth_level=kw.pop("auth_level", "mfa"),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def roles() -> list[Role]:
    return [
        Role("gp in team", _pro("gp1")),
        Role("gp in team, one factor", _pro("gp1", auth_level="password")),
        Role("gp not in team", _pro("gp2")),
        Role("nurse", _pro("n1")),
        Role("pharmacist", _pro("ph1")),
        Role("other profession", _pro("o1")),
        Role("btg practitioner", _pro("gp3", purpose="BTG", btg_reason="patient inconscient")),
        Role(
            "patient",
            Context(
                actor="Patient/pa",
                kind="patient",
                scopes=frozenset({"patient/*.rs"}),
                patient="Patient/pa",
            ),
        ),
        Role(
            "other patient",
            Context(
                actor="Patient/po",
                kind="patient",
                scopes=frozenset({"patient/*.rs"}),
                patient="Patient/po",
            ),
        ),
        Role(
            "representative of the minor",
            Context(
                actor="RelatedPerson/rp1",
                kind="representative",
                scopes=frozenset({"user/*.rs"}),
                represented=frozenset({"Patient/pm"}),
            ),
        ),
        Role(
            "representative of another",
            Context(
                actor="RelatedPerson/rp2",
                kind="representative",
                scopes=frozenset({"user/*.rs"}),
                represented=frozenset({"Patient/po"}),
            ),
        ),
        Role(
            "system client, Observation only",
            Context(
                actor="Device/lab",
                kind="client",
                scopes=frozenset({"system/Observation.rs"}),
                client_id="lab",
            ),
        ),
    ]


def expected(ctx: Context, res: Res) -> bool:
    """The rules of docs/access.md, restated."""
    if ctx.kind == "client":
        return res.rtype == "Observation"
    if res.rtype == "Binary":
        assert res.doc is not None
        return expected(ctx, res.doc)
    if ctx.kind == "patient":
        return f"Patient/{res.patient}" == ctx.patient and INVISIBLE_PATIENT not in res.labels
    if ctx.kind == "representative":
        hidden = {INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX}
        return f"Patient/{res.patient}" in ctx.represented and not hidden & res.labels
    me = ctx.actor.removeprefix("Practitioner/")
    if res.rtype in SENSITIVE and ctx.auth_level != "mfa":
        return False
    if res.rtype == "Patient":
        return True  # identities: needed to establish a care relationship
    named, everyone, btg_opposed = PATIENTS[res.patient]
    if me in named:
        return False
    in_team = me in TEAM[res.patient] and not everyone
    by_btg = ctx.purpose == "BTG" and not btg_opposed
    if not (in_team or by_btg):
        return False
    author = res.author == me
    if MASQUE_PS in res.labels and not author:
        return False
    if res.rtype == "DocumentReference" and not author:
        allowed = MATRIX[PROFESSION[me]]
        return allowed is None or res.doc_type in allowed
    return True
