"""The access policy's settings: the profession × document-type matrix, the sensitive resource
types (second factor required), the break-the-glass duration, the fact cache, the types anyone
authenticated may read, and the types patients may write. Defaults below; an operator file
(JSON, `HYGIE_ACCESS_CONFIG=/path.json`) overrides any of them. docs/access.md explains them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import orjson

from hygie.config import mfa_required_types

# Profession codes (ANS TRE_G15-ProfessionSante) and document type/class codes (LOINC, the
# shared record's JDV_J07 XdsTypeCode / JDV_J06 XdsClassCode). The real DMP matrix belongs to
# the Assurance Maladie and is not published with the ANS guides: these defaults are Hygie's
# choice, documented in docs/access.md. None = every document type.
ALL = None
PRESCRIPTION = "57833-6"  # Prescription de produits de santé
DISPENSATION = "60593-1"  # Dispensation médicamenteuse
LAB_REPORT = "11502-2"  # CR d'examens biologiques
IMAGING_REPORT = "18748-4"  # CR d'imagerie médicale
VACCINATION = "87273-9"  # Note de vaccination
PATIENT_SUMMARY = "60591-5"  # Synthèse médicale (VSM)
DISCHARGE_LETTER = "18842-5"  # Lettre de liaison à la sortie
CONSULTATION = "11488-4"  # CR de consultation
NURSE_NOTE = "34746-8"  # Note de soins infirmiers

DEFAULT_MATRIX: dict[str, frozenset[str] | None] = {
    "10": ALL,  # Médecin
    "50": ALL,  # Sage-femme
    "21": frozenset(  # Pharmacien
        {PRESCRIPTION, DISPENSATION, LAB_REPORT, VACCINATION, PATIENT_SUMMARY}
    ),
    "60": frozenset(  # Infirmier
        {PRESCRIPTION, LAB_REPORT, VACCINATION, PATIENT_SUMMARY, DISCHARGE_LETTER, NURSE_NOTE}
    ),
    "40": frozenset(  # Chirurgien-dentiste
        {PRESCRIPTION, LAB_REPORT, IMAGING_REPORT, VACCINATION, PATIENT_SUMMARY, CONSULTATION}
    ),
    "70": frozenset({PRESCRIPTION, IMAGING_REPORT, PATIENT_SUMMARY, CONSULTATION}),  # Kiné
}
DEFAULT_OTHER = frozenset({PATIENT_SUMMARY, VACCINATION})  # any other profession

# Directory, terminology and definitional resources: readable by any authenticated caller
# whose scopes allow the type (no patient data in them).
REFERENCE_TYPES = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "OrganizationAffiliation",
        "Location",
        "HealthcareService",
        "Endpoint",
        "Slot",
        "Medication",
        "MedicationKnowledge",
        "Substance",
        "ValueSet",
        "CodeSystem",
        "ConceptMap",
        "NamingSystem",
        "StructureDefinition",
        "SearchParameter",
        "CapabilityStatement",
        "OperationDefinition",
        "CompartmentDefinition",
        "Questionnaire",
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
        "ObservationDefinition",
        "SpecimenDefinition",
    }
)

# What a patient (or representative) may create in their own compartment.
PATIENT_WRITABLE = frozenset(
    {"Observation", "QuestionnaireResponse", "Consent", "DocumentReference", "Communication"}
)


@dataclass(frozen=True)
class AccessConfig:
    matrix: dict[str, frozenset[str] | None] = field(default_factory=lambda: dict(DEFAULT_MATRIX))
    other_professions: frozenset[str] | None = DEFAULT_OTHER
    # reading these needs two factors for professionals (the national plan's "sensitive"
    # access): $HYGIE_MFA_REQUIRED or hygie.config's defaults, unless the JSON file says
    sensitive: frozenset[str] = field(default_factory=mfa_required_types)
    btg_hours: float = 24.0  # how long a break-the-glass grant lasts
    cache_seconds: float = 2.0  # how long care-team / opposition facts are reused
    reference_types: frozenset[str] = REFERENCE_TYPES
    patient_writable: frozenset[str] = PATIENT_WRITABLE

    def allowed_documents(self, profession: str | None) -> frozenset[str] | None:
        """Document type/class codes a profession may read; None = all."""
        if profession in self.matrix:
            return self.matrix[profession]
        return self.other_professions

    @classmethod
    def load(cls, path: str | Path | None = None) -> AccessConfig:
        """Defaults, overridden by the JSON file at `path` (or $HYGIE_ACCESS_CONFIG)."""
        path = path or os.environ.get("HYGIE_ACCESS_CONFIG")
        config = cls()
        if not path:
            return config
        data: dict[str, Any] = orjson.loads(Path(path).read_bytes())
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown access settings: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key == "matrix":
                changes[key] = {p: _codes(v) for p, v in value.items()}
            elif key == "other_professions":
                changes[key] = _codes(value)
            elif isinstance(value, list):
                changes[key] = frozenset(value)
            else:
                changes[key] = value
        return replace(config, **changes)


def _codes(value: Any) -> frozenset[str] | None:
    return None if value == "*" else frozenset(value)
