"""Custom SearchParameters through the Repository: registration, write-time indexing, the
resumable reindex job of existing resources and its status, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from hygie import search
from hygie.store import Context

BASE = "http://test/fhir"
EXT = "http://hygie.test/StructureDefinition/birth-place"
CITIES = ["Nantes", "Rennes", "Brest", "Angers", "Laval"]
SP = {
    "resourceType": "SearchParameter",
    "url": "http://hygie.test/SearchParameter/birth-place",
    "name": "BirthPlace",
    "status": "active",
    "description": "City of birth",
    "code": "birth-place",
    "base": ["Patient"],
    "type": "string",
    "expression": f"Patient.extension('{EXT}').value",
}


def patient(i):
    return {
        "resourceType": "Patient",
        "id": f"p{i}",
        "extension": [{"url": EXT, "valueString": CITIES[i % 5]}],
        "name": [{"family": f"F{i}"}],
    }


def found(repo, query):
    params = [tuple(p.split("=", 1)) for p in query.split("&")]
    bundle = repo.search(Context.system(), "Patient", params, base=BASE)
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def status(repo):
    body = repo.reindex_status(Context.system())
    return [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in j["part"]}
        for j in body["parameter"]
    ]


def test_custom_parameter_lifecycle(repo):
    ctx = Context.system()
    repo.load(ctx, [patient(i) for i in range(23)])
    with pytest.raises(Exception, match="birth-place"):
        found(repo, "birth-place=nantes")
    repo.create(ctx, SP)
    jobs = status(repo)
    assert jobs[-1]["status"] == "pending" and jobs[-1]["parameter"] == "Patient.birth-place"
    # known at once; existing resources are not indexed until the job runs
    assert found(repo, "birth-place=nantes") == []
    newcomer = patient(100)
    del newcomer["id"]
    repo.create(ctx, newcomer)
    assert len(found(repo, "birth-place=nantes")) == 1
    # interrupted after the first chunk, then resumed: every resource exactly once
    calls = []

    def stop_once(job, done, total):
        calls.append((done, total))
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search.run_reindex(repo.backend, chunk=7, progress=stop_once)
    assert status(repo)[-1]["status"] == "running"
    assert search.run_reindex(repo.backend, chunk=7) == 23 - 7
    final = status(repo)[-1]
    assert final["status"] == "done" and final["processed"] == 23 and final["total"] == 23
    expected = sorted(f"p{i}" for i in range(23) if i % 5 == 0)
    assert [i for i in found(repo, "birth-place=nantes") if i.startswith("p")] == expected
    assert len(found(repo, "birth-place=nantes")) == len(expected) + 1
    assert found(repo, "birth-place:exact=Brest&_sort=birth-place")[:2] == ["p12", "p17"]


def test_deleting_the_parameter_unregisters_it(repo):
    ctx = Context.system()
    created = repo.create(ctx, SP)
    assert found(repo, "birth-place=x") == []
    repo.delete(ctx, "SearchParameter", created.stored.id)
    with pytest.raises(Exception, match="birth-place"):
        found(repo, "birth-place=x")


def test_capability_of_a_custom_parameter_cannot_replace_an_official_one(repo):
    repo.create(Context.system(), {**SP, "url": "http://hygie.test/sp/name", "code": "name"})
    # the official `name` (HumanName) still answers
    repo.load(Context.system(), [patient(1)])
    assert found(repo, "name=f1") == ["p1"]
