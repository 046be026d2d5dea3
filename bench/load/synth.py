"""Synthetic resources for the load harness: Patients (bench/data.py) with their Encounters,
Observations and DocumentReferences, grouped into transaction and batch Bundles.

Everything is deterministic for a given number. No id is ever set: the target server assigns
ids, and bench/load/seed.py reads them back from the responses. References between resources
of one transaction use `urn:uuid:` fullUrls (FHIR R4 §3.1.0.2 Bundle, "Resolving references
in Bundles"); the server rewrites them to the ids it assigns.
"""

from __future__ import annotations

import base64
import random
import uuid
from typing import Any

from bench import data

IDENTIFIER_SYSTEMS = ("https://hygie.example.org/ipp", "https://hygie.example.org/mrn")
ENCOUNTER_CLASSES = [("AMB", "ambulatory"), ("IMP", "inpatient encounter"), ("VR", "virtual")]
DOC_TYPES = [
    ("11490-0", "Physician Discharge summary", "Compte rendu d'hospitalisation"),
    ("11502-2", "Laboratory report", "Compte rendu de biologie"),
    ("18748-4", "Diagnostic imaging study", "Compte rendu d'imagerie"),
]


def urn(rng: random.Random) -> str:
    return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def patient(n: int) -> dict[str, Any]:
    return data.patient(n)


def encounter(n: int, subject: str) -> dict[str, Any]:
    rng = random.Random(2_000_000 + n)
    code, display = rng.choice(ENCOUNTER_CLASSES)
    y, m, d, h = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 17)
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": code,
            "display": display,
        },
        "subject": {"reference": subject},
        "period": {
            "start": f"{y}-{m:02d}-{d:02d}T{h:02d}:00:00+01:00",
            "end": f"{y}-{m:02d}-{d:02d}T{h:02d}:30:00+01:00",
        },
    }


def observation(n: int, subject: str, enc: str | None = None) -> dict[str, Any]:
    res = data.observation(n, subject)
    if enc:
        res["encounter"] = {"reference": enc}
    return res


def document_reference(n: int, subject: str, enc: str | None = None) -> dict[str, Any]:
    rng = random.Random(3_000_000 + n)
    code, display, title = rng.choice(DOC_TYPES)
    y, m, d = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
    text = f"{title} n° {n}. Examen sans particularité. Document synthétique de test."
    res: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": subject},
        "date": f"{y}-{m:02d}-{d:02d}T10:00:00+01:00",
        "description": title,
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "language": "fr-FR",
                    "data": base64.b64encode(text.encode()).decode(),
                    "title": title,
                }
            }
        ],
    }
    if enc:
        res["context"] = {"encounter": [{"reference": enc}]}
    return res


def entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        e = {"fullUrl": full_url, **e}
    return e


def record_entries(n: int, obs: int, rng: random.Random, docs: bool = True) -> list[dict[str, Any]]:
    """One new patient's record: Patient, Encounter, `obs` Observations, and a
    DocumentReference unless `docs` is False (a server with business rules on documents,
    such as Hygie's shared-record rules, refuses these plain ones)."""
    p, e = urn(rng), urn(rng)
    out = [entry(patient(n), p), entry(encounter(n, p), e)]
    out += [entry(observation(n * 100 + k, p, e)) for k in range(obs)]
    if docs:
        out.append(entry(document_reference(n, p, e)))
    return out


def visit_entries(
    n: int, patient_ref: str, obs: int, rng: random.Random, docs: bool = True
) -> list[dict]:
    """A consultation of an existing patient: Encounter, `obs` Observations, a report."""
    e = urn(rng)
    out = [entry(encounter(n, patient_ref), e)]
    out += [entry(observation(n * 100 + k, patient_ref, e)) for k in range(obs)]
    if docs:
        out.append(entry(document_reference(n, patient_ref, e)))
    return out


def bundle(kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def transaction_of(n_entries: int, seed: int, docs: bool = True) -> dict[str, Any]:
    """A transaction of new patients' records (as record_entries), `n_entries` entries."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    k = 0
    while len(out) < n_entries:
        out += record_entries(seed * 10_000 + k, 4, rng, docs)
        k += 1
    out = out[:n_entries]
    # a cut record may have lost its DocumentReference/Observations: harmless; but an entry
    # whose Patient was cut cannot exist (Patients come first in each record)
    return bundle("transaction", out)


def import_batch(n_entries: int, seed: int, patient_ids: list[str]) -> dict[str, Any]:
    """A batch of independent creates (a batch allows no references between its entries,
    FHIR R4 §3.1.0.8.1): new Patients, and Observations of existing patients."""
    rng = random.Random(seed)
    out = []
    for k in range(n_entries):
        n = seed * 10_000 + k
        if k % 5 == 0 or not patient_ids:
            out.append(entry(patient(n)))
        else:
            out.append(entry(observation(n, f"Patient/{rng.choice(patient_ids)}")))
    return bundle("batch", out)
