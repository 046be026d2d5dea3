"""The life of a fiche: who may delete it or change its visibility, what may change, and the
PDSm rules of logical deletion, through the Repository with each caller's Context."""

from __future__ import annotations

import pytest

from hygie.access import labels
from hygie.fhir.outcome import FhirError
from hygie.services.records import documents
from hygie.services.records.lifecycle import delete_document, set_visibility
from hygie.store import Context
from hygie.store.bundle import BundleProcessor
from hygie.store.context import AUTH_MFA, PATIENT, PRACTITIONER
from tests.services.records.conftest import (
    OTHER_RPPS,
    RPPS,
    add_patient,
    pdf,
    practitioner,
    provide_bundle,
)

BASE = "http://testserver/fhir"


def publish(repo, patient, **kw) -> str:
    bundle = provide_bundle(patient, [pdf(300, str(kw))], **kw)
    doc = bundle["entry"][1]["resource"]
    doc.pop("contained")
    doc["author"] = [{"reference": "Practitioner/author"}]  # on the server: the policy knows it
    out = BundleProcessor(repo).process(Context.system(), bundle, base=BASE)
    return out["entry"][1]["response"]["location"].split("/")[1]


def pro(pid: str, rpps: str) -> Context:
    """A professional as the token layer builds one: scopes, two factors, RPPS."""
    return Context(
        actor=f"Practitioner/{pid}",
        kind=PRACTITIONER,
        scopes=frozenset({"user/*.cruds"}),
        auth_level=AUTH_MFA,
        profession="10",
        rpps=rpps,
    )


def author() -> Context:
    return pro("author", RPPS)


def other_doctor() -> Context:
    return pro("other", OTHER_RPPS)


def the_patient(patient: str) -> Context:
    return Context(
        actor=patient, kind=PATIENT, scopes=frozenset({"patient/*.cruds"}), patient=patient
    )


def add_cared_patient(repo, order: str = "123") -> str:
    """A qualified patient whose care team holds both professionals (the policy's condition)."""
    patient = add_patient(repo, order=order)
    system = Context.system()
    for pid, rpps in (("author", RPPS), ("other", OTHER_RPPS)):
        repo.update(system, "Practitioner", pid, practitioner(rpps, pid))
    members = [{"member": {"reference": f"Practitioner/{p}"}} for p in ("author", "other")]
    repo.create(
        system,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": patient},
            "participant": members,
        },
    )
    return patient


