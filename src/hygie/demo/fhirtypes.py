"""Code systems, identifier systems and small FHIR data-type builders shared by the generator.

Sources: FR Core (`Interop-Sante/hl7.fhir.fr.core`: identifier types v2-0203, INSEE code and
e-mail type extensions, contact relationships), the ANS terminologies (TRE_G15 professions,
TRE_R38 ordinal specialties, TRE_R02 activity sectors, TRE_A03 document classes, TRE_A01 practice
settings, TRE_R256 messaging types) and the INS systems of `hygie.services.identity.nir`.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hygie.services.identity.nir import INS_SYSTEMS, TEST_SYSTEM

Resource = dict[str, Any]

TODAY = date(2026, 1, 15)  # "today" of the synthetic world, fixed for determinism
PARIS = ZoneInfo("Europe/Paris")

FR_CORE = "https://hl7.fr/ig/fhir/core"
NOS = "https://mos.esante.gouv.fr/NOS"


def nos(table: str) -> str:
    """The canonical URL of an ANS NOS terminology, e.g. `TRE_R38-SpecialiteOrdinale`."""
    return f"{NOS}/{table}/FHIR/{table.replace('_', '-')}"


ID_TYPES = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
INS_TEST_OID = TEST_SYSTEM
INS_TEST_TYPE = INS_SYSTEMS[TEST_SYSTEM][0]  # INS-NIR-TEST
IDNPS_OID = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_OID = "urn:oid:1.2.250.1.71.4.2.2"
RPPS_SYSTEM = "http://rpps.fr"
FINESS_SYSTEM = "http://finess.sante.gouv.fr"
# Local numbers of the fictitious demo information system (1.2.250.1.999: not a real branch).
IPP_SYSTEM = "urn:oid:1.2.250.1.999.1.1.1"
PRESCRIPTION_SYSTEM = "urn:oid:1.2.250.1.999.1.1.2"
DOCUMENT_SYSTEM = "urn:oid:1.2.250.1.999.1.1.3"
APPOINTMENT_SYSTEM = "urn:oid:1.2.250.1.999.1.1.4"
DICOM_UID_ROOT = "1.2.250.1.999.1.2"  # Study/Series Instance UIDs under the same branch

INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
COMMUNE_CS = nos("TRE_R13-CommuneOM")
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
BIRTH_GIVEN = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
IDENTITY_STATUS_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
PATIENT_INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
CONTACT_RELATIONSHIP = f"{FR_CORE}/CodeSystem/fr-core-cs-contact-relationship"
EMAIL_TYPE = f"{FR_CORE}/StructureDefinition/fr-core-contact-point-email-type"
MESSAGING_TYPE = nos("TRE_R256-TypeMessagerie")
PROFESSION_CS = nos("TRE_G15-ProfessionSante")
SPECIALTY_CS = nos("TRE_R38-SpecialiteOrdinale")
SECTOR_CS = nos("TRE_R02-SecteurActivite")
DOC_CLASS_CS = nos("TRE_A03-ClasseDocument")
PRACTICE_SETTING_CS = nos("TRE_A01-CadreExercice")
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
FORMAT_CODE = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"


def ref(rtype: str, rid: str) -> Resource:
    return {"reference": f"{rtype}/{rid}"}


def coding(system: str, code: str, display: str | None = None) -> Resource:
    out = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def concept(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> Resource:
    out: Resource = {"coding": [coding(system, code, display)]}
    if text is not None:
        out["text"] = text
    return out


@functools.lru_cache(maxsize=4096)
def shared_concept(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> Resource:
    """`concept`, made once per code: the same object goes into many resources, so whoever
    holds it must not mutate it (the generator never does; it only serialises)."""
    return concept(system, code, display, text)


def id_type(code: str) -> Resource:
    return {"coding": [{"system": ID_TYPES, "code": code}]}


def insee(code: str) -> Resource:
    return {"url": INSEE_CODE, "valueCoding": {"system": COMMUNE_CS, "code": code}}


_OFFSETS: dict[date, str] = {}


def instant(day: date, hour: int, minute: int) -> str:
    """A local Paris time with its offset (summer or winter time), second precision. The
    offset is looked up once per day (at noon: the 2-3 a.m. change-over hours are never drawn)."""
    offset = _OFFSETS.get(day)
    if offset is None:
        offset = datetime(day.year, day.month, day.day, 12, tzinfo=PARIS).isoformat()[-6:]
        if len(_OFFSETS) < 100_000:
            _OFFSETS[day] = offset
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{offset}"


def mssante(address: str) -> Resource:
    """An MSSanté mailbox: an e-mail ContactPoint typed MSSANTE (FR Core email-type)."""
    return {
        "extension": [{"url": EMAIL_TYPE, "valueCoding": coding(MESSAGING_TYPE, "MSSANTE")}],
        "system": "email",
        "value": address,
        "use": "work",
    }
