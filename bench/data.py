"""Deterministic synthetic FHIR resources for the benchmarks (French-looking, local identifiers
only: no INS/NIR, which the identity service accepts only with a qualified identity status).

A Patient serialises to about 600 bytes of compact JSON, the size the HTTP ceiling serves.
"""

from __future__ import annotations

import random
from typing import Any

from hygie.demo.names import FAMILY

FAMILIES = list(FAMILY[:24])  # the demo population's names (hygie.demo.names)
GIVEN_F = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Zoé", "Émma", "Anaïs"]
GIVEN_M = ["Lucas", "Hugo", "Louis", "Gabriel", "Jules", "Arthur", "Raphaël", "Noé", "Théo"]
CITIES = [
    ("Paris", "75012"),
    ("Lyon", "69003"),
    ("Marseille", "13005"),
    ("Lille", "59000"),
    ("Bordeaux", "33000"),
    ("Nantes", "44000"),
    ("Ajaccio", "20000"),
    ("Rennes", "35000"),
]
STREETS = [
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "place de la Mairie",
    "chemin des Vignes",
]
LOINC = [
    ("8867-4", "Heart rate", "/min", "/min", 50, 110),
    ("8310-5", "Body temperature", "Cel", "°C", 36, 40),
    ("29463-7", "Body weight", "kg", "kg", 3, 120),
    ("2339-0", "Glucose [Mass/volume] in Blood", "g/L", "g/L", 0.6, 2.0),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg", 90, 180),
]


def patient(i: int, rid: str | None = None, rng: random.Random | None = None) -> dict[str, Any]:
    rng = rng or random.Random(i)
    female = rng.random() < 0.5
    family = rng.choice(FAMILIES)
    city, postcode = rng.choice(CITIES)
    year, month, day = rng.randint(1930, 2020), rng.randint(1, 12), rng.randint(1, 28)
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "https://hygie.example.org/ipp", "value": f"IPP-{year}-{i:09d}"},
            {"system": "https://hygie.example.org/mrn", "value": f"MRN{i:08d}"},
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": family,
                "given": [rng.choice(GIVEN_F if female else GIVEN_M)],
            }
        ],
        "telecom": [
            {
                "system": "phone",
                "value": f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)}"
                f" {rng.randint(10, 99)} {rng.randint(10, 99)}",
                "use": "mobile",
            },
            {"system": "email", "value": f"patient{i}@exemple.fr"},
        ],
        "gender": "female" if female else "male",
        "birthDate": f"{year}-{month:02d}-{day:02d}",
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randint(1, 200)} {rng.choice(STREETS)}"],
                "city": city,
                "postalCode": postcode,
                "country": "FR",
            }
        ],
    }
    if rid is not None:
        res = {
            "resourceType": "Patient",
            "id": rid,
            **{k: v for k, v in res.items() if k != "resourceType"},
        }
    return res


def observation(i: int, patient_ref: str, rid: str | None = None) -> dict[str, Any]:
    rng = random.Random(1_000_000 + i)
    code, text, ucum, unit, lo, hi = rng.choice(LOINC)
    res: dict[str, Any] = {"resourceType": "Observation"}
    if rid is not None:
        res["id"] = rid
    res.update(
        {
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs" if i % 2 else "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": text}]},
            "subject": {"reference": patient_ref},
            "effectiveDateTime": f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00+01:00",
            "valueQuantity": {
                "value": round(rng.uniform(lo, hi), 1),
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": ucum,
            },
        }
    )
    return res


def import_set(patients: int, obs_per_patient: int) -> list[dict[str, Any]]:
    """Each Patient (client id) followed by its Observations; `hygie import` reads them from
    one NDJSON file per type, as an export writes them."""
    out: list[dict[str, Any]] = []
    for i in range(patients):
        out.append(patient(i, rid=f"pat-{i}"))
        for j in range(obs_per_patient):
            n = i * obs_per_patient + j
            out.append(observation(n, f"Patient/pat-{i}", rid=f"obs-{n}"))
    return out


def transaction_bundle(seed: int, entries: int = 100, patients: int = 20) -> dict[str, Any]:
    """A transaction of `patients` new Patients and observations pointing at them (urn:uuid)."""
    rng = random.Random(seed)
    out = []
    urns = []
    for k in range(patients):
        urn = f"urn:uuid:{rng.getrandbits(128):032x}"
        urn = f"urn:uuid:{urn[9:17]}-{urn[17:21]}-4{urn[22:25]}-a{urn[26:29]}-{urn[29:41]}"
        urns.append(urn)
        out.append(
            {
                "fullUrl": urn,
                "resource": patient(seed * 1000 + k),
                "request": {"method": "POST", "url": "Patient"},
            }
        )
    for k in range(entries - patients):
        out.append(
            {
                "resource": observation(seed * 1000 + k, urns[k % patients]),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}
