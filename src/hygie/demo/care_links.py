"""The demo accounts' place in the demo population, so that logging in shows something.

* The demo professionals (dr.martin, inf.bernard, ph.petit) form the care team of the first
  generated patients (a CareTeam each) and of the two demo patients: the access policy's care
  relationship lets them read those records, and only those.
* The demo patient (Camille Dupont) and the demo child (Léo Leroy, whose mother holds the
  representative account) get a small record: a consultation with dr.martin, measurements, a
  diagnosis and a prescription; the child's vaccinations of the French calendar.

Idempotent: every resource has a fixed id (`demo-…`), written as an update (unchanged content
makes no new version). Synthetic data only.
"""

from __future__ import annotations

from typing import Any

from hygie.store import Context, Repository

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CIM10 = "http://hl7.org/fhir/sid/icd-10"
CIS = "urn:oid:1.2.250.1.213.2.3.1"  # ANS: code CIS of the French drug database
CVX = "http://hl7.org/fhir/sid/cvx"
CARE_TEAM_SIZE = 25  # generated patients in the demo professionals' care


def link_demo_care(
    repo: Repository, professionals: list[str], patient: str | None, child: str | None
) -> int:
    """Care teams and the demo patients' records; returns the number of resources written."""
    system = Context.system()
    own = [p for p in (patient, child) if p]
    found = repo.search(
        system, "Patient", [("_count", str(CARE_TEAM_SIZE + 2)), ("_sort", "_id")], base=""
    )
    others = [f"Patient/{e['resource']['id']}" for e in found.get("entry", [])]
    patients = [p for p in others if p not in own][:CARE_TEAM_SIZE] + own
    resources = [care_team(p, professionals) for p in patients]
    gp = professionals[0] if professionals else None
    if patient and gp:
        resources += adult_record(patient, gp)
    if child and gp:
        resources += child_record(child, gp)
    for res in resources:
        repo.update(system, res["resourceType"], res["id"], res)
    return len(resources)


def _id(ref: str) -> str:
    return ref.split("/", 1)[1]


def care_team(patient: str, professionals: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "id": f"demo-care-{_id(patient)}",
        "status": "active",
        "name": "Équipe de soins de démonstration",
        "subject": {"reference": patient},
        "participant": [{"member": {"reference": p}} for p in professionals],
    }


def _encounter(rid: str, patient: str, gp: str, day: str, reason: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "subject": {"reference": patient},
        "participant": [{"individual": {"reference": gp}}],
        "period": {"start": f"{day}T09:00:00+01:00", "end": f"{day}T09:20:00+01:00"},
        "reasonCode": [{"text": reason}],
    }


def _quantity(
    rid: str, patient: str, enc: str, code: str, display: str, value: float, unit: str, day: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": patient},
        "encounter": {"reference": enc},
        "effectiveDateTime": f"{day}T09:10:00+01:00",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def adult_record(patient: str, gp: str) -> list[dict[str, Any]]:
    p, day = _id(patient), "2026-10-02"
    enc = f"Encounter/demo-{p}-enc"
    return [
        _encounter(f"demo-{p}-enc", patient, gp, day, "Suivi de tension artérielle"),
        _quantity(f"demo-{p}-weight", patient, enc, "29463-7", "Body weight", 64.5, "kg", day),
        _quantity(f"demo-{p}-sys", patient, enc, "8480-6", "Systolic BP", 148, "mm[Hg]", day),
        _quantity(f"demo-{p}-dia", patient, enc, "8462-4", "Diastolic BP", 92, "mm[Hg]", day),
        {
            "resourceType": "Condition",
            "id": f"demo-{p}-htn",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {
                "coding": [{"system": CIM10, "code": "I10", "display": "Hypertension essentielle"}]
            },
            "subject": {"reference": patient},
            "encounter": {"reference": enc},
            "recordedDate": day,
            "recorder": {"reference": gp},
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"demo-{p}-rx",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Amlodipine 5 mg, comprimé"},
            "subject": {"reference": patient},
            "encounter": {"reference": enc},
            "authoredOn": day,
            "requester": {"reference": gp},
            "dosageInstruction": [{"text": "1 comprimé le matin pendant 3 mois"}],
        },
    ]


def child_record(child: str, gp: str) -> list[dict[str, Any]]:
    c, day = _id(child), "2026-09-15"
    enc = f"Encounter/demo-{c}-enc"
    out: list[dict[str, Any]] = [
        _encounter(f"demo-{c}-enc", child, gp, day, "Examen de santé de l'enfant (8 ans)"),
        _quantity(f"demo-{c}-weight", child, enc, "29463-7", "Body weight", 26.0, "kg", day),
        _quantity(f"demo-{c}-height", child, enc, "8302-2", "Body height", 128, "cm", day),
    ]
    # the French calendar's first doses (hexavalent at 2 and 4 months, MMR at 12 months)
    for k, (when, cvx, text) in enumerate(
        [
            ("2018-08-02", "146", "Hexavalent DTCaP-Hib-HepB, 1re dose"),
            ("2018-10-02", "146", "Hexavalent DTCaP-Hib-HepB, 2e dose"),
            ("2019-06-03", "03", "ROR (rougeole, oreillons, rubéole), 1re dose"),
        ]
    ):
        out.append(
            {
                "resourceType": "Immunization",
                "id": f"demo-{c}-vac{k}",
                "status": "completed",
                "vaccineCode": {"coding": [{"system": CVX, "code": cvx}], "text": text},
                "patient": {"reference": child},
                "occurrenceDateTime": when,
                "performer": [{"actor": {"reference": gp}}],
            }
        )
    return out
