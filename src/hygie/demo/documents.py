"""Clinical documents: a small real PDF in a Binary, its DocumentReference with the metadata of
the French shared record, and the ImagingStudy an imaging report points to.

Metadata (PDSm / DMP, see shared/docs/fr-ehealth.md): class (TRE_A03-ClasseDocument) and type
(LOINC) codes, confidentiality (HL7 v3 Confidentiality, and at times a DMP visibility code of
1.2.250.1.213.1.1.4.13, the codes of `hygie.access.labels`), format (IHE format code
`mimeTypeSufficient` for a plain PDF), facility type (TRE_R02-SecteurActivite), practice setting
(TRE_A01-CadreExercice), the author Practitioner and the subject Patient. The content is a
`Binary/…` URL with the size and SHA-1 hash of the bytes (Attachment.hash, R4: base64 SHA-1).
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import NamedTuple

from hygie.demo.directory import OrgKind
from hygie.demo.fhirtypes import (
    CONFIDENTIALITY,
    DICOM_DCM,
    DICOM_UID_ROOT,
    DOC_CLASS_CS,
    DOCUMENT_SYSTEM,
    FORMAT_CODE,
    LOINC,
    PRACTICE_SETTING_CS,
    SECTOR_CS,
    Resource,
    coding,
    concept,
    ref,
    shared_concept,
)

DMP_VISIBILITY = "urn:oid:1.2.250.1.213.1.1.4.13"  # as hygie.access.labels.DMP_VISIBILITY_SYSTEM


class DocType(NamedTuple):
    loinc: str
    label: str
    doc_class: tuple[str, str]  # TRE_A03-ClasseDocument


DISCHARGE = DocType(
    "11490-0", "Lettre de liaison à la sortie d'un établissement de soins", ("10", "Compte rendu")
)
BIOLOGY = DocType("11502-2", "Compte rendu d'examens biologiques", ("10", "Compte rendu"))
IMAGING_REPORT = DocType("18748-4", "Compte rendu d'imagerie médicale", ("10", "Compte rendu"))

_NORMAL = [concept(CONFIDENTIALITY, "N", "normal")]
_FORMAT = coding(FORMAT_CODE, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")
_SETTINGS = {
    "ETABLISSEMENT": concept(PRACTICE_SETTING_CS, "ETABLISSEMENT", "Etablissement de santé"),
    "AMBULATOIRE": concept(PRACTICE_SETTING_CS, "AMBULATOIRE"),
}

# -- PDF ----------------------------------------------------------------------------------------
_PDF_HEAD = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    b"1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n",
    b"2 0 obj\n<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n",
    b"3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]"
    b"/Resources<</Font<</F1 4 0 R>>>>/Contents 5 0 R>>\nendobj\n",
    b"4 0 obj\n<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>\nendobj\n",
)
_OFFSETS = [sum(len(p) for p in _PDF_HEAD[:i]) for i in range(1, len(_PDF_HEAD))]
_PREFIX = b"".join(_PDF_HEAD)


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")  # WinAnsiEncoding: French accents included
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing `lines` in Helvetica: a few hundred bytes, with a correct
    cross-reference table (ISO 32000-1 §7.5.4: 20-byte entries) so that any reader opens it."""
    body = (
        b"BT /F1 11 Tf 50 800 Td 14 TL "
        + b" ".join(b"(" + _pdf_text(line) + b") '" for line in lines)
        + b" ET"
    )
    stream = b"5 0 obj\n<</Length %d>>\nstream\n%s\nendstream\nendobj\n" % (len(body), body)
    xref_at = len(_PREFIX) + len(stream)
    offsets = [*_OFFSETS, len(_PREFIX)]
    xref = b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"trailer\n<</Size 6/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return _PREFIX + stream + xref + trailer


# -- resources ----------------------------------------------------------------------------------
def _oid_suffix(rid: str) -> str:
    """`doc-000012-3` → `12.3`: OID and DICOM UID components have no leading zeros."""
    return ".".join(str(int(part)) for part in rid.split("-")[1:])


def document(
    rng: random.Random,
    doc_id: str,
    kind: DocType,
    lines: list[str],
    *,
    patient: str,
    author: str,
    org: OrgKind,
    when: str,
    encounter: str | None,
    study: str | None = None,
    minor: bool = False,
) -> tuple[Resource, Resource]:
    """The Binary holding the PDF, and the DocumentReference describing it."""
    data = pdf(lines)
    binary = {
        "resourceType": "Binary",
        "id": f"bin-{doc_id[4:]}",
        "contentType": "application/pdf",
        "securityContext": ref("Patient", patient),
        "data": base64.b64encode(data).decode("ascii"),
    }
    labels = list(_NORMAL)  # a list of its own: services may add labels in place
    draw = rng.random()
    if draw < 0.02:
        labels = [*_NORMAL, concept(DMP_VISIBILITY, "INVISIBLE_PATIENT")]
    elif draw < 0.04 and minor:
        labels = [*_NORMAL, concept(DMP_VISIBILITY, "INVISIBLE_REP_LEGAUX")]
    context: Resource = {}
    if encounter:
        context["encounter"] = [ref("Encounter", encounter)]
    context["period"] = {"start": when}
    context["facilityType"] = shared_concept(SECTOR_CS, *org.sector)
    context["practiceSetting"] = _SETTINGS[org.practice]
    context["sourcePatientInfo"] = ref("Patient", patient)
    if study:
        context["related"] = [ref("ImagingStudy", study)]
    doc = {
        "resourceType": "DocumentReference",
        "id": doc_id,
        "masterIdentifier": {
            "system": "urn:ietf:rfc:3986",
            "value": f"{DOCUMENT_SYSTEM}.{_oid_suffix(doc_id)}",
        },
        "status": "current",
        "docStatus": "final",
        "type": shared_concept(LOINC, kind.loinc, kind.label),
        "category": [shared_concept(DOC_CLASS_CS, *kind.doc_class)],
        "subject": ref("Patient", patient),
        "date": when,
        "author": [ref("Practitioner", author)],
        "description": lines[0],
        "securityLabel": labels,
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "fr-FR",
                    "url": f"Binary/{binary['id']}",
                    "size": len(data),
                    "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
                    "title": lines[0],
                    "creation": when,
                },
                "format": _FORMAT,
            }
        ],
        "context": context,
    }
    return binary, doc


def imaging_study(
    study_id: str,
    *,
    patient: str,
    encounter: str,
    radiologist: str,
    endpoint: str,
    when: str,
    procedure: tuple[str, str, str, str],
    modality_label: str,
    instances: int,
) -> Resource:
    modality, loinc, label, site = procedure
    uid = f"{DICOM_UID_ROOT}.{_oid_suffix(study_id)}"
    return {
        "resourceType": "ImagingStudy",
        "id": study_id,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
        "status": "available",
        "modality": [coding(DICOM_DCM, modality, modality_label)],
        "subject": ref("Patient", patient),
        "encounter": ref("Encounter", encounter),
        "started": when,
        "interpreter": [ref("Practitioner", radiologist)],
        "endpoint": [ref("Endpoint", endpoint)],
        "numberOfSeries": 1,
        "numberOfInstances": instances,
        "procedureCode": [concept(LOINC, loinc, label, label)],
        "description": label,
        "series": [
            {
                "uid": f"{uid}.1",
                "number": 1,
                "modality": coding(DICOM_DCM, modality, modality_label),
                "description": site,
                "numberOfInstances": instances,
                "endpoint": [ref("Endpoint", endpoint)],
                "bodySite": {"display": site},
            }
        ],
    }
