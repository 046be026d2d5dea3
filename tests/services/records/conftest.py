"""Shared-record fixtures: a qualified identity, a professional with an RPPS number, documents,
and ITI-65 bundles built the PDSm way (synthetic data, test NIR range)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pytest

from hygie.access import labels
from hygie.services.identity import nir, profile
from hygie.services.identity.rules import STATUS_OPERATION
from hygie.services.records import documents, mhd
from hygie.services.records import terminology as t
from hygie.store import Context, Repository

RPPS = "10101010101"  # synthetic
OTHER_RPPS = "10202020202"
IDENTITY_OP = Context(attributes={STATUS_OPERATION: True})  # the status operation's rights


@pytest.fixture(autouse=True)
def blob_dir(tmp_path, monkeypatch):
    """Each test's blobs in its own directory (the live server inherits the variable)."""
    path = tmp_path / "blobs"
    monkeypatch.setenv("HYGIE_BLOB_DIR", str(path))
    return path


def pdf(size: int = 2000, seed: str = "x") -> bytes:
    head = b"%PDF-1.4\n% Hygie test document " + seed.encode() + b"\n"
    tail = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    filler = hashlib.sha256(seed.encode()).hexdigest().encode() * (size // 64 + 1)
    return head + filler[: max(0, size - len(head) - len(tail))] + tail


def sha1_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode()


def patient_resource(order: str = "123", status: str = "QUAL") -> dict[str, Any]:
    value = nir.with_key(f"2840375056{order}")
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "LEFEVRE", "given": ["HELENE"]}],
        "birthDate": "1984-03-21",
        "gender": "female",
    }
    if status in ("QUAL", "RECUP"):
        res["identifier"] = [{"use": "official", "system": nir.TEST_SYSTEM, "value": value}]
    profile.set_reliability(res, status=status, comments=set())
    return res


def add_patient(repo: Repository, status: str = "QUAL", order: str = "123") -> str:
    stored = repo.create(IDENTITY_OP, patient_resource(order, status)).stored
    assert stored is not None
    return f"Patient/{stored.id}"


def practitioner(rpps: str = RPPS, pid: str = "author") -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [{"system": documents.IDNPS_SYSTEM, "value": "8" + rpps}],
        "name": [{"family": "MARTIN", "given": ["PAUL"]}],
    }


def document_reference(
    patient: str,
    content: bytes,
    binary_url: str,
    *,
    type_code: str = "11490-0",
    rpps: str = RPPS,
    content_type: str = "application/pdf",
    replaces: str | None = None,
    related: list[str] | None = None,
    visibility: list[str] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "contained": [practitioner(rpps)],
        "masterIdentifier": {
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:oid:1.2.250.1.999.{uuid.uuid4().int % 10**12}",
        },
        "status": "current",
        "type": {"coding": [{"system": t.LOINC, "code": type_code}]},
        "category": [{"coding": [{"system": t.CLASS_SYSTEM, "code": "10"}]}],
        "subject": {"reference": patient},
        "date": "2026-11-20T10:00:00+01:00",
        "author": [{"reference": "#author"}],
        "securityLabel": [{"coding": [{"system": labels.CONFIDENTIALITY_SYSTEM, "code": "N"}]}]
        + [
            {"coding": [{"system": labels.DMP_VISIBILITY_SYSTEM, "code": v}]}
            for v in visibility or []
        ],
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "language": "fr-FR",
                    "url": binary_url,
                    "size": len(content),
                    "hash": sha1_b64(content),
                    "title": "Lettre de liaison",
                },
                "format": {
                    "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                    "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                },
            }
        ],
        "context": {
            "period": {"start": "2026-11-19T09:00:00+01:00"},
            "facilityType": {"coding": [{"system": t.FACILITY_SYSTEM, "code": "SA01"}]},
            "practiceSetting": {
                "coding": [
                    {
                        "system": t.NOS + "/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
                        "code": "ETABLISSEMENT",
                    }
                ]
            },
        },
    }
    if replaces:
        doc["relatesTo"] = [{"code": "replaces", "target": {"reference": replaces}}]
    if related:
        doc["context"]["related"] = [{"reference": r} for r in related]
    return doc


def provide_bundle(patient: str, contents: list[bytes], **kw: Any) -> dict[str, Any]:
    """An ITI-65 bundle: SubmissionSet, one DocumentReference and one Binary per content."""
    ss_url = f"urn:uuid:{uuid.uuid4()}"
    entries: list[dict[str, Any]] = []
    items = []
    for content in contents:
        doc_url, bin_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        items.append({"item": {"reference": doc_url}})
        entries.append(
            {
                "fullUrl": doc_url,
                "resource": document_reference(patient, content, bin_url, **kw),
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
        entries.append(
            {
                "fullUrl": bin_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": kw.get("content_type", "application/pdf"),
                    "data": base64.b64encode(content).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    ss = {
        "resourceType": "List",
        "extension": [
            {"url": mhd.SOURCE_ID_URL, "valueIdentifier": {"value": "urn:oid:1.2.250.1.999.1"}},
            {
                "url": mhd.DESIGNATION_TYPE_URL,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://mos.esante.gouv.fr/NOS/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
                            "code": "04",
                        }
                    ]
                },
            },
        ],
        "identifier": [
            {
                "use": "usual",
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:oid:1.2.250.1.999.2.{uuid.uuid4().int % 10**9}",
            },
            {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": mhd.LIST_TYPES, "code": "submissionset"}]},
        "subject": {"reference": patient},
        "date": "2026-11-20T10:00:00+01:00",
        "source": {"reference": "#author"},
        "contained": [practitioner()],
        "entry": items,
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {
            "profile": [
                "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"
            ]
        },
        "entry": [
            {"fullUrl": ss_url, "resource": ss, "request": {"method": "POST", "url": "List"}},
            *entries,
        ],
    }
