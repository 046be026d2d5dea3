"""A deterministic synthetic population for the search benchmarks: per 10 resources, one
Patient (French names, local identifier, birth date, general practitioner), two Encounters
and seven Observations (LOINC vital signs, effective date, value) referencing it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from hygie.demo.names import FAMILY

FAMILIES = [*FAMILY[:24], "De La Fontaine", "Le Gall", "Hélie", "Bonnet", "Dupont", "Lambert"]
GIVEN = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Jade",
    "Louise",
    "Zoé",
    "Hélène",
    "Anaïs",
    "Lucas",
    "Hugo",
    "Louis",
    "Gabriel",
    "Jules",
    "Arthur",
    "Raphaël",
    "Noé",
    "Théo",
    "Élodie",
]
LOINC = [
    ("8867-4", "/min", 50, 110),
    ("8310-5", "Cel", 36, 40),
    ("29463-7", "kg", 3, 120),
    ("8302-2", "cm", 45, 200),
    ("8480-6", "mm[Hg]", 90, 180),
    ("8462-4", "mm[Hg]", 50, 110),
    ("2339-0", "mg/dL", 60, 200),
    ("59408-5", "%", 85, 100),
]
RARE_CODE = ("76536-2", "mm[Hg]", 90, 180)  # one observation in 500
PRACTITIONERS = 200
ORGANIZATIONS = 50
START = date(2020, 1, 1)
Resource = dict[str, Any]


def directory() -> Iterator[Resource]:
    for i in range(ORGANIZATIONS):
        yield {"resourceType": "Organization", "id": f"org{i}", "name": f"Centre hospitalier {i}"}
    for i in range(PRACTITIONERS):
        rng = random.Random(i)
        yield {
            "resourceType": "Practitioner",
            "id": f"pr{i}",
            "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
        }


def population(total: int, seed: int = 7) -> Iterator[Resource]:
    """About `total` resources (directory included), in batches' order of writing."""
    yield from directory()
    for n in range(max(1, (total - ORGANIZATIONS - PRACTITIONERS) // 10)):
        yield from _patient_record(random.Random(seed * 1_000_003 + n), n)


def _patient_record(rng: random.Random, n: int) -> Iterator[Resource]:
    pid = f"pat{n}"
    born = START - timedelta(days=rng.randrange(365 * 90))
    yield {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:1.2.250.1.999.1", "value": f"P{n:08d}"}],
        "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": born.isoformat(),
        "generalPractitioner": [{"reference": f"Practitioner/pr{rng.randrange(PRACTITIONERS)}"}],
        "managingOrganization": {"reference": f"Organization/org{rng.randrange(ORGANIZATIONS)}"},
    }
    for k in range(2):
        day = START + timedelta(days=rng.randrange(365 * 5))
        eid = f"enc{n}-{k}"
        yield {
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"},
            "serviceProvider": {"reference": f"Organization/org{rng.randrange(ORGANIZATIONS)}"},
            "period": {
                "start": f"{day.isoformat()}T09:00:00+01:00",
                "end": f"{day.isoformat()}T10:00:00+01:00",
            },
        }
        for j in range(3 + k):
            yield _observation(rng, n, k, j, day, pid, eid)


def _observation(
    rng: random.Random, n: int, k: int, j: int, day: date, pid: str, eid: str
) -> Resource:
    code, unit, lo, hi = RARE_CODE if rng.randrange(500) == 0 else rng.choice(LOINC)
    minute = rng.randrange(24 * 60)
    return {
        "resourceType": "Observation",
        "id": f"obs{n}-{k}-{j}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{eid}"},
        "effectiveDateTime": f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00Z",
        "valueQuantity": {
            "value": round(rng.uniform(lo, hi), 1),
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }
