"""A patient created by POST (the server chooses its id) is in its own Patient compartment:
the patient finds their own Patient resource by search, not only by read (regression: the
self-membership row was extracted before the id existed, so searches by the patient, which
filter on the compartment, missed it)."""

from __future__ import annotations

from hygie import access
from hygie.store import Context, Repository
from hygie.store.context import PATIENT


def test_a_posted_patient_finds_itself(repo: Repository) -> None:
    access.install(repo)
    system = Context.system()
    # a client-sent id on POST is ignored (http.html#create): its rows must not survive
    created = repo.create(
        system, {"resourceType": "Patient", "id": "ignored", "name": [{"family": "Dupont"}]}
    )
    pid = created.stored.id
    assert pid != "ignored"
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"}}
    repo.create(system, {**obs, "subject": {"reference": f"Patient/{pid}"}})
    with repo.backend.read() as cur:
        rows = cur.fetchall(
            "SELECT c.cid FROM compartment c JOIN resources r ON r.rid = c.rid"
            " WHERE r.rtype = 'Patient' AND c.ctype = 'Patient'"
        )
    assert [r[0] for r in rows] == [pid]
    me = Context(
        actor=f"Patient/{pid}",
        kind=PATIENT,
        scopes=frozenset({"patient/*.rs"}),
        patient=f"Patient/{pid}",
    )
    found = repo.search(me, "Patient", [], base="http://t/fhir")
    assert [e["resource"]["id"] for e in found["entry"]] == [pid]
    everything = repo.search(me, None, [], base="http://t/fhir", compartment=("Patient", pid))
    types = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert types == ["Observation", "Patient"]


def test_a_loaded_patient_without_id_is_in_its_own_compartment(repo: Repository) -> None:
    """The bulk path (`hygie import` of resources without an id) chooses ids too."""
    repo.load(Context.system(), [{"resourceType": "Patient", "name": [{"family": "Sans-Id"}]}])
    with repo.backend.read() as cur:
        rows = cur.fetchall(
            "SELECT r.id, c.cid FROM compartment c JOIN resources r ON r.rid = c.rid"
            " WHERE r.rtype = 'Patient' AND c.ctype = 'Patient'"
        )
    assert len(rows) == 1 and rows[0][0] == rows[0][1]
