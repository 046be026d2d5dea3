"""A document published over MHD is found and retrieved by another authorised professional
and by the patient, and hidden from those the rules exclude (issue 8's "done when"), through
the Repository with each caller's Context — the access policy of `hygie.access` decides.

Callers are built as the token layer builds them: SMART scopes, two factors for
professionals, the professional's RPPS, the patient in context."""

from __future__ import annotations

import pytest

from hygie.access import labels
from hygie.fhir.outcome import FhirError
from hygie.store import Context
from hygie.store.bundle import BundleProcessor
from hygie.store.context import AUTH_MFA, PATIENT, PRACTITIONER
from tests.services.records.conftest import (
    OTHER_RPPS,
    RPPS,
    add_patient,
    document_reference,
    pdf,
    practitioner,
    provide_bundle,
)

BASE = "http://testserver/fhir"


def pro(pid: str, rpps: str) -> Context:
    return Context(
        actor=f"Practitioner/{pid}",
        kind=PRACTITIONER,
        scopes=frozenset({"user/*.cruds"}),
        auth_level=AUTH_MFA,
        profession="10",
        rpps=rpps,
    )


def patient_ctx(patient: str) -> Context:
    return Context(
        actor=patient, kind=PATIENT, scopes=frozenset({"patient/*.cruds"}), patient=patient
    )


@pytest.fixture
def world(app):
    repo = app.repo
    system = Context.system()
    patient = add_patient(repo)
    for pid, rpps in (("author", RPPS), ("colleague", OTHER_RPPS), ("stranger", "10303030303")):
        res = practitioner(rpps, pid)
        repo.update(system, "Practitioner", pid, res)
    repo.create(
        system,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": patient},
            "participant": [
                {"member": {"reference": "Practitioner/author"}},
                {"member": {"reference": "Practitioner/colleague"}},
            ],
        },
    )
    docs = {}
    for label in (None, labels.MASQUE_PS, labels.INVISIBLE_PATIENT):
        bundle = provide_bundle(
            patient, [pdf(400, str(label))], visibility=[label] if label else None
        )
        for e in bundle["entry"]:
            if e["resource"]["resourceType"] == "DocumentReference":
                e["resource"].pop("contained")
                e["resource"]["author"] = [{"reference": "Practitioner/author"}]
        out = BundleProcessor(repo).process(pro("author", RPPS), bundle, base=BASE)
        doc_id = out["entry"][1]["response"]["location"].split("/")[1]
        bin_id = out["entry"][2]["response"]["location"].split("/")[1]
        docs[label] = (doc_id, bin_id)
    return repo, patient, docs


def visible(repo, ctx, patient) -> set[str]:
    found = repo.search(ctx, "DocumentReference", [("patient", patient)], base=BASE)
    return {
        e["resource"]["id"]
        for e in found.get("entry", [])
        if e["resource"]["resourceType"] == "DocumentReference"
    }


def can_read_binary(repo, ctx, bin_id) -> bool:
    try:
        repo.read(ctx, "Binary", bin_id)
        return True
    except FhirError as exc:
        assert exc.status in (403, 404)
        return False


def test_who_finds_and_retrieves_what(world):
    repo, patient, docs = world
    plain, masked, held_back = (docs[k] for k in (None, labels.MASQUE_PS, labels.INVISIBLE_PATIENT))
    # another professional of the care team: all but the document hidden from professionals
    colleague = pro("colleague", OTHER_RPPS)
    assert visible(repo, colleague, patient) == {plain[0], held_back[0]}
    assert can_read_binary(repo, colleague, plain[1])
    assert not can_read_binary(repo, colleague, masked[1])
    # the author still sees the document hidden from the other professionals
    assert masked[0] in visible(repo, pro("author", RPPS), patient)
    # the patient: all but the document held back until explained
    me = patient_ctx(patient)
    assert visible(repo, me, patient) == {plain[0], masked[0]}
    assert can_read_binary(repo, me, plain[1])
    assert not can_read_binary(repo, me, held_back[1])
    # a professional outside the care team sees nothing
    stranger = pro("stranger", "10303030303")
    assert visible(repo, stranger, patient) == set()
    assert not can_read_binary(repo, stranger, plain[1])


def test_plain_transaction_creating_a_document_as_a_professional(world):
    """Not an ITI-65 bundle: the records hook checks the new DocumentReference by reading its
    patient, author and Binary with the caller's rights, inside the write transaction; the
    audit records of those reads join that transaction (on SQLite, waiting for another one
    from inside the single writer deadlocked the server: regression)."""
    repo, patient, docs = world
    author = pro("author", RPPS)

    def plain(content: bytes, binary_url: str) -> dict:
        doc = document_reference(patient, content, binary_url)
        doc.pop("contained")
        doc["author"] = [{"reference": "Practitioner/author"}]
        entry = {"resource": doc, "request": {"method": "POST", "url": "DocumentReference"}}
        return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}

    with pytest.raises(FhirError) as err:  # no such Binary: refused, not stuck
        BundleProcessor(repo).process(author, plain(pdf(300, "x"), "Binary/nope"), base=BASE)
    assert err.value.status == 422
    # an addendum pointing at the Binary of the plain document the fixture published
    with repo.backend.read() as cur:
        before = cur.fetchone("SELECT count(*) FROM audit_event WHERE actor = ?", (author.actor,))
    bundle = plain(pdf(400, "None"), f"Binary/{docs[None][1]}")
    out = BundleProcessor(repo).process(author, bundle, base=BASE)
    doc_id = out["entry"][0]["response"]["location"].split("/")[1]
    assert doc_id in visible(repo, author, patient)
    with repo.backend.read() as cur:
        rows = cur.fetchall(
            "SELECT action, content FROM audit_event WHERE actor = ? ORDER BY seq",
            (author.actor,),
        )
    new = rows[before[0] :]
    actions = [r[0] for r in new]
    assert "create" in actions and "read" in actions


def test_a_contained_author_sees_the_document_hidden_from_professionals(world):
    """PDSm's form: the author is a Practitioner contained in the fiche, with the IDNPS. The
    row filter knows it (the `author-identifier` index) as the per-resource check does: the
    author finds and reads the MASQUE_PS document, the colleague of the care team does not."""
    repo, patient, _ = world
    bundle = provide_bundle(patient, [pdf(500, "contained")], visibility=[labels.MASQUE_PS])
    out = BundleProcessor(repo).process(pro("author", RPPS), bundle, base=BASE)
    doc_id = out["entry"][1]["response"]["location"].split("/")[1]
    doc = repo.read(Context.system(), "DocumentReference", doc_id).resource()
    assert doc["contained"][0]["identifier"][0]["value"] == "8" + RPPS  # no server reference
    assert not any(a["reference"].startswith("Practitioner/") for a in doc["author"])
    author, colleague = pro("author", RPPS), pro("colleague", OTHER_RPPS)
    assert doc_id in visible(repo, author, patient)
    assert repo.read(author, "DocumentReference", doc_id).resource()["id"] == doc_id
    count = repo.search(
        author, "DocumentReference", [("patient", patient), ("_summary", "count")], base=BASE
    )
    assert count["total"] == len(visible(repo, author, patient))
    assert doc_id not in visible(repo, colleague, patient)
    with pytest.raises(FhirError) as hidden:
        repo.read(colleague, "DocumentReference", doc_id)
    assert hidden.value.status == 404
