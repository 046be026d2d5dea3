"""IHE MHD over HTTP on both databases: ITI-65 publish, ITI-66/67 find, ITI-68 retrieve, and
all-or-nothing on every kind of invalid part."""

from __future__ import annotations

import base64
import copy

import pytest

from hygie.access import labels
from tests.services.records.conftest import (
    add_patient,
    document_reference,
    pdf,
    provide_bundle,
    sha1_b64,
)

pytestmark = pytest.mark.anyio
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


async def publish(client, bundle):
    return await client.post("/fhir", json=bundle, headers=FHIR)


async def counts(client) -> dict[str, int]:
    out = {}
    for rtype in ("DocumentReference", "Binary", "List"):
        r = await client.get(f"/fhir/{rtype}?_summary=count", headers=FHIR)
        out[rtype] = r.json()["total"]
    return out


async def test_publish_find_and_retrieve(app, client):
    patient = add_patient(app.repo)
    content = pdf(5000, "a")
    r = await publish(client, provide_bundle(patient, [content]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * 3
    doc_loc = body["entry"][1]["response"]["location"]
    doc_id = doc_loc.split("/")[1]

    # ITI-67: by patient, status, class, type, date, setting, facility, security-label
    pid = patient.split("/")[1]
    for query in (
        f"patient={pid}",
        f"patient={pid}&status=current",
        f"patient={pid}&category=10",
        f"patient={pid}&type=http://loinc.org|11490-0",
        f"patient={pid}&date=ge2026-11-01",
        f"patient={pid}&setting=ETABLISSEMENT",
        f"patient={pid}&facility=SA01",
        f"patient={pid}&security-label=N",
        # the author is contained (PDSm's form): the chain looks inside it (R4 search#contained)
        f"patient={pid}&author.family=MARTIN",
        f"patient={pid}&author.given=PAUL",
    ):
        found = (await client.get(f"/fhir/DocumentReference?{query}", headers=FHIR)).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [doc_id], query
    for query in (f"patient={pid}&type=http://loinc.org|11502-2", "author.family=DUPONT"):
        none = (await client.get(f"/fhir/DocumentReference?{query}", headers=FHIR)).json()
        assert not none.get("entry"), query

    # ITI-66: submission sets of the patient
    sets = (
        await client.get(
            f"/fhir/List?code=https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset&patient={pid}",
            headers=FHIR,
        )
    ).json()
    assert len(sets["entry"]) == 1
    ss = sets["entry"][0]["resource"]
    assert ss["entry"][0]["item"]["reference"] == f"DocumentReference/{doc_id}"
    by_source = (
        await client.get("/fhir/List?sourceId=urn:oid:1.2.250.1.999.1", headers=FHIR)
    ).json()
    assert len(by_source["entry"]) == 1

    # ITI-68: the attachment URL serves the bytes with their type
    doc = (await client.get(f"/fhir/DocumentReference/{doc_id}", headers=FHIR)).json()
    url = doc["content"][0]["attachment"]["url"]
    assert url.startswith("Binary/")
    raw = await client.get(f"/fhir/{url}", headers={"Accept": "application/pdf"})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.content == content
    assert int(raw.headers["content-length"]) == len(content)
    as_json = (await client.get(f"/fhir/{url}", headers=FHIR)).json()
    assert base64.b64decode(as_json["data"]) == content
    assert as_json["securityContext"]["reference"] == f"DocumentReference/{doc_id}"


async def test_bundle_without_profile_is_recognised_by_its_submission_set(app, client):
    patient = add_patient(app.repo)
    bundle = provide_bundle(patient, [pdf(100, "b")])
    del bundle["meta"]
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["size"] += 1
    r = await publish(client, bundle)
    assert r.status_code == 422  # the MHD rules ran
    assert "attachment.size" in r.text


def _break(kind: str, bundle: dict, app) -> None:
    doc = bundle["entry"][1]["resource"]
    att = doc["content"][0]["attachment"]
    if kind == "hash":
        att["hash"] = sha1_b64(b"other bytes")
    elif kind == "size":
        att["size"] = att["size"] - 1
    elif kind == "missing-binary":
        del bundle["entry"][2]
    elif kind == "unlisted":
        bundle["entry"][0]["resource"]["entry"] = []
    elif kind == "class":
        doc["category"][0]["coding"][0]["code"] = "77"
    elif kind == "type":
        doc["type"]["coding"][0]["code"] = "00000-0"
    elif kind == "confidentiality":
        doc["securityLabel"] = []
    elif kind == "format":
        doc["content"][0]["format"] = {"system": "http://example.org", "code": "pdf"}
    elif kind == "no-rpps":
        doc["contained"][0]["identifier"] = []
    elif kind == "not-pdf":
        bundle["entry"][2]["resource"]["data"] = base64.b64encode(b"GIF89a not a pdf").decode()
    elif kind == "truncated-pdf":
        bundle["entry"][2]["resource"]["data"] = base64.b64encode(pdf(500)[:-10]).decode()
    elif kind == "content-type":
        bundle["entry"][2]["resource"]["contentType"] = "application/x-msdownload"
    elif kind == "no-source-id":
        bundle["entry"][0]["resource"]["extension"] = bundle["entry"][0]["resource"]["extension"][
            1:
        ]
    elif kind == "other-patient":
        doc["subject"]["reference"] = add_patient(app.repo, order="124")
    elif kind == "provisional":
        other = add_patient(app.repo, status="PROV")
        doc["subject"]["reference"] = other
        bundle["entry"][0]["resource"]["subject"]["reference"] = other
    elif kind == "retrieved-only":
        other = add_patient(app.repo, status="RECUP", order="125")
        doc["subject"]["reference"] = other
        bundle["entry"][0]["resource"]["subject"]["reference"] = other
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "hash",
        "size",
        "missing-binary",
        "unlisted",
        "class",
        "type",
        "confidentiality",
        "format",
        "no-rpps",
        "not-pdf",
        "truncated-pdf",
        "content-type",
        "no-source-id",
        "other-patient",
        "provisional",
        "retrieved-only",
    ],
)
async def test_any_invalid_part_rejects_the_whole_bundle(app, client, kind):
    patient = add_patient(app.repo)
    good = provide_bundle(patient, [pdf(800, "ok"), pdf(900, "ok2")])
    before = await counts(client)
    bundle = copy.deepcopy(good)
    _break(kind, bundle, app)
    r = await publish(client, bundle)
    assert r.status_code in (400, 422), (kind, r.status_code, r.text)
    assert r.json()["resourceType"] == "OperationOutcome"
    assert await counts(client) == before, kind  # nothing written
    assert (await publish(client, good)).status_code == 200


