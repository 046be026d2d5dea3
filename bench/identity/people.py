"""The identities of the identity benchmark, frozen here so that the cached million-patient
databases (bench/datasets.py, version `identity-v1`) stay valid while `hygie demo` evolves.

Drawn as `hygie.demo` drew its patients when the benchmark was written (first names with
compounds, birth and married names, birth place in France or abroad, NIR with its key on the
test OID for qualified identities, identity status); only the traits matching looks at are
kept (no address, telecom or care team). Deterministic per (seed, n).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from hygie.demo import names
from hygie.demo.nir import make_nir
from hygie.demo.places import COMMUNES, COUNTRIES

TODAY = date(2026, 1, 15)
FR_CORE = "https://hl7.fr/ig/fhir/core"
INS_TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
IPP_SYSTEM = "urn:oid:1.2.250.1.999.1.1.1"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
COMMUNE_CS = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
ID_TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"


def _first_names(rng: random.Random, female: bool) -> list[str]:
    simple, compound = (
        (names.FEMALE, names.FEMALE_COMPOUND) if female else (names.MALE, names.MALE_COMPOUND)
    )
    first = rng.choice(compound) if rng.random() < 0.15 else rng.choice(simple)
    others = rng.sample(simple, rng.choice((0, 1, 1, 2)))
    return [first, *(o for o in others if o != first)]


def _family(rng: random.Random) -> str:
    return rng.choice(names.FAMILY_COMPOUND) if rng.random() < 0.08 else rng.choice(names.FAMILY)


def person(seed: int, n: int) -> dict[str, Any]:
    """Patient `pat-{n:06d}`."""
    rng = random.Random(f"{seed}:patient:{n}")
    female = rng.random() < 0.52
    born = TODAY - timedelta(days=rng.randint(0, 95 * 365))
    firsts = _first_names(rng, female)
    birth_family = _family(rng)
    abroad = rng.random() < 0.08
    if abroad:
        place_code, place_name = rng.choice(COUNTRIES)
    else:
        commune = rng.choice(COMMUNES)
        place_code, place_name = commune.insee, commune.name
    nir = make_nir(2 if female else 1, born.year, born.month, place_code, n % 999 + 1)
    status = rng.choices(("QUAL", "PROV", "VALI"), (85, 10, 5))[0]
    official: dict[str, Any] = {
        "extension": [
            {
                "url": f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name",
                "valueString": " ".join(firsts),
            }
        ],
        "use": "official",
        "family": birth_family,
        "given": firsts[:1],
    }
    patient: dict[str, Any] = {"resourceType": "Patient", "id": f"pat-{n:06d}"}
    patient["extension"] = [
        {
            "url": f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability",
            "extension": [
                {
                    "url": "identityStatus",
                    "valueCoding": {
                        "system": f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status",
                        "code": status,
                    },
                }
            ],
        },
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "valueAddress": {
                "extension": [
                    {"url": INSEE_CODE, "valueCoding": {"system": COMMUNE_CS, "code": place_code}}
                ],
                "city": place_name,
                "country": "FR" if not abroad else place_name,
            },
        },
    ]
    identifiers = [{"use": "usual", "system": IPP_SYSTEM, "value": f"{100000 + n}"}]
    if status == "QUAL":
        identifiers.insert(
            0,
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPES, "code": "INS-NIR-TEST"}]},
                "system": INS_TEST_OID,
                "value": nir,
            },
        )
    patient["identifier"] = identifiers
    patient["active"] = True
    patient["name"] = [official]
    if female and born.year < 2000 and rng.random() < 0.4:
        patient["name"].append({"use": "usual", "family": _family(rng), "given": firsts[:1]})
    patient["gender"] = "female" if female else "male"
    patient["birthDate"] = born.isoformat()
    return patient
