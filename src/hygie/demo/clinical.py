"""Clinical content: LOINC observations with UCUM units and plausible ranges, CIM-10 diagnoses,
the medicines prescribed for them (ATC), and imaging procedures."""

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

# Diagnoses children get (the others are adult conditions).
CHILD_DIAGNOSES = ("J06.9", "J45.9", "N39.0")
CHRONIC = frozenset({"I10", "E11.9", "J45.9", "E78.0", "F32.9", "K21.9"})


class Medicine(NamedTuple):
    atc: str  # WHO ATC code
    label: str  # the product as written on a French prescription
    dosage: str
    per_day: int
    days: int  # length of one dispensation
    form: str  # UCUM annotation of the dispensed unit (ASCII only, ucum.html §2.4.3)


MEDICINES: dict[str, tuple[Medicine, ...]] = {
    "I10": (
        Medicine("C08CA01", "Amlodipine 5 mg, comprimé", "1 comprimé le matin", 1, 30, "{tbl}"),
        Medicine("C09AA05", "Ramipril 5 mg, comprimé", "1 comprimé le matin", 1, 30, "{tbl}"),
    ),
    "E11.9": (
        Medicine(
            "A10BA02", "Metformine 1000 mg, comprimé", "1 comprimé matin et soir", 2, 30, "{tbl}"
        ),
    ),
    "J45.9": (
        Medicine(
            "R03AC02",
            "Salbutamol 100 µg/dose, suspension pour inhalation",
            "2 bouffées en cas de gêne respiratoire",
            2,
            30,
            "{puff}",
        ),
    ),
    "E78.0": (
        Medicine("C10AA05", "Atorvastatine 20 mg, comprimé", "1 comprimé le soir", 1, 30, "{tbl}"),
    ),
    "F32.9": (
        Medicine("N06AB10", "Escitalopram 10 mg, comprimé", "1 comprimé le matin", 1, 30, "{tbl}"),
    ),
    "M54.5": (
        Medicine(
            "M01AE01", "Ibuprofène 400 mg, comprimé", "1 comprimé 3 fois par jour", 3, 5, "{tbl}"
        ),
        Medicine(
            "N02BE01", "Paracétamol 1 g, comprimé", "1 comprimé 3 fois par jour", 3, 7, "{tbl}"
        ),
    ),
    "J06.9": (
        Medicine(
            "N02BE01", "Paracétamol 500 mg, gélule", "1 gélule toutes les 6 heures", 4, 5, "{caps}"
        ),
    ),
    "K21.9": (
        Medicine(
            "A02BC01", "Oméprazole 20 mg, gélule", "1 gélule le matin à jeun", 1, 28, "{caps}"
        ),
    ),
    "N39.0": (
        Medicine(
            "J01XX01",
            "Fosfomycine 3 g, granulés pour solution buvable",
            "1 sachet en une prise",
            1,
            1,
            "{sachet}",
        ),
    ),
}
FORMS = {"{tbl}": "comprimé", "{caps}": "gélule", "{puff}": "bouffée", "{sachet}": "sachet"}
AMOXICILLIN = Medicine(
    "J01CA04",
    "Amoxicilline 1 g, comprimé",
    "1 comprimé matin et soir pendant 6 jours",
    2,
    6,
    "{tbl}",
)

# Imaging procedures: DICOM modality, LOINC code of the procedure, French label, body site.
IMAGING = (
    ("CR", "36643-5", "Radiographie du thorax, 2 incidences", "Thorax"),
    ("CT", "24627-2", "Scanner du thorax", "Thorax"),
    ("US", "24558-9", "Échographie abdominale", "Abdomen"),
    ("MR", "24590-2", "IRM cérébrale", "Encéphale"),
)
MODALITIES = {
    "CR": "Computed Radiography",
    "CT": "Computed Tomography",
    "US": "Ultrasound",
    "MR": "Magnetic Resonance",
}
