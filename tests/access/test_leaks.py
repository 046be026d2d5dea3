"""Hidden resources must not leak through any search feature, not even as a count: a GP who
does not treat patient `pa` (gp2 treats only `po`) probes pa's data every way there is."""

from __future__ import annotations

import pytest

from hygie import access, audit
from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository
from hygie.store.bundle import BundleProcessor
from tests.access import world

BASE = "http://test/fhir"
GP2 = world._pro("gp2")


@pytest.fixture
def secured(repo: Repository) -> Repository:
    access.install(repo)
    audit.install(repo, seal_every=None)
    world.build(repo)
    repo.update(
        Context.system(),
        "List",
        "l1",
        {
            "resourceType": "List",
            "id": "l1",
            "status": "current",
            "mode": "working",
            "entry": [{"item": {"reference": "Observation/obs-pa"}}],
        },
    )
    return repo


def ids(bundle: dict) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}


def search(repo: Repository, rtype: str | None, params: list, **kw) -> dict:
    return repo.search(GP2, rtype, params, base=BASE, **kw)


def pa_data(found: set[str]) -> set[str]:
    return {f for f in found if f != "Patient/pa" and ("-pa" in f)}


def test_includes_chains_has_list_compartments(secured: Repository) -> None:
    probes = [
        ("Patient", [("_id", "pa"), ("_revinclude", "Observation:patient")]),
        ("Patient", [("_id", "pa"), ("_revinclude", "*")]),
        ("Patient", [("_id", "pa"), ("_revinclude:iterate", "*"), ("_include:iterate", "*")]),
        ("CareTeam", [("_id", "ct-po"), ("_include", "*"), ("_revinclude:iterate", "*")]),
        ("Observation", [("patient.name", "Test-pa")]),
        ("Observation", [("patient:Patient.name", "Test-pa"), ("_total", "accurate")]),
        ("Observation", [("_list", "l1")]),
        ("Observation", [("_id", "obs-pa")]),
        ("DocumentReference", [("subject", "Patient/pa"), ("_total", "accurate")]),
        ("Consent", [("patient", "Patient/pa")]),
        ("Binary", []),
    ]
    for rtype, params in probes:
        bundle = search(secured, rtype, params)
        assert pa_data(ids(bundle)) == set(), (rtype, params)
        assert bundle.get("total", 0) <= len(bundle["entry"]), (rtype, params)
    # _has reveals nothing about pa's observations: only the treated patient matches
    has = search(secured, "Patient", [("_has:Observation:patient:code", "8867-4")])
    assert ids(has) == {"Patient/po"}
    # counts
    for params in ([("patient", "Patient/pa")], [("_id", "obs-pa")], []):
        bundle = search(secured, "Observation", [*params, ("_summary", "count")])
        assert bundle["total"] == (0 if params else 1)  # only obs-po
    # compartment searches
    comp = search(secured, None, [], compartment=("Patient", "pa"))
    assert pa_data(ids(comp)) == set()
    count = search(secured, None, [("_summary", "count")], compartment=("Patient", "pa"))
    assert count["total"] == 1  # the Patient resource itself (identity)
    # system-level search over several types
    every = search(secured, None, [("_type", "Observation,Consent,CareTeam,Patient")])
    assert pa_data(ids(every)) == set()
    # paging stays within what is visible
    page = search(secured, "Observation", [("_count", "1")])
    assert ids(page) == {"Observation/obs-po"} and not any(
        link["relation"] == "next" for link in page["link"]
    )


def test_history_reads_and_bundles(secured: Repository) -> None:
    for q in (HistoryQuery("Observation"), HistoryQuery(None)):
        hist = secured.history(GP2, q, base=BASE, extra=[])
        found = {e["fullUrl"].removeprefix(BASE + "/") for e in hist["entry"]}
        assert pa_data(found) == set()
    for call in (
        lambda: secured.read(GP2, "Observation", "obs-pa"),
        lambda: secured.vread(GP2, "Observation", "obs-pa", "1"),
        lambda: secured.history(GP2, HistoryQuery("Observation", "obs-pa"), base=BASE, extra=[]),
    ):
        with pytest.raises(FhirError) as exc:
            call()
        assert exc.value.status == 404
    batch = BundleProcessor(secured).process(
        GP2,
        {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"request": {"method": "GET", "url": "Observation/obs-pa"}},
                {"request": {"method": "GET", "url": "Observation?patient=Patient/pa"}},
            ],
        },
        base=BASE,
    )
    assert batch["entry"][0]["response"]["status"].startswith("404")
    assert batch["entry"][1]["resource"]["entry"] == []


def test_conditional_writes_do_not_reveal_hidden_matches(secured: Repository) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "poids"},
        "subject": {"reference": "Patient/po"},
    }
    created = secured.create(GP2, dict(obs), if_none_exist="_id=obs-pa")
    assert created.status == 201  # the hidden match does not count
    gone = secured.conditional_delete(GP2, "Observation", "_id=obs-pa")
    assert gone.status == 204
    assert secured.read(Context.system(), "Observation", "obs-pa").version == 1
    tx = BundleProcessor(secured).process(
        GP2,
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": dict(obs),
                    "request": {
                        "method": "POST",
                        "url": "Observation",
                        "ifNoneExist": "_id=obs-pa",
                    },
                },
                {"request": {"method": "DELETE", "url": "Observation?_id=obs-pa"}},
            ],
        },
        base=BASE,
    )
    assert tx["entry"][0]["response"]["status"].startswith("201")
    assert secured.read(Context.system(), "Observation", "obs-pa").version == 1


def test_writes_follow_the_care_relationship(secured: Repository) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "poids"},
        "subject": {"reference": "Patient/pa"},
    }
    with pytest.raises(FhirError) as exc:
        secured.create(GP2, obs)
    assert exc.value.status == 403
    gp1 = world._pro("gp1")
    assert secured.create(gp1, obs).status == 201
    # the patient hides a document from professionals; may not hold it back from themself
    patient = Context(
        actor="Patient/pa",
        kind="patient",
        scopes=frozenset({"patient/*.cruds"}),
        patient="Patient/pa",
    )
    doc = secured.read(Context.system(), "DocumentReference", "doc-pa-0").resource()
    doc["securityLabel"] = [
        {"coding": [{"system": world.DMP_VISIBILITY_SYSTEM, "code": "MASQUE_PS"}]}
    ]
    assert secured.update(patient, "DocumentReference", "doc-pa-0", doc).status == 200
    with pytest.raises(FhirError):
        secured.read(gp1, "DocumentReference", "doc-pa-0")
    doc["securityLabel"][0]["coding"][0]["code"] = "INVISIBLE_PATIENT"
    with pytest.raises(FhirError) as exc:
        secured.update(patient, "DocumentReference", "doc-pa-0", doc)
    assert exc.value.status == 403
    # deletion: by the patient, not by a professional who is not the author
    with pytest.raises(FhirError) as exc:
        secured.delete(gp1, "DocumentReference", "doc-pa-4")  # visible, written by another
    assert exc.value.status == 403
    with pytest.raises(FhirError) as exc:
        secured.delete(gp1, "DocumentReference", "doc-pa-1")  # masked: as if it did not exist
    assert exc.value.status == 404
    assert secured.delete(patient, "DocumentReference", "doc-pa-1").status == 200
