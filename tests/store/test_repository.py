"""The Repository's FHIR write and read semantics (http.html, R4), on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository

CTX = Context.system()
BASE = "http://test/fhir"
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def patient(family: str = "Martin", **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def with_identifier(value: str, family: str = "Martin") -> dict:
    return patient(family, identifier=[{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": value}])


def versions(repo: Repository, rtype: str, rid: str) -> list[int]:
    bundle = repo.history(CTX, HistoryQuery(rtype=rtype, rid=rid), base=BASE, extra=[])
    return [int(e["response"]["etag"][3:-1]) for e in bundle["entry"]]


def status_of(call) -> int:
    with pytest.raises(FhirError) as exc:
        call()
    return exc.value.status


# -- create and read ---------------------------------------------------------------------------


def test_create_assigns_id_version_and_last_updated(repo: Repository) -> None:
    r = repo.create(CTX, patient(gender="female"))
    assert r.status == 201
    s = r.stored
    assert s.version == 1 and s.rtype == "Patient" and s.id
    body = s.resource()
    assert body["id"] == s.id
    assert body["meta"]["versionId"] == "1"
    assert INSTANT.match(body["meta"]["lastUpdated"])
    assert body["gender"] == "female"
    again = repo.read(CTX, "Patient", s.id)
    assert again.resource() == body
    assert again.etag == 'W/"1"'


def test_create_ignores_client_id_and_server_meta(repo: Repository) -> None:
    res = patient(id="mine", meta={"versionId": "42", "lastUpdated": "2000-01-01T00:00:00Z"})
    s = repo.create(CTX, res).stored
    assert s.id != "mine"
    meta = repo.read(CTX, "Patient", s.id).resource()["meta"]
    assert meta["versionId"] == "1"
    assert meta["lastUpdated"] != "2000-01-01T00:00:00Z"


def test_create_keeps_tags_profiles_security_and_source(repo: Repository) -> None:
    meta = {
        "tag": [{"system": "urn:tags", "code": "demo"}],
        "profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"],
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ],
        "source": "urn:hygie:test",
    }
    s = repo.create(CTX, patient(meta=meta)).stored
    stored_meta = repo.read(CTX, "Patient", s.id).resource()["meta"]
    for key, value in meta.items():
        assert stored_meta[key] == value


def test_create_unknown_type_is_404(repo: Repository) -> None:
    assert (
        status_of(lambda: repo.create(CTX, {"resourceType": "Patientx"}, rtype="Patientx")) == 404
    )


def test_create_invalid_resource_lists_every_problem_with_its_location(repo: Repository) -> None:
    bad = patient(gender="bogus", birthDate="19-01", foo=1)
    with pytest.raises(FhirError) as exc:
        repo.create(CTX, bad)
    assert exc.value.status in (400, 422)
    issues = exc.value.outcome()["issue"]
    where = {e for i in issues for e in i.get("expression", [])}
    assert {"Patient.gender", "Patient.birthDate", "Patient.foo"} <= where
    assert all(i["severity"] in ("error", "fatal") for i in issues)


def test_read_unknown_is_404(repo: Repository) -> None:
    assert status_of(lambda: repo.read(CTX, "Patient", "nope")) == 404
    assert status_of(lambda: repo.read(CTX, "NotAType", "x")) == 404


# -- update ------------------------------------------------------------------------------------


def test_update_creates_a_new_version_and_keeps_the_old(repo: Repository) -> None:
    s1 = repo.create(CTX, patient("Martin")).stored
    r2 = repo.update(CTX, "Patient", s1.id, patient("Dupont", id=s1.id))
    assert r2.status == 200
    assert r2.stored.version == 2
    assert r2.stored.last_updated > s1.last_updated
    assert repo.read(CTX, "Patient", s1.id).resource()["name"][0]["family"] == "Dupont"
    old = repo.vread(CTX, "Patient", s1.id, "1").resource()
    assert old["name"][0]["family"] == "Martin" and old["meta"]["versionId"] == "1"
    new = repo.vread(CTX, "Patient", s1.id, "2").resource()
    assert new["meta"]["versionId"] == "2"
    assert status_of(lambda: repo.vread(CTX, "Patient", s1.id, "3")) == 404
    assert status_of(lambda: repo.vread(CTX, "Patient", s1.id, "x")) == 404
    assert versions(repo, "Patient", s1.id) == [2, 1]


def test_update_as_create_with_client_id(repo: Repository) -> None:
    r = repo.update(CTX, "Patient", "pat-A.1", patient(id="pat-A.1"))
    assert r.status == 201
    assert r.stored.version == 1
    assert repo.read(CTX, "Patient", "pat-A.1").resource()["id"] == "pat-A.1"
    longest = "a" * 64
    assert repo.update(CTX, "Patient", longest, patient(id=longest)).status == 201


@pytest.mark.parametrize("bad_id", ["a" * 65, "has space", "under_score", "slash/x", "é"])
def test_update_with_an_invalid_id_is_400(repo: Repository, bad_id: str) -> None:
    assert status_of(lambda: repo.update(CTX, "Patient", bad_id, patient(id=bad_id))) == 400


def test_update_id_must_match_the_url(repo: Repository) -> None:
    assert status_of(lambda: repo.update(CTX, "Patient", "p1", patient(id="p2"))) == 400
    assert status_of(lambda: repo.update(CTX, "Patient", "p1", patient())) == 400


def test_unchanged_update_creates_no_version(repo: Repository) -> None:
    s1 = repo.update(CTX, "Patient", "same", patient(id="same")).stored
    r = repo.update(CTX, "Patient", "same", patient(id="same"))
    assert r.status == 200
    assert r.stored.version == 1
    assert r.stored.last_updated == s1.last_updated
    # server meta sent back as received does not count as a change either
    echoed = repo.read(CTX, "Patient", "same").resource()
    assert repo.update(CTX, "Patient", "same", echoed).stored.version == 1
    assert versions(repo, "Patient", "same") == [1]
    # a changed tag is a change
    tagged = patient(id="same", meta={"tag": [{"code": "x"}]})
    assert repo.update(CTX, "Patient", "same", tagged).stored.version == 2


def test_if_match_stale_version_is_412_and_writes_nothing(repo: Repository) -> None:
    s = repo.create(CTX, patient("Martin")).stored
    repo.update(CTX, "Patient", s.id, patient("Dupont", id=s.id), if_match=1)
    with pytest.raises(FhirError) as exc:
        repo.update(CTX, "Patient", s.id, patient("Durand", id=s.id), if_match=1)
    assert exc.value.status == 412
    assert exc.value.outcome()["resourceType"] == "OperationOutcome"
    assert repo.read(CTX, "Patient", s.id).version == 2
    assert (
        repo.update(CTX, "Patient", s.id, patient("Durand", id=s.id), if_match=2).stored.version
        == 3
    )


def test_if_match_on_a_missing_resource_is_412(repo: Repository) -> None:
    assert (
        status_of(lambda: repo.update(CTX, "Patient", "ghost", patient(id="ghost"), if_match=1))
        == 412
    )
    assert status_of(lambda: repo.read(CTX, "Patient", "ghost")) == 404


# -- delete ------------------------------------------------------------------------------------


def test_delete_then_read_is_410_and_history_is_kept(repo: Repository) -> None:
    s = repo.create(CTX, patient()).stored
    r = repo.delete(CTX, "Patient", s.id)
    assert r.status in (200, 204)
    assert status_of(lambda: repo.read(CTX, "Patient", s.id)) == 410
    assert repo.vread(CTX, "Patient", s.id, "1").resource()["name"][0]["family"] == "Martin"
    assert status_of(lambda: repo.vread(CTX, "Patient", s.id, "2")) == 410
    bundle = repo.history(CTX, HistoryQuery(rtype="Patient", rid=s.id), base=BASE, extra=[])
    first = bundle["entry"][0]
    assert first["request"]["method"] == "DELETE" and "resource" not in first
    assert [e["request"]["method"] for e in bundle["entry"]] == ["DELETE", "POST"]


def test_delete_is_idempotent_and_missing_is_not_an_error(repo: Repository) -> None:
    s = repo.create(CTX, patient()).stored
    repo.delete(CTX, "Patient", s.id)
    assert repo.delete(CTX, "Patient", s.id).status in (200, 204)
    assert versions(repo, "Patient", s.id) == [2, 1]
    assert repo.delete(CTX, "Patient", "never-was").status in (200, 204)


def test_update_after_delete_brings_it_back_with_the_next_version(repo: Repository) -> None:
    s = repo.create(CTX, patient()).stored
    repo.delete(CTX, "Patient", s.id)
    r = repo.update(CTX, "Patient", s.id, patient("Back", id=s.id))
    assert r.status == 201
    assert r.stored.version == 3
    assert repo.read(CTX, "Patient", s.id).resource()["name"][0]["family"] == "Back"
    assert versions(repo, "Patient", s.id) == [3, 2, 1]


# -- conditional interactions (depend on search.matching_ids) ----------------------------------


def test_conditional_create(repo: Repository) -> None:
    first = repo.create(
        CTX, with_identifier("111"), if_none_exist="identifier=urn:oid:1.2.250.1.71.4.2.1|111"
    )
    assert first.status == 201
    again = repo.create(
        CTX,
        with_identifier("111", "Other"),
        if_none_exist="identifier=urn:oid:1.2.250.1.71.4.2.1|111",
    )
    assert again.status == 200
    assert again.stored.id == first.stored.id
    assert repo.read(CTX, "Patient", first.stored.id).version == 1
    repo.create(CTX, with_identifier("222"))
    repo.create(CTX, with_identifier("222"))
    assert (
        status_of(lambda: repo.create(CTX, with_identifier("222"), if_none_exist="identifier=222"))
        == 412
    )


def test_conditional_update(repo: Repository) -> None:
    q = "identifier=urn:oid:1.2.250.1.71.4.2.1|333"
    created = repo.conditional_update(CTX, "Patient", q, with_identifier("333"))
    assert created.status == 201
    rid = created.stored.id
    updated = repo.conditional_update(CTX, "Patient", q, with_identifier("333", "Changed"))
    assert updated.status == 200
    assert updated.stored.id == rid and updated.stored.version == 2
    wrong_id = with_identifier("333", "X") | {"id": "not-the-match"}
    assert status_of(lambda: repo.conditional_update(CTX, "Patient", q, wrong_id)) == 400
    repo.create(CTX, with_identifier("333"))
    assert (
        status_of(lambda: repo.conditional_update(CTX, "Patient", q, with_identifier("333", "Y")))
        == 412
    )
    assert repo.read(CTX, "Patient", rid).resource()["name"][0]["family"] == "Changed"


def test_conditional_update_without_match_uses_the_body_id(repo: Repository) -> None:
    res = with_identifier("444") | {"id": "chosen-id"}
    r = repo.conditional_update(CTX, "Patient", "identifier=444", res)
    assert r.status == 201 and r.stored.id == "chosen-id"


def test_conditional_delete(repo: Repository) -> None:
    s = repo.create(CTX, with_identifier("555")).stored
    assert repo.conditional_delete(CTX, "Patient", "identifier=nomatch").status in (200, 204)
    r = repo.conditional_delete(CTX, "Patient", "identifier=555")
    assert r.status in (200, 204)
    assert status_of(lambda: repo.read(CTX, "Patient", s.id)) == 410
    repo.create(CTX, with_identifier("666"))
    repo.create(CTX, with_identifier("666"))
    assert status_of(lambda: repo.conditional_delete(CTX, "Patient", "identifier=666")) == 412


def test_conditional_interactions_need_criteria(repo: Repository) -> None:
    assert status_of(lambda: repo.conditional_delete(CTX, "Patient", "")) == 400


# -- patch -------------------------------------------------------------------------------------


def test_json_patch(repo: Repository) -> None:
    s = repo.create(CTX, patient(gender="male")).stored
    ops = [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/birthDate", "value": "1980-05-12"},
    ]
    r = repo.patch(CTX, "Patient", s.id, ops)
    assert r.status == 200 and r.stored.version == 2
    body = repo.read(CTX, "Patient", s.id).resource()
    assert body["gender"] == "female" and body["birthDate"] == "1980-05-12"
    assert body["meta"]["versionId"] == "2"


def test_patch_failures(repo: Repository) -> None:
    s = repo.create(CTX, patient(gender="male")).stored
    failing_test = [{"op": "test", "path": "/gender", "value": "female"}]
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, failing_test)) == 422
    change_id = [{"op": "replace", "path": "/id", "value": "other"}]
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, change_id)) in (400, 422)
    invalid_result = [{"op": "replace", "path": "/gender", "value": "bogus"}]
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, invalid_result)) in (400, 422)
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, {"op": "remove"})) in (400, 422)
    ok = [{"op": "replace", "path": "/gender", "value": "female"}]
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, ok, if_match=7)) == 412
    assert status_of(lambda: repo.patch(CTX, "Patient", "missing", ok)) == 404
    assert repo.read(CTX, "Patient", s.id).version == 1
    repo.delete(CTX, "Patient", s.id)
    assert status_of(lambda: repo.patch(CTX, "Patient", s.id, ok)) == 410


def test_conditional_patch(repo: Repository) -> None:
    s = repo.create(CTX, with_identifier("777")).stored
    ops = [{"op": "add", "path": "/gender", "value": "other"}]
    r = repo.conditional_patch(CTX, "Patient", "identifier=777", ops)
    assert r.stored.id == s.id and r.stored.version == 2
    assert status_of(lambda: repo.conditional_patch(CTX, "Patient", "identifier=none", ops)) == 404


# -- bulk load ---------------------------------------------------------------------------------


def test_load_is_all_or_nothing(repo: Repository) -> None:
    good = [patient(id=f"load-{n}") for n in range(5)]
    assert repo.load(CTX, good) == 5
    assert repo.read(CTX, "Patient", "load-4").version == 1
    with pytest.raises(FhirError) as exc:
        repo.load(CTX, [patient(id="load-new"), patient(id="load-bad", gender="bogus")])
    assert "resource 1" in str(exc.value)
    assert status_of(lambda: repo.read(CTX, "Patient", "load-new")) == 404


def test_data_survives_reopening(db_url: str) -> None:
    from hygie.store import open_repository

    first = open_repository(db_url)
    try:
        s = first.create(CTX, patient("Persist")).stored
    finally:
        first.close()
    second = open_repository(db_url)
    try:
        assert second.read(CTX, "Patient", s.id).resource()["name"][0]["family"] == "Persist"
        assert second.update(CTX, "Patient", s.id, patient("Next", id=s.id)).stored.version == 2
    finally:
        second.close()
