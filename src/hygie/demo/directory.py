"""The health directory of the synthetic world: organisations (FINESS), practitioners (RPPS),
their roles, and the DICOMweb endpoints of imaging centres.

Never held in memory: practitioner `k` and organisation `j` are pure functions of their index
and the seed, so a patient record can point to "a general practitioner" by drawing an index.
Both pools repeat fixed cycles of kinds (`ORG_CYCLE`, `ROLE_CYCLE`) and grow with the
population up to a bound (`Directory.of`).

Identifiers: RPPS = 11 digits whose last is a Luhn key, IDNPS = `8` + RPPS; FINESS = 9
characters (department, 6 digits, Luhn key), IDNST = `1` + FINESS (FR Core v2-0203 types RPPS,
IDNPS, FINEG, IDNST). The numbers sit in visibly fictitious ranges (RPPS `1999…`, FINESS `xx99…`).
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from hygie.demo import names
from hygie.demo.fhirtypes import (
    FINESS_SYSTEM,
    IDNPS_OID,
    IDNST_OID,
    PROFESSION_CS,
    RPPS_SYSTEM,
    SECTOR_CS,
    SPECIALTY_CS,
    Resource,
    coding,
    id_type,
    insee,
    mssante,
    ref,
)
from hygie.demo.nir import luhn_digit
from hygie.demo.places import COMMUNES
from hygie.demo.rng import stream

MAX_ORG_CYCLES = 500  # 4,000 organisations
MAX_PRA_CYCLES = 3_000  # 48,000 practitioners


class OrgKind(NamedTuple):
    label: str  # name prefix, followed by the commune
    sector: tuple[str, str]  # TRE_R02-SecteurActivite
    practice: str  # TRE_A01-CadreExercice of the documents written there


HOSPITAL = OrgKind(
    "Centre hospitalier de", ("SA01", "Etablissement public de santé"), "ETABLISSEMENT"
)
CLINIC = OrgKind(
    "Clinique Sainte-Anne de", ("SA04", "Etablissement privé non PSPH"), "ETABLISSEMENT"
)
MSP = OrgKind(
    "Maison de santé pluriprofessionnelle de",
    ("SA52", "Maison de santé ou Pôle de santé"),
    "AMBULATOIRE",
)
PHARMACY = OrgKind("Pharmacie du Centre,", ("SA33", "Pharmacie d'officine"), "AMBULATOIRE")
LAB = OrgKind(
    "Laboratoire de biologie médicale de",
    ("SA25", "Laboratoire de biologie médicale"),
    "AMBULATOIRE",
)
IMAGING = OrgKind("Centre d'imagerie médicale de", ("SA08", "Cabinet de groupe"), "AMBULATOIRE")

ORG_CYCLE = (HOSPITAL, MSP, PHARMACY, LAB, MSP, PHARMACY, IMAGING, CLINIC)


class Role(NamedTuple):
    key: str
    profession: tuple[str, str]  # TRE_G15-ProfessionSante
    specialty: tuple[str, str] | None  # TRE_R38-SpecialiteOrdinale
    works_in: OrgKind


_DOCTOR = ("10", "Médecin")
GP = Role("gp", _DOCTOR, ("SM54", "Médecine générale (SM)"), MSP)
NURSE = Role("nurse", ("60", "Infirmier"), None, MSP)
PHARMACIST = Role("pharmacist", ("21", "Pharmacien"), None, PHARMACY)
BIOLOGIST = Role("biologist", _DOCTOR, ("SM03", "Biologie médicale (SM)"), LAB)
RADIOLOGIST = Role("radiologist", _DOCTOR, ("SM44", "Radio-diagnostic (SM)"), IMAGING)
PEDIATRICIAN = Role("pediatrician", _DOCTOR, ("SM40", "Pédiatrie (SM)"), HOSPITAL)
CARDIOLOGIST = Role(
    "cardiologist", _DOCTOR, ("SM04", "Cardiologie et Maladies vasculaires (SM)"), HOSPITAL
)
CLINIC_CARDIOLOGIST = CARDIOLOGIST._replace(key="clinic-cardiologist", works_in=CLINIC)
MIDWIFE = Role("midwife", ("50", "Sage-Femme"), None, HOSPITAL)

ROLE_CYCLE = (
    GP, GP, GP, GP, GP, GP, NURSE, NURSE, PHARMACIST, PHARMACIST,
    BIOLOGIST, RADIOLOGIST, PEDIATRICIAN, CARDIOLOGIST, CLINIC_CARDIOLOGIST, MIDWIFE,
)  # fmt: skip
ROLE_SLOTS: dict[str, tuple[int, ...]] = {}
for _slot, _role in enumerate(ROLE_CYCLE):
    ROLE_SLOTS[_role.key] = (*ROLE_SLOTS.get(_role.key, ()), _slot)
ORG_SLOTS: dict[OrgKind, tuple[int, ...]] = {}
for _slot, _kind in enumerate(ORG_CYCLE):
    ORG_SLOTS[_kind] = (*ORG_SLOTS.get(_kind, ()), _slot)
# Organisations stand in mainland communes: the FINESS key of Corsica's 2A/2B is not settled here.
_ORG_COMMUNES = tuple(c for c in COMMUNES if c.insee[:2] not in ("2A", "2B"))


@dataclass(frozen=True, slots=True)
class Directory:
    """The sizes of the pools; every id and attribute is derived from an index."""

    seed: int
    org_cycles: int
    pra_cycles: int

    @classmethod
    def of(cls, patients: int, seed: int) -> Directory:
        """About one practitioner per 25 patients and one organisation per 300, bounded."""
        return cls(
            seed,
            min(max(1, -(-patients // 2_500)), MAX_ORG_CYCLES),
            min(max(1, -(-patients // 400)), MAX_PRA_CYCLES),
        )

    @property
    def organizations(self) -> int:
        return self.org_cycles * len(ORG_CYCLE)

    @property
    def practitioners(self) -> int:
        return self.pra_cycles * len(ROLE_CYCLE)

    def pick(self, rng: random.Random, role: str) -> int:
        """A practitioner of `role`, drawn at random."""
        slots = ROLE_SLOTS[role]
        slot = slots[0] if len(slots) == 1 else rng.choice(slots)
        return rng.randrange(self.pra_cycles) * len(ROLE_CYCLE) + slot

    def role(self, k: int) -> Role:
        return ROLE_CYCLE[k % len(ROLE_CYCLE)]

    def org_of(self, k: int) -> int:
        """The organisation practitioner `k` works in (one of the right kind)."""
        cycle = k // len(ROLE_CYCLE)
        slots = ORG_SLOTS[self.role(k).works_in]
        return (cycle % self.org_cycles) * len(ORG_CYCLE) + slots[cycle % len(slots)]

    def org_kind(self, j: int) -> OrgKind:
        return ORG_CYCLE[j % len(ORG_CYCLE)]


def pra_id(k: int) -> str:
    return f"pra-{k:06d}"


def org_id(j: int) -> str:
    return f"org-{j:05d}"


def endpoint_id(j: int) -> str:
    return f"end-{j:05d}"


def rpps(k: int) -> str:
    base = f"1999{k:06d}"
    return f"{base}{luhn_digit(base)}"


def finess(j: int) -> str:
    base = f"{_ORG_COMMUNES[j % len(_ORG_COMMUNES)].insee[:2]}99{j:04d}"
    return f"{base}{luhn_digit(base)}"


@functools.lru_cache(maxsize=4096)  # names come from a small vocabulary
def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


def directory_resources(d: Directory) -> Iterator[Resource]:
    """Organisations (and imaging endpoints), then practitioners and their roles."""
    for j in range(d.organizations):
        yield from organization(d, j)
    for k in range(d.practitioners):
        rng = stream(f"{d.seed}:practitioner:{k}")
        yield practitioner(d, rng, k)
        yield practitioner_role(d, k)


def _address(rng: random.Random, j: int) -> Resource:
    commune = _ORG_COMMUNES[j % len(_ORG_COMMUNES)]
    street = f"{rng.choice(names.STREET_KINDS)} {rng.choice(names.STREET_NAMES)}"
    return {
        "extension": [insee(commune.insee)],
        "use": "work",
        "type": "both",
        "line": [f"{rng.randint(1, 180)} {street}"],
        "city": commune.name,
        "postalCode": commune.postcode,
        "country": "FR",
    }


def organization(d: Directory, j: int) -> Iterator[Resource]:
    rng = stream(f"{d.seed}:organization:{j}")
    kind = d.org_kind(j)
    number = finess(j)
    address = _address(rng, j)
    org: Resource = {
        "resourceType": "Organization",
        "id": org_id(j),
        "identifier": [
            {"use": "official", "type": id_type("FINEG"), "system": FINESS_SYSTEM, "value": number},
            {
                "use": "official",
                "type": id_type("IDNST"),
                "system": IDNST_OID,
                "value": f"1{number}",
            },
        ],
        "active": True,
        "type": [{"coding": [coding(SECTOR_CS, *kind.sector)]}],
        "name": f"{kind.label} {address['city']}",
        "telecom": [
            {"system": "phone", "value": f"01 99 {j // 100 % 100:02d} {j % 100:02d} 00"},
            mssante(f"secretariat.{number}@demo-hygie.mssante.fr"),
        ],
        "address": [address],
    }
    yield org
    if kind is IMAGING:  # the PACS; it names its organisation (no back-reference: no cycle)
        yield {
            "resourceType": "Endpoint",
            "id": endpoint_id(j),
            "status": "active",
            "connectionType": coding(
                "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "dicom-wado-rs",
                "DICOM WADO-RS",
            ),
            "name": f"PACS — {org['name']}",
            "managingOrganization": ref("Organization", org_id(j)),
            "payloadType": [
                {
                    "coding": [
                        coding("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "any")
                    ],
                    "text": "DICOM",
                }
            ],
            "payloadMimeType": ["application/dicom"],
            "address": f"https://pacs.demo-hygie.fr/{org_id(j)}/dicom-web",
        }


def practitioner(d: Directory, rng: random.Random, k: int) -> Resource:
    role = d.role(k)
    female = rng.random() < 0.55
    first = rng.choice(names.FEMALE if female else names.MALE)
    family = rng.choice(names.FAMILY_COMPOUND) if rng.random() < 0.08 else rng.choice(names.FAMILY)
    number = rpps(k)
    name: Resource = {"use": "official", "family": family, "given": [first]}
    if role.profession[0] == "10":
        name["prefix"] = ["Dr"]
    qualification = [{"code": {"coding": [coding(PROFESSION_CS, *role.profession)]}}]
    if role.specialty:
        qualification.append({"code": {"coding": [coding(SPECIALTY_CS, *role.specialty)]}})
    return {
        "resourceType": "Practitioner",
        "id": pra_id(k),
        "identifier": [
            {
                "use": "official",
                "type": id_type("IDNPS"),
                "system": IDNPS_OID,
                "value": f"8{number}",
            },
            {"use": "official", "type": id_type("RPPS"), "system": RPPS_SYSTEM, "value": number},
        ],
        "active": True,
        "name": [name],
        "telecom": [mssante(f"{ascii_fold(first)}.{ascii_fold(family)}.{k}@demo-hygie.mssante.fr")],
        "gender": "female" if female else "male",
        "qualification": qualification,
    }


def practitioner_role(d: Directory, k: int) -> Resource:
    role = d.role(k)
    out: Resource = {
        "resourceType": "PractitionerRole",
        "id": f"prr-{k:06d}",
        "active": True,
        "practitioner": ref("Practitioner", pra_id(k)),
        "organization": ref("Organization", org_id(d.org_of(k))),
        "code": [{"coding": [coding(PROFESSION_CS, *role.profession)]}],
    }
    if role.specialty:
        out["specialty"] = [{"coding": [coding(SPECIALTY_CS, *role.specialty)]}]
    return out
