"""Transaction and batch Bundles (http.html#transaction, R4) on SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import orjson
import pytest

from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository
from hygie.store.bundle import BundleProcessor

CTX = Context.system()
BASE = "http://test/fhir"
SYS = "urn:oid:1.2.250.1.71.4.2.1"


def run(repo: Repository, bundle: dict) -> dict:
    # round-trip through JSON as the REST layer would send it (orjson.Fragment in responses)
    return orjson.loads(orjson.dumps(BundleProcessor(repo).process(CTX, bundle, base=BASE)))


def tx(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(resource: dict, full_url: str | None = None, **request) -> dict:
    entry = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put(resource: dict, url: str | None = None, full_url: str | None = None, **request) -> dict:
    url = url or f"{resource['resourceType']}/{resource['id']}"
    entry = {"resource": resource, "request": {"method": "PUT", "url": url, **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def req(method: str, url: str) -> dict:
    return {"request": {"method": method, "url": url}}


def patient(family: str = "Martin", ident: str | None = None, **extra) -> dict:
    res = {"resourceType": "Patient", "name": [{"family": family}], **extra}
    if ident:
        res["identifier"] = [{"system": SYS, "value": ident}]
    return res


def observation(subject_ref: str, **extra) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": subject_ref},
        **extra,
    }


def everything(repo: Repository) -> list[dict]:
    bundle = repo.history(CTX, HistoryQuery(count=1000), base=BASE, extra=[])
    return orjson.loads(orjson.dumps(bundle["entry"]))


def located(entry: dict) -> tuple[str, str, str]:
    """`Patient/123/_history/1` -> (type, id, version)."""
    rtype, rid, hist, version = entry["response"]["location"].split("/")[-4:]
    assert hist == "_history"
    return rtype, rid, version


# -- transaction -------------------------------------------------------------------------------


def test_transaction_response_shape(repo: Repository) -> None:
    out = run(repo, tx(post(patient("A")), put(patient("B", id="tx-b"))))
    assert out["resourceType"] == "Bundle" and out["type"] == "transaction-response"
    created, updated = out["entry"]
    assert created["response"]["status"].startswith("201")
    assert updated["response"]["status"].startswith("201")  # update-as-create
    for e in out["entry"]:
        rtype, rid, version = located(e)
        assert version == "1"
        assert e["response"]["etag"] == 'W/"1"'
        assert e["response"]["lastModified"]
        assert repo.read(CTX, rtype, rid).version == 1
        assert e["resource"]["id"] == rid
    out = run(repo, tx(put(patient("B2", id="tx-b"))))
    assert out["entry"][0]["response"]["status"].startswith("200")
    assert out["entry"][0]["response"]["etag"] == 'W/"2"'


def test_transaction_is_all_or_nothing(repo: Repository) -> None:
    existing = repo.update(CTX, "Patient", "keep", patient("Keep", id="keep")).stored
    bundle = tx(
        post(patient("New")),
        put(patient("Changed", id="keep")),
        req("DELETE", "Patient/keep-too"),
        put(patient("Bad", id="bad", gender="bogus")),
    )
    before = everything(repo)
    with pytest.raises(FhirError) as exc:
        run(repo, bundle)
    assert exc.value.status in (400, 422)
    outcome = exc.value.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(
        "entry[3]" in (i.get("diagnostics", "") + str(i.get("expression", "")))
        for i in outcome["issue"]
    )
    assert everything(repo) == before
    assert repo.read(CTX, "Patient", "keep").version == existing.version
    assert repo.read(CTX, "Patient", "keep").resource()["name"][0]["family"] == "Keep"


def test_transaction_with_a_stale_if_match_writes_nothing(repo: Repository) -> None:
    repo.update(CTX, "Patient", "v", patient("V1", id="v"))
    repo.update(CTX, "Patient", "v", patient("V2", id="v"))
    with pytest.raises(FhirError) as exc:
        run(repo, tx(post(patient("Other")), put(patient("V3", id="v"), ifMatch='W/"1"')))
    assert exc.value.status == 412
    assert len(everything(repo)) == 2
    out = run(repo, tx(put(patient("V3", id="v"), ifMatch='W/"2"')))
    assert out["entry"][0]["response"]["etag"] == 'W/"3"'


def test_transaction_processing_order(repo: Repository) -> None:
    """DELETE, then POST, then PUT, then GET, whatever the order of the entries; responses come
    back in the order of the request entries."""
    repo.update(CTX, "Patient", "old", patient("Old", ident="order", id="old"))
    bundle = tx(
        req("GET", f"Patient?identifier={SYS}|order"),
        put(patient("Put", ident="order", id="put1")),
        post(patient("Posted", ident="order")),
        req("DELETE", "Patient/old"),
    )
    out = run(repo, bundle)
    get, put_, post_, delete = out["entry"]
    assert put_["response"]["location"].startswith("Patient/put1/")
    assert post_["response"]["status"].startswith("201")
    assert delete["response"]["status"][:3] in ("200", "204")
    found = sorted(e["resource"]["id"] for e in get["resource"]["entry"])
    assert found == sorted(["put1", located(post_)[1]])
    d, p, u = (e["response"]["lastModified"] for e in (delete, post_, put_))
    assert d <= p <= u


def test_transaction_get_sees_the_writes_of_the_same_transaction(repo: Repository) -> None:
    out = run(repo, tx(req("GET", "Patient/seen"), put(patient("Seen", id="seen"))))
    read = out["entry"][0]
    assert read["response"]["status"].startswith("200")
    assert read["resource"]["name"][0]["family"] == "Seen"


def test_urn_uuid_references_are_rewritten(repo: Repository) -> None:
    pat_url = "urn:uuid:3f1c7b6e-8a52-4a3e-9d8e-2b7f0c1d4e5a"
    obs_url = "urn:uuid:9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    bundle = tx(
        post(
            observation(pat_url, hasMember=[{"reference": obs_url}]),
            "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
        ),
        post(observation(pat_url), obs_url),
        post(patient("Ref"), pat_url),
        put(
            {
                "resourceType": "Encounter",
                "id": "enc1",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "subject": {"reference": pat_url},
            }
        ),
    )
    out = run(repo, bundle)
    _, pid, _ = located(out["entry"][2])
    _, oid, _ = located(out["entry"][1])
    first = repo.read(CTX, "Observation", located(out["entry"][0])[1]).resource()
    assert first["subject"]["reference"] == f"Patient/{pid}"
    assert first["hasMember"][0]["reference"] == f"Observation/{oid}"
    assert repo.read(CTX, "Observation", oid).resource()["subject"]["reference"] == f"Patient/{pid}"
    assert (
        repo.read(CTX, "Encounter", "enc1").resource()["subject"]["reference"] == f"Patient/{pid}"
    )
    assert "urn:uuid" not in orjson.dumps(out).decode()


def test_full_url_with_the_server_base_is_rewritten_too(repo: Repository) -> None:
    out = run(
        repo,
        tx(
            post(patient("Abs"), f"{BASE}/Patient/temp-client-id"),
            post(observation(f"{BASE}/Patient/temp-client-id")),
        ),
    )
    _, pid, _ = located(out["entry"][0])
    obs = repo.read(CTX, "Observation", located(out["entry"][1])[1]).resource()
    assert obs["subject"]["reference"] == f"Patient/{pid}"


def test_conditional_references_are_resolved(repo: Repository) -> None:
    pid = repo.create(CTX, patient("Cond", ident="cond-1")).stored.id
    out = run(repo, tx(post(observation(f"Patient?identifier={SYS}|cond-1"))))
    obs = repo.read(CTX, "Observation", located(out["entry"][0])[1]).resource()
    assert obs["subject"]["reference"] == f"Patient/{pid}"


def test_conditional_reference_without_a_single_match_fails_the_transaction(
    repo: Repository,
) -> None:
    repo.create(CTX, patient("Twin", ident="twin"))
    repo.create(CTX, patient("Twin", ident="twin"))
    before = everything(repo)
    for ref in (f"Patient?identifier={SYS}|nobody", f"Patient?identifier={SYS}|twin"):
        with pytest.raises(FhirError) as exc:
            run(repo, tx(post(patient("X")), post(observation(ref))))
        assert 400 <= exc.value.status < 500
    assert everything(repo) == before


def test_if_none_exist_in_a_transaction(repo: Repository) -> None:
    pid = repo.create(CTX, patient("Exists", ident="ine")).stored.id
    out = run(
        repo,
        tx(
            post(
                patient("Exists", ident="ine"),
                "urn:uuid:11111111-2222-4333-8444-555555555555",
                ifNoneExist=f"identifier={SYS}|ine",
            ),
            post(observation("urn:uuid:11111111-2222-4333-8444-555555555555")),
        ),
    )
    assert out["entry"][0]["response"]["status"].startswith("200")
    assert located(out["entry"][0])[1] == pid
    obs = repo.read(CTX, "Observation", located(out["entry"][1])[1]).resource()
    assert obs["subject"]["reference"] == f"Patient/{pid}"
    assert repo.read(CTX, "Patient", pid).version == 1


def test_conditional_update_and_delete_in_a_transaction(repo: Repository) -> None:
    pid = repo.create(CTX, patient("Cu", ident="cu")).stored.id
    gone = repo.create(CTX, patient("Cd", ident="cd")).stored.id
    out = run(
        repo,
        tx(
            put(patient("Cu2", ident="cu"), url=f"Patient?identifier={SYS}|cu"),
            req("DELETE", f"Patient?identifier={SYS}|cd"),
        ),
    )
    assert located(out["entry"][0])[1:] == (pid, "2")
    assert repo.read(CTX, "Patient", pid).resource()["name"][0]["family"] == "Cu2"
    with pytest.raises(FhirError) as exc:
        repo.read(CTX, "Patient", gone)
    assert exc.value.status == 410


def test_patch_in_a_transaction(repo: Repository) -> None:
    repo.update(CTX, "Patient", "pp", patient("Patch", id="pp"))
    ops = [{"op": "add", "path": "/gender", "value": "female"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(orjson.dumps(ops)).decode(),
    }
    out = run(repo, tx({"resource": binary, "request": {"method": "PATCH", "url": "Patient/pp"}}))
    assert located(out["entry"][0])[2] == "2"
    assert repo.read(CTX, "Patient", "pp").resource()["gender"] == "female"


@pytest.mark.parametrize(
    "entries",
    [
        [put(patient("A", id="dup")), put(patient("B", id="dup"))],
        [put(patient("A", id="dup")), req("DELETE", "Patient/dup")],
        [req("DELETE", "Patient/dup"), req("DELETE", "Patient/dup")],
    ],
    ids=["put-put", "put-delete", "delete-delete"],
)
def test_duplicate_entries_are_rejected(repo: Repository, entries: list[dict]) -> None:
    repo.update(CTX, "Patient", "dup", patient("Orig", id="dup"))
    with pytest.raises(FhirError) as exc:
        run(repo, tx(post(patient("Other")), *entries))
    assert exc.value.status == 400
    assert repo.read(CTX, "Patient", "dup").version == 1
    assert len(everything(repo)) == 1


def test_duplicate_conditional_update_resolving_to_the_same_resource_is_rejected(
    repo: Repository,
) -> None:
    pid = repo.create(CTX, patient("Same", ident="same")).stored.id
    with pytest.raises(FhirError) as exc:
        run(
            repo,
            tx(
                put(patient("X", id=pid)),
                put(patient("Y", ident="same"), url=f"Patient?identifier={SYS}|same"),
            ),
        )
    assert exc.value.status == 400
    assert repo.read(CTX, "Patient", pid).version == 1


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        {"resourceType": "Patient"},
        tx({"resource": patient()}),
        tx({"resource": patient(), "request": {"method": "FETCH", "url": "Patient"}}),
        tx({"resource": patient(), "request": {"method": "POST"}}),
    ],
    ids=["collection", "not-a-bundle", "no-request", "bad-method", "no-url"],
)
def test_malformed_bundles_are_400(repo: Repository, bundle: dict) -> None:
    with pytest.raises(FhirError) as exc:
        run(repo, bundle)
    assert exc.value.status == 400
    assert everything(repo) == []


def test_empty_transaction(repo: Repository) -> None:
    out = run(repo, tx())
    assert out["type"] == "transaction-response"
    assert out.get("entry", []) == []


# -- batch -------------------------------------------------------------------------------------


def test_batch_entries_succeed_or_fail_independently(repo: Repository) -> None:
    repo.update(CTX, "Patient", "b1", patient("B1", id="b1"))
    repo.update(CTX, "Patient", "b1", patient("B1bis", id="b1"))
    bundle = tx(
        post(patient("Good")),
        post(patient("Bad", gender="bogus")),
        put(patient("Stale", id="b1"), ifMatch='W/"1"'),
        req("GET", "Patient/missing"),
        put(patient("Fresh", id="b2")),
        req("GET", "Patient/b1"),
        post({"resourceType": "NotAType"}),
        req("DELETE", "Patient/b1"),
        kind="batch",
    )
    out = run(repo, bundle)
    assert out["type"] == "batch-response"
    codes = [e["response"]["status"][:3] for e in out["entry"]]
    assert codes[0] == "201"
    assert codes[1] in ("400", "422")
    assert codes[2] == "412"
    assert codes[3] == "404"
    assert codes[4] == "201"
    assert codes[5] == "200"
    assert codes[6] in ("400", "404")
    assert codes[7] in ("200", "204")
    for n in (1, 2, 3, 6):
        outcome = out["entry"][n]["response"]["outcome"]
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["severity"] in ("error", "fatal")
    assert out["entry"][5]["resource"]["name"][0]["family"] == "B1bis"
    assert (
        repo.read(CTX, "Patient", located(out["entry"][0])[1]).resource()["name"][0]["family"]
        == "Good"
    )
    assert repo.read(CTX, "Patient", "b2").version == 1
    with pytest.raises(FhirError) as exc:
        repo.read(CTX, "Patient", "b1")
    assert exc.value.status == 410


def test_a_failed_batch_entry_leaves_the_others_written(repo: Repository) -> None:
    """A batch entry that fails leaves the other entries written."""
    out = run(
        repo,
        tx(
            put(patient("One", id="one")),
            put(patient("Two", id="two", birthDate="not-a-date")),
            put(patient("Three", id="three")),
            kind="batch",
        ),
    )
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["201", "400", "201"]
    assert repo.read(CTX, "Patient", "one").version == 1
    assert repo.read(CTX, "Patient", "three").version == 1
    with pytest.raises(FhirError):
        repo.read(CTX, "Patient", "two")


def test_delete_with_a_stale_if_match_in_a_bundle(repo: Repository) -> None:
    repo.update(CTX, "Patient", "dm", patient("V1", id="dm"))
    repo.update(CTX, "Patient", "dm", patient("V2", id="dm"))
    stale = {"request": {"method": "DELETE", "url": "Patient/dm", "ifMatch": 'W/"1"'}}
    out = run(repo, tx(stale, kind="batch"))
    assert out["entry"][0]["response"]["status"].startswith("412")
    with pytest.raises(FhirError) as exc:
        run(repo, tx(stale))
    assert exc.value.status == 412
    assert repo.read(CTX, "Patient", "dm").version == 2
    fresh = {"request": {"method": "DELETE", "url": "Patient/dm", "ifMatch": 'W/"2"'}}
    assert run(repo, tx(fresh))["entry"][0]["response"]["status"][:3] in ("200", "204")
