"""Where FR Core keeps identity data on a Patient, and how to read and write it.

- The identity status and its attributes live in the extension `fr-core-identity-reliability`
  on Patient (FR Core `FRCorePatientIdentityReliabilityExtension.fsh`): sub-extensions
  `identityStatus` (PROV/RECUP/VALI/QUAL), `comment` (DOUT, FICT, HOMD, DPOT, DESA, …),
  `methodCollection`, `dateInterrogationINSi`, `validationDate`, `validationMode`. The status is
  a property of the whole identity, not of one identifier, so Hygie keeps it there.
- INS traits: the official name (birth name, first first-name in `given`, the birth first
  names in the extension `birth-list-given-name`), `gender`, `birthDate`, and the birth place
  INSEE code in the core `patient-birthPlace` extension (`fr-core-address-insee-code`).
"""

from __future__ import annotations

from typing import Any

FR_CORE = "https://hl7.fr/ig/fhir/core"
RELIABILITY_URL = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
STATUS_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
COMMENT_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status-comment"
METHOD_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"
VALIDATION_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
ID_TYPE_CS = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
BIRTH_LIST_URL = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
BIRTH_PLACE_URL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE_CODE_URL = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
COMMUNE_CS = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"

Resource = dict[str, Any]


def reliability(patient: Resource) -> Resource | None:
    for ext in patient.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == RELIABILITY_URL:
            return ext
    return None


def _parts(ext: Resource | None, url: str) -> list[Resource]:
    if not ext:
        return []
    return [e for e in ext.get("extension") or [] if isinstance(e, dict) and e.get("url") == url]


def status(patient: Resource) -> str | None:
    for part in _parts(reliability(patient), "identityStatus"):
        coding = part.get("valueCoding") or {}
        return coding.get("code")
    return None


def comments(patient: Resource) -> set[str]:
    codes = set()
    for part in _parts(reliability(patient), "comment"):
        for coding in (part.get("valueCodeableConcept") or {}).get("coding") or []:
            if isinstance(coding, dict) and coding.get("code"):
                codes.add(coding["code"])
    return codes


def set_reliability(
    patient: Resource,
    *,
    status: str,
    comments: set[str],
    method: str | None = None,
    insi_date: str | None = None,
    validation_mode: str | None = None,
    validation_date: str | None = None,
) -> None:
    """Replace the status and comments; keep the other sub-extensions unless given anew."""
    old = reliability(patient)
    keep = {"methodCollection", "dateInterrogationINSi", "validationDate", "validationMode"}
    parts: list[Resource] = [
        e
        for e in (old or {}).get("extension") or []
        if isinstance(e, dict) and e.get("url") in keep
    ]

    def put(url: str, value: Resource) -> None:
        parts[:] = [p for p in parts if p.get("url") != url]
        parts.append({"url": url, **value})

    if method:
        put("methodCollection", {"valueCoding": {"system": METHOD_CS, "code": method}})
    if insi_date:
        put("dateInterrogationINSi", {"valueDate": insi_date})
    if validation_mode:
        put("validationMode", {"valueCoding": {"system": VALIDATION_CS, "code": validation_mode}})
    if validation_date:
        put("validationDate", {"valueDate": validation_date})
    parts.append({"url": "identityStatus", "valueCoding": {"system": STATUS_CS, "code": status}})
    for code in sorted(comments):
        parts.append(
            {
                "url": "comment",
                "valueCodeableConcept": {"coding": [{"system": COMMENT_CS, "code": code}]},
            }
        )
    new = {"url": RELIABILITY_URL, "extension": parts}
    exts = [
        e
        for e in patient.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == RELIABILITY_URL)
    ]
    patient["extension"] = [new, *exts]


def official_name(patient: Resource) -> Resource | None:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    for n in names:
        if n.get("use") == "official":
            return n
    return None


def birth_list(name: Resource | None) -> str | None:
    for ext in (name or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == BIRTH_LIST_URL:
            return ext.get("valueString")
    return None


def birth_place_code(patient: Resource) -> str | None:
    for ext in patient.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == BIRTH_PLACE_URL:
            for sub in (ext.get("valueAddress") or {}).get("extension") or []:
                if isinstance(sub, dict) and sub.get("url") == INSEE_CODE_URL:
                    return (sub.get("valueCoding") or {}).get("code")
    return None
