"""Micro-benchmark of `hygie.fhir.validation.validate`: prints µs per call.

Run: `.venv/bin/python bench/validation_speed.py`. The definitions are compiled before timing.
"""

from __future__ import annotations

import timeit
from typing import Any

from hygie.fhir.validation import validate


def small_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "1", "lastUpdated": "2024-05-01T10:00:00Z"},
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1800175123456"}],
        "active": True,
        "name": [{"use": "official", "family": "Martin", "given": ["Camille", "Marie"]}],
        "telecom": [{"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile"}],
        "gender": "female",
        "birthDate": "1980-02-29",
        "address": [{"line": ["1 rue de la Paix"], "city": "Paris", "postalCode": "75002"}],
    }


def observation(components: int) -> dict[str, Any]:
    loinc = "http://loinc.org"
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": loinc, "code": "85354-9"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01T10:00:00+02:00",
        "component": [
            {
                "code": {"coding": [{"system": loinc, "code": f"{8000 + i}-1"}]},
                "valueQuantity": {
                    "value": 120.5 + i,
                    "unit": "mmHg",
                    "system": "http://unitsofmeasure.org",
                    "code": "mm[Hg]",
                },
            }
            for i in range(components)
        ],
    }


def bundle(entries: int) -> dict[str, Any]:
    def entry(i: int) -> dict[str, Any]:
        resource = small_patient() if i % 2 else observation(2)
        resource["id"] = f"r{i}"
        return {
            "fullUrl": f"http://example.org/fhir/{resource['resourceType']}/r{i}",
            "resource": resource,
        }

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [entry(i) for i in range(entries)],
    }


def measure(name: str, resource: dict[str, Any]) -> None:
    issues = validate(resource)  # compiles the definitions; the sample must be valid
    assert not issues, issues
    number, total = timeit.Timer(lambda: validate(resource)).autorange()
    best = min(timeit.repeat(lambda: validate(resource), number=number, repeat=5))
    print(f"{name:<32} {best / number * 1e6:10.1f} µs per validate")


def main() -> None:
    measure("Patient (small)", small_patient())
    measure("Observation (20 components)", observation(20))
    measure("Bundle (100 entries)", bundle(100))


if __name__ == "__main__":
    main()