async def test_replacement_supersedes_the_old_fiche_in_the_same_transaction(app, client):
    patient = add_patient(app.repo)
    first = await publish(client, provide_bundle(patient, [pdf(300, "v1")]))
    old_id = first.json()["entry"][1]["response"]["location"].split("/")[1]
    r = await publish(
        client, provide_bundle(patient, [pdf(300, "v2")], replaces=f"DocumentReference/{old_id}")
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["entry"]) == 3  # one answer per request entry
    new_id = r.json()["entry"][1]["response"]["location"].split("/")[1]
    old = (await client.get(f"/fhir/DocumentReference/{old_id}", headers=FHIR)).json()
    assert old["status"] == "superseded"
    pid = patient.split("/")[1]
    current = (
        await client.get(f"/fhir/DocumentReference?patient={pid}&status=current", headers=FHIR)
    ).json()
    assert [e["resource"]["id"] for e in current["entry"]] == [new_id]
    related = (
        await client.get(
            f"/fhir/DocumentReference?relatesto=DocumentReference/{old_id}", headers=FHIR
        )
    ).json()
    assert [e["resource"]["id"] for e in related["entry"]] == [new_id]
    # a superseded fiche cannot be replaced again
    again = await publish(
        client, provide_bundle(patient, [pdf(300, "v3")], replaces=f"DocumentReference/{old_id}")
    )
    assert again.status_code == 422 and "superseded" in again.text


async def test_imaging_report_links_its_study(app, client):
    patient = add_patient(app.repo)
    endpoint = await client.post(
        "/fhir/Endpoint",
        json={
            "resourceType": "Endpoint",
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example.org/wado",
        },
        headers=FHIR,
    )
    eid = endpoint.json()["id"]
    study = await client.post(
        "/fhir/ImagingStudy",
        json={
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": patient},
            "endpoint": [{"reference": f"Endpoint/{eid}"}],
        },
        headers=FHIR,
    )
    sid = study.json()["id"]
    nostudy = await client.post(
        "/fhir/ImagingStudy",
        json={
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": patient},
        },
        headers=FHIR,
    )
    r = await publish(
        client,
        provide_bundle(
            patient,
            [pdf(400, "img")],
            type_code="18748-4",
            related=[f"ImagingStudy/{nostudy.json()['id']}"],
        ),
    )
    assert r.status_code == 422 and "endpoint" in r.text
    r = await publish(
        client,
        provide_bundle(
            patient, [pdf(400, "img")], type_code="18748-4", related=[f"ImagingStudy/{sid}"]
        ),
    )
    assert r.status_code == 200, r.text
    doc_id = r.json()["entry"][1]["response"]["location"].split("/")[1]
    found = (
        await client.get(
            f"/fhir/DocumentReference?related=ImagingStudy/{sid}&_include=DocumentReference:related",
            headers=FHIR,
        )
    ).json()
    kinds = sorted((e["resource"]["resourceType"], e["resource"]["id"]) for e in found["entry"])
    assert kinds == [("DocumentReference", doc_id), ("ImagingStudy", sid)]


async def test_visibility_labels_are_found_by_security_label(app, client):
    patient = add_patient(app.repo)
    r = await publish(
        client, provide_bundle(patient, [pdf(200, "vis")], visibility=[labels.INVISIBLE_PATIENT])
    )
    assert r.status_code == 200, r.text
    found = (
        await client.get(
            f"/fhir/DocumentReference?security-label={labels.DMP_VISIBILITY_SYSTEM}|{labels.INVISIBLE_PATIENT}",
            headers=FHIR,
        )
    ).json()
    assert len(found["entry"]) == 1


async def test_direct_document_reference_creation_obeys_the_same_rules(app, client):
    patient = add_patient(app.repo)
    content = pdf(700, "direct")
    up = await client.post(
        "/fhir/Binary", content=content, headers={"Content-Type": "application/pdf"}
    )
    assert up.status_code == 201, up.text
    bid = up.json()["id"]
    doc = document_reference(patient, content, f"Binary/{bid}")
    bad = copy.deepcopy(doc)
    bad["content"][0]["attachment"]["hash"] = sha1_b64(b"nope")
    r = await client.post("/fhir/DocumentReference", json=bad, headers=FHIR)
    assert r.status_code == 422 and "hash" in r.text
    prov = add_patient(app.repo, status="VALI", order="126")
    r = await client.post(
        "/fhir/DocumentReference", json={**doc, "subject": {"reference": prov}}, headers=FHIR
    )
    assert r.status_code == 422 and "QUAL" in r.text
    r = await client.post("/fhir/DocumentReference", json=doc, headers=FHIR)
    assert r.status_code == 201, r.text
