"""The FHIR resources that accounts point to (`fhirUser`), created through the Repository as
the server itself: a Practitioner (with IDNPS and RPPS identifiers), a Patient, or a
RelatedPerson for a legal representative (ANS annuaire santé conventions: IDNPS is "8" + RPPS,
system urn:oid:1.2.250.1.71.4.2.1)."""

from __future__ import annotations

from typing import Any

from hygie.store import Repository
from hygie.store.context import Context

IDNPS_OID = "urn:oid:1.2.250.1.71.4.2.1"
RPPS_SYSTEM = "http://rpps.fr"
ID_TYPE = "http://interopsante.org/CodeSystem/fr-v2-0203"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _name(family: str, given: str | None, prefix: str | None = None) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official", "family": family}
    if given:
        name["given"] = [given]
    if prefix:
        name["prefix"] = [prefix]
    return name


def _create(repo: Repository, resource: dict[str, Any]) -> str:
    result = repo.create(Context.system(), resource)
    assert result.stored is not None
    return f"{result.stored.rtype}/{result.stored.id}"


def create_practitioner(
    repo: Repository,
    family: str,
    given: str | None,
    rpps: str | None,
    adeli: str | None,
    doctor: bool,
) -> str:
    identifiers = []
    if rpps:
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPE, "code": "IDNPS"}]},
                "system": IDNPS_OID,
                "value": f"8{rpps}",
            }
        )
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPE, "code": "RPPS"}]},
                "system": RPPS_SYSTEM,
                "value": rpps,
            }
        )
    if adeli:
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPE, "code": "ADELI"}]},
                "system": "urn:oid:1.2.250.1.71.4.2.1",
                "value": f"0{adeli}",
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "active": True,
        "name": [_name(family, given, "Dr" if doctor else None)],
    }
    if identifiers:
        resource["identifier"] = identifiers
    return _create(repo, resource)


def create_patient(
    repo: Repository, family: str, given: str | None, birth_date: str | None, gender: str | None
) -> str:
    resource: dict[str, Any] = {"resourceType": "Patient", "name": [_name(family, given)]}
    if birth_date:
        resource["birthDate"] = birth_date
    if gender:
        resource["gender"] = gender
    return _create(repo, resource)


def create_related_person(
    repo: Repository, patient: str, family: str, given: str | None, relationship: str = "GUARD"
) -> str:
    """A legal representative (v3 RoleCode GUARD: guardian; MTH/FTH for parents)."""
    resource = {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": patient},
        "relationship": [{"coding": [{"system": RELATIONSHIP, "code": relationship}]}],
        "name": [_name(family, given)],
    }
    return _create(repo, resource)


def exists(repo: Repository, reference: str) -> bool:
    rtype, _, rid = reference.partition("/")
    try:
        repo.read(Context.system(), rtype, rid)
    except Exception:
        return False
    return True
