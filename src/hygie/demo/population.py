"""A synthetic French population, streamed resource by resource (never built in memory).

Deterministic: every patient draws from its own `random.Random(f"{seed}:patient:{n}")`, so the
same seed gives the same data whatever the number of patients, and a patient can be made
without making the ones before it. The professionals and organisations come first, then each
patient followed by their own encounters, observations and conditions: every reference points
to a resource already streamed.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hygie.demo import clinical as c
from hygie.demo import names
from hygie.demo.nir import luhn_digit, make_nir
from hygie.demo.places import COMMUNES, COUNTRIES, Commune

Resource = dict[str, Any]

TODAY = date(2026, 1, 15)  # "today" of the synthetic world, fixed for determinism
PARIS = ZoneInfo("Europe/Paris")
# The directory is kept in memory (records point into it): bounded whatever the population.
MAX_ORGANIZATIONS = 1_000
MAX_PRACTITIONERS = 20_000

FR_CORE = "https://hl7.fr/ig/fhir/core"
ID_TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
INS_TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
IDNPS_OID = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_OID = "urn:oid:1.2.250.1.71.4.2.2"
RPPS_SYSTEM = "http://rpps.fr"
FINESS_SYSTEM = "http://finess.sante.gouv.fr"
IPP_SYSTEM = "urn:oid:1.2.250.1.999.1.1.1"  # local patient numbers of the demo facility
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
COMMUNE_CS = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
PROFESSION_CS = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


@dataclass(frozen=True, slots=True)
class Directory:
    """Ids of the professionals and organisations that patients' records point to."""

    organizations: tuple[str, ...]
    practitioners: tuple[str, ...]
    works_at: tuple[str, ...]  # organisation id per practitioner