def test_deletion_by_the_author_propagates_to_replaced_fiches_and_is_final(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    v1 = publish(repo, patient)
    v2 = publish(repo, patient, replaces=f"DocumentReference/{v1}")
    with pytest.raises(FhirError) as denied:
        delete_document(repo, other_doctor(), v2, base=BASE)
    assert denied.value.status == 403
    deleted = delete_document(repo, author(), v2, base=BASE)
    assert documents.is_deleted(deleted) and deleted["status"] == "superseded"
    old = repo.read(Context.system(), "DocumentReference", v1).resource()
    assert documents.is_deleted(old)
    with pytest.raises(FhirError) as again:
        delete_document(repo, author(), v2, base=BASE)
    assert again.value.status == 404
    # no update of a deleted fiche, not even to undelete it
    doc = repo.read(Context.system(), "DocumentReference", v2).resource()
    doc["extension"] = [{"url": documents.IS_DELETED_URL, "valueBoolean": False}]
    doc["status"] = "current"
    with pytest.raises(FhirError) as undelete:
        repo.update(Context.system(), "DocumentReference", v2, doc)
    assert undelete.value.status == 404


def test_the_patient_may_delete_their_document(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    doc = publish(repo, patient)
    assert documents.is_deleted(delete_document(repo, the_patient(patient), doc, base=BASE))
    other = add_cared_patient(repo, order="124")
    doc2 = publish(repo, patient)
    with pytest.raises(FhirError) as denied:
        delete_document(repo, the_patient(other), doc2, base=BASE)
    assert denied.value.status in (403, 404)  # 404: another patient's document is not visible


def test_a_superseded_fiche_is_deleted_only_through_its_replacement(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    v1 = publish(repo, patient)
    publish(repo, patient, replaces=f"DocumentReference/{v1}")
    with pytest.raises(FhirError) as refused:
        delete_document(repo, author(), v1, base=BASE)
    assert refused.value.status == 422


def test_only_status_labels_and_lifecycle_extensions_change(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    rid = publish(repo, patient)
    doc = repo.read(Context.system(), "DocumentReference", rid).resource()
    doc["description"] = "changed after publication"
    with pytest.raises(FhirError) as refused:
        repo.update(author(), "DocumentReference", rid, doc)
    assert refused.value.status == 405
    doc = repo.read(Context.system(), "DocumentReference", rid).resource()
    doc["status"] = "entered-in-error"
    with pytest.raises(FhirError) as eie:
        repo.update(author(), "DocumentReference", rid, doc)
    assert eie.value.status == 422
    doc["status"] = "current"
    doc["extension"] = [{"url": documents.IS_DELETED_URL, "valueBoolean": True}]
    with pytest.raises(FhirError) as half:
        repo.update(author(), "DocumentReference", rid, doc)
    assert half.value.status == 422 and "superseded" in half.value.issues[0].diagnostics


def test_visibility_set_and_cleared_by_the_author_and_masked_by_the_patient(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    rid = publish(repo, patient)

    def codes() -> set[str]:
        doc = repo.read(Context.system(), "DocumentReference", rid).resource()
        return {
            c["code"]
            for cc in doc["securityLabel"]
            for c in cc["coding"]
            if c["system"] == labels.DMP_VISIBILITY_SYSTEM
        }

    set_visibility(repo, author(), rid, add={labels.INVISIBLE_PATIENT}, remove=set())
    assert codes() == {labels.INVISIBLE_PATIENT}
    set_visibility(repo, author(), rid, add=set(), remove={labels.INVISIBLE_PATIENT})
    assert codes() == set()
    set_visibility(repo, the_patient(patient), rid, add={labels.MASQUE_PS}, remove=set())
    assert codes() == {labels.MASQUE_PS}
    for ctx, add in (
        (the_patient(patient), labels.INVISIBLE_REP_LEGAUX),
        (other_doctor(), labels.INVISIBLE_PATIENT),
    ):
        with pytest.raises(FhirError) as denied:
            set_visibility(repo, ctx, rid, add={add}, remove=set())
        assert denied.value.status in (403, 404)  # 404: hidden from that professional
    with pytest.raises(FhirError) as unknown:
        set_visibility(repo, author(), rid, add={"SECRET"}, remove=set())
    assert unknown.value.status == 400
    assert codes() == {labels.MASQUE_PS}


@pytest.mark.anyio
async def test_operations_over_http(app, client):
    patient = add_cared_patient(app.repo)
    rid = publish(app.repo, patient)
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "add", "valueCode": labels.MASQUE_PS}],
    }
    h = {"Content-Type": "application/fhir+json"}
    r = await client.post(f"/fhir/DocumentReference/{rid}/$visibility", json=params, headers=h)
    assert r.status_code == 200, r.text
    assert any(
        c["code"] == labels.MASQUE_PS for cc in r.json()["securityLabel"] for c in cc["coding"]
    )
    doc = r.json()
    binary = doc["content"][0]["attachment"]["url"]
    assert (await client.get(f"/fhir/{binary}")).status_code == 200
    r = await client.post(f"/fhir/DocumentReference/{rid}/$logical-delete", headers=h)
    assert r.status_code == 200, r.text
    assert documents.is_deleted(r.json())
    gone = await client.get(
        f"/fhir/{binary}"
    )  # the document of a deleted fiche is no longer served
    assert gone.status_code == 404
    assert gone.json()["resourceType"] == "OperationOutcome"
    pid = patient.split("/")[1]
    live = (await client.get(f"/fhir/DocumentReference?patient={pid}&isDeleted:not=true")).json()
    assert not live.get("entry")
    # PDSm: a deleted fiche is no longer returned, unless the search asks for deleted ones
    plain = (await client.get(f"/fhir/DocumentReference?patient={pid}")).json()
    assert not plain.get("entry") and "isDeleted" in plain["link"][0]["url"]
    count = (await client.get(f"/fhir/DocumentReference?patient={pid}&_summary=count")).json()
    assert count["total"] == 0
    deleted = (await client.get(f"/fhir/DocumentReference?patient={pid}&isDeleted=true")).json()
    assert [e["resource"]["id"] for e in deleted["entry"]] == [rid]
    compartment = (await client.get(f"/fhir/Patient/{pid}/DocumentReference")).json()
    assert not compartment.get("entry")


async def test_a_deletion_by_patch_or_put_propagates_to_replaced_fiches(app, client):
    """PDSm's own form of the deletion (a PATCH, or a PUT, setting isDeleted and superseded)
    deletes the fiches the deleted one replaced, in the same transaction, as $logical-delete."""
    patient = add_cared_patient(app.repo)
    v1 = publish(app.repo, patient)
    v2 = publish(app.repo, patient, replaces=f"DocumentReference/{v1}")
    v3 = publish(app.repo, patient, replaces=f"DocumentReference/{v2}")
    ops = [
        {"op": "replace", "path": "/status", "value": "superseded"},
        {
            "op": "add",
            "path": "/extension",
            "value": [{"url": documents.IS_DELETED_URL, "valueBoolean": True}],
        },
    ]
    h = {"Content-Type": "application/json-patch+json"}
    r = await client.patch(f"/fhir/DocumentReference/{v3}", json=ops, headers=h)
    assert r.status_code == 200, r.text
    assert documents.is_deleted(r.json()) and r.headers["etag"] == 'W/"2"'
    for rid in (v1, v2):
        old = app.repo.read(Context.system(), "DocumentReference", rid).resource()
        assert documents.is_deleted(old), rid
    # a PUT deleting a fiche does the same
    w1 = publish(app.repo, patient)
    w2 = publish(app.repo, patient, replaces=f"DocumentReference/{w1}")
    doc = (await client.get(f"/fhir/DocumentReference/{w2}")).json()
    doc["status"] = "superseded"
    doc["extension"] = [{"url": documents.IS_DELETED_URL, "valueBoolean": True}]
    r = await client.put(
        f"/fhir/DocumentReference/{w2}",
        json=doc,
        headers={"Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    old = app.repo.read(Context.system(), "DocumentReference", w1).resource()
    assert documents.is_deleted(old)
    # a stale If-Match: 412, and nothing written
    x1 = publish(app.repo, patient)
    x2 = publish(app.repo, patient, replaces=f"DocumentReference/{x1}")
    h412 = {**h, "If-Match": 'W/"7"'}
    r = await client.patch(f"/fhir/DocumentReference/{x2}", json=ops, headers=h412)
    assert r.status_code == 412, r.text
    for rid in (x1, x2):
        doc = app.repo.read(Context.system(), "DocumentReference", rid).resource()
        assert not documents.is_deleted(doc)
    # a PATCH that deletes nothing takes the plain path
    label = [
        {
            "op": "add",
            "path": "/securityLabel",
            "value": [
                {"coding": [{"system": labels.DMP_VISIBILITY_SYSTEM, "code": labels.MASQUE_PS}]}
            ],
        }
    ]
    r = await client.patch(f"/fhir/DocumentReference/{x2}", json=label, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["securityLabel"][0]["coding"][0]["code"] == labels.MASQUE_PS


async def test_put_and_patch_of_an_unknown_fiche_take_the_plain_path(app, client):
    """The records route of DocumentReference PATCH/PUT looks for a deletion to propagate;
    on a fiche that does not exist it leaves the answer to the plain interaction."""
    r = await client.patch(
        "/fhir/DocumentReference/nope",
        json=[{"op": "replace", "path": "/status", "value": "superseded"}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 404, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    r = await client.put(
        "/fhir/DocumentReference/nope",
        json={"resourceType": "DocumentReference", "id": "nope", "status": "current"},
        headers={"Content-Type": "application/fhir+json"},
    )
    # the plain update-as-create path answers: the records rules refuse this incomplete fiche
    assert r.status_code == 400, r.text  # the validator: content is required
    assert r.json()["resourceType"] == "OperationOutcome"
