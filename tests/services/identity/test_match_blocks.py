"""$match's blocks: the name block (costly at scale) runs only when the identifier and birth-date
blocks found no certain or probable match; a wrong birth date is still matched through it."""

from __future__ import annotations

from hygie.services.identity import matching
from hygie.store import Context

BASE = "http://test/fhir"


def _patient(pid, family, given, born, gender="female"):
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "birthDate": born,
        "gender": gender,
    }


def _ids(repo, query):
    bundle = matching.match(repo, Context.system(), query, base=BASE, count=10)
    return [
        (e["resource"]["id"], e["search"]["extension"][0]["valueCode"]) for e in bundle["entry"]
    ]


def test_name_block_only_when_the_dates_find_no_probable_match(repo):
    ctx = Context.system()
    repo.load(ctx, [
        _patient("a", "Lefèvre", "Hélène", "1984-03-21"),
        _patient("homonym", "Lefèvre", "Hélène", "1990-11-02"),  # same name, born another day
        _patient("other", "Garcia", "Inès", "1984-03-21"),
    ])  # fmt: skip
    # right birth date: the date block finds "a" (probable or better); the homonym is not listed
    found = _ids(repo, _patient(None, "LEFEVRE", "Helene", "1984-03-21"))
    assert found[0][0] == "a" and found[0][1] in ("certain", "probable")
    assert "homonym" not in [i for i, _ in found]
    # wrong birth date (a typo in the year): only the name block can find them
    found = _ids(repo, _patient(None, "Lefevre", "Helene", "1948-03-21"))
    assert {i for i, _ in found} >= {"a", "homonym"}
    assert all(grade == "possible" for _, grade in found)
