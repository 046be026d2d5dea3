"""The shared-record metadata codes: a small vendored subset of the ANS value sets.

Sources (ANS "Terminologies de santé", https://mos.esante.gouv.fr/NOS/, as published in the
IG-terminologie-de-sante FHIR guide):
- class: JDV_J06-XdsClassCode-CISIS (OID 1.2.250.1.213.1.1.5.462), code system TRE_A03-ClasseDocument;
- type: JDV_J07-XdsTypeCode-CISIS (1.2.250.1.213.1.1.5.471) — its LOINC part (the common
  document types below) and TRE_A05-TypeDocComplementaire;
- format: JDV_J10-XdsFormatCode-CISIS — URN codes from TRE_A06-FormatCodeComplementaire,
  TRE_A11-IheFormatCode, TRE_A10-NomenclatureURN, and DICOM UIDs (TRE_A09);
- facility type: JDV_J02-XdsHealthcareFacilityTypeCode-CISIS — TRE_R02-SecteurActivite
  (professionals) or TRE_A00-ProducteurDocNonPS (patients);
- practice setting: JDV_J04-XdsPracticeSettingCode-CISIS — TRE_A00-ProducteurDocNonPS and
  TRE_A01-CadreExercice;
- confidentiality: HL7 v3 Confidentiality (PDSm: exactly one of N, R, V per document), with the
  DMP visibility codes of `hygie.access.labels` beside it.
The type subset is not the whole value set: operators extend it with `RecordsSettings.extra_types`.
"""

from __future__ import annotations

NOS = "https://mos.esante.gouv.fr/NOS"
CLASS_SYSTEM = f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
LOINC = "http://loinc.org"
TYPE_COMPLEMENT_SYSTEM = f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
FORMAT_SYSTEMS = frozenset(
    {
        f"{NOS}/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire",
        f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
        f"{NOS}/TRE_A10-NomenclatureURN/FHIR/TRE-A10-NomenclatureURN",
        "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
    }
)
DICOM_UID_SYSTEM = f"{NOS}/TRE_A09-DICOMuidRegistry/FHIR/TRE-A09-DICOMuidRegistry"
FACILITY_SYSTEM = f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
NON_PS_SYSTEM = f"{NOS}/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS"
PRACTICE_SYSTEMS = frozenset(
    {NON_PS_SYSTEM, f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"}
)
FACILITY_SYSTEMS = frozenset({FACILITY_SYSTEM, NON_PS_SYSTEM})

CLASSES = {
    "10": "Compte rendu",
    "11": "Synthèse",
    "31": "Imagerie médicale",
    "42": "Prescription",
    "43": "Dispensation",
    "44": "Plan de soins, protocole de soins",
    "45": "Traitement administré",
    "52": "Certificat, déclaration",
    "60": "Données de remboursement",
    "90": "Autres documents déposés par le patient",
    "95": "Document de gestion",
    "99": "Document technique",
}
PATIENT_CLASS = "90"  # documents the patient publishes

# The common LOINC document types of JDV_J07 (French displays as published).
LOINC_TYPES = {
    "11369-6": "Historique des vaccinations",
    "11488-4": "CR ou fiche de consultation ou de visite",
    "11490-0": "Lettre de liaison à la sortie d'un établissement de soins",
    "11502-2": "CR d'examens biologiques",
    "11505-5": "CR d'acte thérapeutique (autre)",
    "11506-3": "CR ou fiche de suivi de soins par auxiliaire médical",
    "15507-7": "CR de passage aux urgences",
    "15508-5": "CR d'accouchement",
    "18748-4": "CR d'imagerie médicale",
    "18761-7": "Note de transfert",
    "34112-3": "CR hospitalier (séjour)",
    "34133-9": "Synthèse d'épisode de soins",
    "34749-2": "CR de consultation pré-anesthésique",
    "34794-8": "CR de réunion de concertation pluridisciplinaire",
    "34874-8": "CR opératoire",
    "57828-6": "Prescription (autre)",
    "57832-8": "Prescription de soins",
    "57833-6": "Prescription de produits de santé",
    "60568-3": "CR d'anatomie et de cytologie pathologiques",
    "60591-5": "Synthèse médicale",
    "60593-1": "Dispensation médicamenteuse",
    "77436-4": "CR d'anesthésie",
    "85208-7": "CR de télémédecine",
    "87273-9": "Note de vaccination",
    "89601-9": "Certificat médical",
    "96349-6": "Lettre d'adressage",
}
COMPLEMENT_TYPES = {
    "CERT_DECL": "Certificat, déclaration",
    "SYNTH": "Synthèse",
    "PROT_ALD": "Protocole de soins ALD",
    "IMG-KOS": "Référence d'objets d'un examen d'imagerie",
    "DOCPAT01": "Synthèse déposée par le patient",
    "DOCPAT03": "CR déposé par le patient",
    "DOCPAT07": "Certificat déposé par le patient",
    "EXPPAT_3": "Directives anticipées",
}
IMAGING_REPORT = "18748-4"

CONFIDENTIALITY_CODES = frozenset({"N", "R", "V"})  # normal, restricted, very restricted
