"""Clinical content: LOINC observations with UCUM units and plausible ranges, CIM-10 diagnoses."""

from __future__ import annotations

from typing import NamedTuple

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CIM10 = "http://hl7.org/fhir/sid/icd-10"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


class Measure(NamedTuple):
    loinc: str
    display: str
    unit: str  # UCUM code, also shown as the unit
    low: float
    high: float
    decimals: int
    category: str  # vital-signs | laboratory


VITALS = (
    Measure("8867-4", "Fréquence cardiaque", "/min", 55, 100, 0, "vital-signs"),
    Measure("29463-7", "Poids corporel", "kg", 48, 110, 1, "vital-signs"),
    Measure("8302-2", "Taille", "cm", 150, 195, 0, "vital-signs"),
    Measure("8310-5", "Température corporelle", "Cel", 36.1, 38.5, 1, "vital-signs"),
    Measure(
        "59408-5", "Saturation en oxygène (oxymétrie de pouls)", "%", 92, 100, 0, "vital-signs"
    ),
)
BIOLOGY = (
    Measure("15074-8", "Glucose [Moles/Volume] sang", "mmol/L", 3.9, 9.5, 1, "laboratory"),
    Measure("718-7", "Hémoglobine [Masse/Volume] sang", "g/dL", 10.5, 17.5, 1, "laboratory"),
    Measure("14682-9", "Créatinine [Moles/Volume] sérum", "umol/L", 45, 130, 0, "laboratory"),
    Measure("4548-4", "Hémoglobine A1c/hémoglobine totale", "%", 4.8, 9.0, 1, "laboratory"),
    Measure("2951-2", "Sodium [Moles/Volume] sérum", "mmol/L", 134, 146, 0, "laboratory"),
    Measure("2823-3", "Potassium [Moles/Volume] sérum", "mmol/L", 3.4, 5.3, 1, "laboratory"),
)
BLOOD_PRESSURE = ("85354-9", "Pression artérielle, panel")
SYSTOLIC = ("8480-6", "Pression artérielle systolique", 100, 165)
DIASTOLIC = ("8462-4", "Pression artérielle diastolique", 60, 100)

# CIM-10 (ICD-10 as used in France), with the French label.
DIAGNOSES = (
    ("I10", "Hypertension essentielle (primitive)"),
    ("E11.9", "Diabète sucré de type 2, sans complication"),
    ("J45.9", "Asthme, sans précision"),
    ("E78.0", "Hypercholestérolémie essentielle"),
    ("F32.9", "Épisode dépressif, sans précision"),
    ("M54.5", "Lombalgie basse"),
    ("J06.9", "Infection aiguë des voies respiratoires supérieures, sans précision"),
    ("K21.9", "Reflux gastro-œsophagien sans œsophagite"),
    ("N39.0", "Infection des voies urinaires, siège non précisé"),
    ("E66.9", "Obésité, sans précision"),
)

# Encounter classes (HL7 v3 ActCode) and their French labels.
ENCOUNTER_CLASSES = (
    ("AMB", "Consultation externe"),
    ("AMB", "Consultation externe"),
    ("AMB", "Consultation externe"),
    ("IMP", "Hospitalisation complète"),
    ("EMER", "Passage aux urgences"),
    ("VR", "Téléconsultation"),
)

# Health professions (ANS nomenclature TRE_G15-ProfessionSante).
PROFESSIONS = (
    ("10", "Médecin"),
    ("10", "Médecin"),
    ("10", "Médecin"),
    ("60", "Infirmier"),
    ("21", "Pharmacien"),
    ("50", "Sage-femme"),
)
