"""The row filter of a search about a few patients names those patients instead of the whole
care team (access/restriction.py `patient_scope`): it must show exactly what the full filter
shows, for every role and every shape of patient search, and fall back when it cannot say."""

from __future__ import annotations

import pytest

from hygie import access
from hygie.access import restriction
from hygie.store import Context, Repository
from hygie.store.context import SearchScope
from tests.access import world

BASE = "http://test/fhir"
QUERIES = [
    ("Observation", [("patient", "Patient/pa")]),
    ("Observation", [("patient", "pg")]),
    ("Observation", [("subject", "Patient/pall")]),
    ("Observation", [("patient", "pa,po")]),  # one visible, one not (for gp1)
    ("Observation", [("patient", "po")]),
    ("Observation", [("patient:Patient", "pa"), ("_summary", "count")]),
    ("DocumentReference", [("patient", "pa")]),
    ("DocumentReference", [("subject", "Patient/pm"), ("_count", "2")]),
    ("Binary", [("_id", "nope")]),
    ("MedicationRequest", [("patient", "pbtg")]),
]


@pytest.fixture
def secured(repo: Repository) -> Repository:
    access.install(repo)
    world.build(repo)
    return repo


def _found(repo: Repository, ctx: Context, rtype: str, params: list) -> tuple:
    try:
        bundle = repo.search(ctx, rtype, params, base=BASE)
    except Exception as exc:  # a refusal must be the same refusal
        return ("refused", getattr(exc, "status", None))
    ids = sorted(e["resource"]["id"] for e in bundle.get("entry", []))
    return (bundle.get("total"), tuple(ids))


def test_the_narrowed_filter_shows_exactly_what_the_full_one_shows(secured, monkeypatch):
    narrowed = {
        (role.name, rtype, str(params)): _found(secured, role.ctx, rtype, params)
        for role in world.roles()
        for rtype, params in QUERIES
    }
    monkeypatch.setattr(restriction, "patient_scope", lambda scope: None)
    full = {
        (role.name, rtype, str(params)): _found(secured, role.ctx, rtype, params)
        for role in world.roles()
        for rtype, params in QUERIES
    }
    assert narrowed == full
    assert sum(1 for v in full.values() if v[1]) > 10  # the queries do find things


def test_what_the_patient_scope_of_a_search_is():
    scope = restriction.patient_scope
    assert scope(SearchScope(("Observation",), None, (("patient", "Patient/p7"),))) == {"p7"}
    assert scope(SearchScope(("Observation",), ("Patient", "p9"), (("code", "x"),))) == {"p9"}
    assert scope(SearchScope(("Observation",), None, (("subject", "p1,p2"),))) == {"p1", "p2"}
    for params in (
        (("patient:not", "p7"),),
        (("patient:missing", "true"),),
        (("subject", "Group/1"),),
        (("patient", "p7"), ("_include", "Observation:subject")),
        (("patient", "p7"), ("_has:Provenance:target:agent", "x")),
        (("patient.name", "Dupont"),),
        (("code", "x"),),
        (("patient", "http://elsewhere/fhir/Patient/p7"),),
    ):
        assert scope(SearchScope(("Observation",), None, params)) is None, params
    assert scope(SearchScope(("Observation", "Condition"), None, (("patient", "p7"),))) is None