def population(patients: int, seed: int) -> Iterator[Resource]:
    """Organisations, practitioners and their roles, then each patient and their record."""
    rng = random.Random(f"{seed}:directory")
    n_org = min(max(3, patients // 50), MAX_ORGANIZATIONS)
    n_pra = min(max(6, patients // 15), MAX_PRACTITIONERS)
    orgs = tuple(f"org-{n:04d}" for n in range(n_org))
    for n, oid in enumerate(orgs):
        yield organization(rng, oid, n)
    pras = tuple(f"pra-{n:05d}" for n in range(n_pra))
    works_at = tuple(orgs[n % n_org] for n in range(n_pra))
    for n, pid in enumerate(pras):
        profession = c.PROFESSIONS[0] if n < 3 else rng.choice(c.PROFESSIONS)
        yield practitioner(rng, pid, n, profession)
        yield role(pid, works_at[n], n, profession)
    directory = Directory(orgs, pras, works_at)
    for n in range(patients):
        yield from patient_record(random.Random(f"{seed}:patient:{n}"), n, directory)


# -- people and places ------------------------------------------------------------------------
def _first_names(rng: random.Random, female: bool) -> list[str]:
    simple, compound = (
        (names.FEMALE, names.FEMALE_COMPOUND) if female else (names.MALE, names.MALE_COMPOUND)
    )
    first = rng.choice(compound) if rng.random() < 0.15 else rng.choice(simple)
    others = rng.sample(simple, rng.choice((0, 1, 1, 2)))
    return [first, *(o for o in others if o != first)]


def _family(rng: random.Random) -> str:
    return rng.choice(names.FAMILY_COMPOUND) if rng.random() < 0.08 else rng.choice(names.FAMILY)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def _address(rng: random.Random, commune: Commune) -> Resource:
    line = (
        f"{rng.randint(1, 180)} {rng.choice(names.STREET_KINDS)} {rng.choice(names.STREET_NAMES)}"
    )
    return {
        "extension": [_insee(commune.insee)],
        "use": "work",
        "type": "both",
        "line": [line],
        "city": commune.name,
        "postalCode": commune.postcode,
        "country": "FR",
    }


def _insee(code: str) -> Resource:
    return {"url": INSEE_CODE, "valueCoding": {"system": COMMUNE_CS, "code": code}}


def _phone(rng: random.Random) -> str:
    """A number of the range ARCEP keeps for fiction (06 39 98 xx xx)."""
    return f"06 39 98 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"


def _id_type(code: str) -> Resource:
    return {"coding": [{"system": ID_TYPES, "code": code}]}


def _instant(day: date, rng: random.Random) -> datetime:
    return datetime(
        day.year, day.month, day.day, rng.randint(8, 18), rng.choice((0, 15, 30, 45)), tzinfo=PARIS
    )


# -- directory --------------------------------------------------------------------------------
def organization(rng: random.Random, oid: str, n: int) -> Resource:
    commune = COMMUNES[(n * 7) % len(COMMUNES)]
    kind = (
        "Centre hospitalier",
        "Clinique Sainte-Anne de",
        "Maison de santé pluriprofessionnelle de",
        "Laboratoire de biologie médicale de",
    )[n % 4]
    dept = commune.insee[:2]
    finess_base = f"{dept}099{n:03d}"
    finess = f"{finess_base}{luhn_digit(finess_base.replace('A', '0').replace('B', '0'))}"
    return {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [
            {
                "use": "official",
                "type": _id_type("FINEG"),
                "system": FINESS_SYSTEM,
                "value": finess,
            },
            {
                "use": "official",
                "type": _id_type("IDNST"),
                "system": IDNST_OID,
                "value": f"1{finess}",
            },
        ],
        "active": True,
        "name": f"{kind} {commune.name}",
        "telecom": [
            {"system": "phone", "value": f"01 99 00 {n % 100:02d} {rng.randint(0, 99):02d}"}
        ],
        "address": [_address(rng, commune)],
    }


def practitioner(rng: random.Random, pid: str, n: int, profession: tuple[str, str]) -> Resource:
    female = rng.random() < 0.55
    given = _first_names(rng, female)[:1]
    family = _family(rng)
    rpps_base = f"1999999{n:03d}"
    rpps = f"{rpps_base}{luhn_digit(rpps_base)}"
    name: Resource = {"use": "official", "family": family, "given": given}
    if profession[0] == "10":
        name["prefix"] = ["Dr"]
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [
            {
                "use": "official",
                "type": _id_type("IDNPS"),
                "system": IDNPS_OID,
                "value": f"8{rpps}",
            },
            {"use": "official", "type": _id_type("RPPS"), "system": RPPS_SYSTEM, "value": rpps},
        ],
        "active": True,
        "name": [name],
        "telecom": [
            {
                "system": "email",
                "value": f"{_ascii(given[0])}.{_ascii(family)}@demo-hygie.mssante.fr",
                "use": "work",
            }
        ],
        "gender": "female" if female else "male",
    }


def role(pid: str, org: str, n: int, profession: tuple[str, str]) -> Resource:
    code, label = profession
    return {
        "resourceType": "PractitionerRole",
        "id": f"prr-{n:05d}",
        "active": True,
        "practitioner": {"reference": f"Practitioner/{pid}"},
        "organization": {"reference": f"Organization/{org}"},
        "code": [{"coding": [{"system": PROFESSION_CS, "code": code, "display": label}]}],
    }


# -- patients ---------------------------------------------------------------------------------
def patient_record(rng: random.Random, n: int, directory: Directory) -> Iterator[Resource]:
    patient = make_patient(rng, n, directory)
    yield patient
    born = date.fromisoformat(patient["birthDate"])
    gp = patient["generalPractitioner"][0]["reference"]
    encounters = []
    for k in range(rng.choice((1, 1, 2, 2, 3, 4))):
        enc = encounter(rng, n, k, born, directory)
        encounters.append(enc)
        yield enc
        yield from observations(rng, enc, gp)
    for k, diagnosis in enumerate(rng.sample(c.DIAGNOSES, rng.choice((0, 1, 1, 2)))):
        yield condition(rng, n, k, encounters[0], diagnosis, gp, born)


def make_patient(rng: random.Random, n: int, directory: Directory) -> Resource:
    female = rng.random() < 0.52
    born = TODAY - timedelta(days=rng.randint(0, 95 * 365))
    firsts = _first_names(rng, female)
    birth_family = _family(rng)
    abroad = rng.random() < 0.08
    if abroad:
        place_code, place_name = rng.choice(COUNTRIES)
    else:
        birth_commune = rng.choice(COMMUNES)
        place_code, place_name = birth_commune.insee, birth_commune.name
    nir = make_nir(2 if female else 1, born.year, born.month, place_code, n % 999 + 1)
    status = rng.choices(("QUAL", "PROV", "VALI"), (85, 10, 5))[0]
    official: Resource = {
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
    patient: Resource = {"resourceType": "Patient", "id": f"pat-{n:06d}"}
    if status == "QUAL":
        patient["meta"] = {"profile": [f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"]}
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
                "extension": [_insee(place_code)],
                "city": place_name,
                "country": "FR" if not abroad else place_name,
            },
        },
    ]
    identifiers = [{"use": "usual", "system": IPP_SYSTEM, "value": f"{100000 + n}"}]
    if status == "QUAL":  # INS-NIR identifiers only on a qualified identity (fr-core-1/2)
        identifiers.insert(
            0,
            {
                "use": "official",
                "type": _id_type("INS-NIR-TEST"),
                "system": INS_TEST_OID,
                "value": nir,
            },
        )
    patient["identifier"] = identifiers
    patient["active"] = True
    patient["name"] = [official]
    married = female and born.year < 2000 and rng.random() < 0.4
    used_family = _family(rng) if married else birth_family
    if married:
        patient["name"].append({"use": "usual", "family": used_family, "given": firsts[:1]})
    home = rng.choice(COMMUNES)
    address = _address(rng, home)
    address["use"] = "home"
    patient["telecom"] = [
        {"system": "phone", "value": _phone(rng), "use": "mobile"},
        {
            "system": "email",
            "value": f"{_ascii(firsts[0])}.{_ascii(used_family)}@courriel.example",
            "use": "home",
        },
    ]
    patient["gender"] = "female" if female else "male"
    patient["birthDate"] = born.isoformat()
    patient["address"] = [address]
    gp = n % 3  # the first three practitioners are general practitioners
    patient["generalPractitioner"] = [{"reference": f"Practitioner/{directory.practitioners[gp]}"}]
    patient["managingOrganization"] = {"reference": f"Organization/{directory.works_at[gp]}"}
    return patient


def encounter(rng: random.Random, n: int, k: int, born: date, directory: Directory) -> Resource:
    first_day = max(born, TODAY - timedelta(days=5 * 365))
    day = first_day + timedelta(days=rng.randint(0, (TODAY - first_day).days))
    start = _instant(day, rng)
    code, label = rng.choice(c.ENCOUNTER_CLASSES)
    end = start + (timedelta(days=rng.randint(1, 8)) if code == "IMP" else timedelta(minutes=30))
    who = rng.randrange(len(directory.practitioners))
    return {
        "resourceType": "Encounter",
        "id": f"enc-{n:06d}-{k}",
        "status": "finished",
        "class": {"system": ACT_CODE, "code": code, "display": label},
        "subject": {"reference": f"Patient/pat-{n:06d}"},
        "participant": [
            {"individual": {"reference": f"Practitioner/{directory.practitioners[who]}"}}
        ],
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "serviceProvider": {"reference": f"Organization/{directory.works_at[who]}"},
    }


def observations(rng: random.Random, enc: Resource, performer: str) -> Iterator[Resource]:
    measures = rng.sample(c.VITALS, rng.randint(1, 3))
    if enc["class"]["code"] in ("AMB", "IMP"):
        measures += rng.sample(c.BIOLOGY, rng.choice((0, 0, 2, 3)))
    base = enc["id"].replace("enc-", "obs-")
    for k, m in enumerate(measures):
        value = round(rng.uniform(m.low, m.high), m.decimals)
        obs = _observation(f"{base}-{k}", enc, m.category, m.loinc, m.display, performer)
        obs["valueQuantity"] = {
            "value": int(value) if m.decimals == 0 else value,
            "unit": m.unit,
            "system": c.UCUM,
            "code": m.unit,
        }
        yield obs
    if rng.random() < 0.5:
        bp = _observation(f"{base}-bp", enc, "vital-signs", *c.BLOOD_PRESSURE, performer)
        bp["component"] = [
            {
                "code": {"coding": [{"system": c.LOINC, "code": code, "display": label}]},
                "valueQuantity": {
                    "value": rng.randint(lo, hi),
                    "unit": "mm[Hg]",
                    "system": c.UCUM,
                    "code": "mm[Hg]",
                },
            }
            for code, label, lo, hi in (c.SYSTOLIC, c.DIASTOLIC)
        ]
        yield bp


def _observation(
    oid: str, enc: Resource, category: str, loinc: str, display: str, performer: str
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"system": c.OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": c.LOINC, "code": loinc, "display": display}]},
        "subject": enc["subject"],
        "encounter": {"reference": f"Encounter/{enc['id']}"},
        "effectiveDateTime": enc["period"]["start"],
        "performer": [{"reference": performer}],
    }


def condition(
    rng: random.Random,
    n: int,
    k: int,
    enc: Resource,
    diagnosis: tuple[str, str],
    recorder: str,
    born: date,
) -> Resource:
    code, label = diagnosis
    onset = date.fromisoformat(enc["period"]["start"][:10]) - timedelta(days=rng.randint(0, 900))
    return {
        "resourceType": "Condition",
        "id": f"con-{n:06d}-{k}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": c.CIM10, "code": code, "display": label}], "text": label},
        "subject": enc["subject"],
        "encounter": {"reference": f"Encounter/{enc['id']}"},
        "onsetDateTime": max(onset, born).isoformat(),
        "recorder": {"reference": recorder},
    }
