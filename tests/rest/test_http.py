"""The FHIR REST API over HTTP (http.html, R4): statuses, headers, negotiation and errors, through
the ASGI app in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from hygie.rest.app import Settings

pytestmark = pytest.mark.anyio

FHIR_JSON = "application/fhir+json"
JSON_HEADERS = {"Content-Type": FHIR_JSON}
SYS = "urn:oid:1.2.250.1.71.4.2.1"
SUBSETTED = "SUBSETTED"
DEFINITIONS = Path(__file__).parents[2] / "src/hygie/fhir/definitions/profiles-resources.json.gz"


def patient(family: str = "Martin", **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def body(resource: dict | list) -> bytes:
    return orjson.dumps(resource)


def assert_no_leak(r: httpx.Response) -> None:
    text = r.text
    for marker in ("Traceback", 'File "', "psycopg", "sqlite3", '.py", line'):
        assert marker not in text, f"internal detail leaked: {marker!r} in {text[:500]}"


def assert_outcome(r: httpx.Response, *statuses: int) -> dict:
    """The response is one of `statuses` and carries an OperationOutcome with an error."""
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(FHIR_JSON)
    assert_no_leak(r)
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], outcome
    assert any(i["severity"] in ("error", "fatal") for i in outcome["issue"]), outcome
    for issue in outcome["issue"]:
        assert issue["code"]
    return outcome


async def create(client: httpx.AsyncClient, resource: dict, **headers: str) -> httpx.Response:
    r = await client.post(
        f"/fhir/{resource['resourceType']}",
        content=body(resource),
        headers={**JSON_HEADERS, **headers},
    )
    assert r.status_code == 201, r.text
    return r


async def create_id(client: httpx.AsyncClient, resource: dict) -> str:
    return (await create(client, resource)).json()["id"]


async def put(
    client: httpx.AsyncClient, url: str, resource: dict, **headers: str
) -> httpx.Response:
    return await client.put(url, content=body(resource), headers={**JSON_HEADERS, **headers})


def version_of(r: httpx.Response) -> str:
    etag = r.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"'), etag
    return etag[3:-1]


# -- create, read, vread -----------------------------------------------------------------------


async def test_create_returns_201_location_etag_last_modified(client: httpx.AsyncClient) -> None:
    r = await create(client, patient(gender="male"))
    res = r.json()
    rid = res["id"]
    assert r.headers["location"] == f"http://testserver/fhir/Patient/{rid}/_history/1"
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["content-type"].startswith(FHIR_JSON)
    last_modified = parsedate_to_datetime(r.headers["last-modified"])
    meta_time = datetime.fromisoformat(res["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert last_modified == meta_time.replace(microsecond=0)
    assert res["meta"]["versionId"] == "1"
    assert res["gender"] == "male"


async def test_read_and_head(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    rid = created.json()["id"]
    r = await client.get(f"/fhir/Patient/{rid}")
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["last-modified"] == created.headers["last-modified"]
    assert r.headers["content-type"].startswith(FHIR_JSON)
    assert r.json() == created.json()
    head = await client.head(f"/fhir/Patient/{rid}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == 'W/"1"'


async def test_read_unknown_is_404_with_outcome(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/fhir/Patient/does-not-exist"), 404)


async def test_vread(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient("One"))
    r2 = await put(client, f"/fhir/Patient/{rid}", patient("Two", id=rid))
    assert r2.status_code == 200
    v1 = await client.get(f"/fhir/Patient/{rid}/_history/1")
    assert v1.status_code == 200
    assert v1.headers["etag"] == 'W/"1"'
    assert v1.json()["name"][0]["family"] == "One"
    v2 = await client.get(f"/fhir/Patient/{rid}/_history/2")
    assert v2.json()["name"][0]["family"] == "Two" and v2.headers["etag"] == 'W/"2"'
    assert_outcome(await client.get(f"/fhir/Patient/{rid}/_history/3"), 404)
    assert_outcome(await client.get("/fhir/Patient/nobody/_history/1"), 404)


# -- update and delete -------------------------------------------------------------------------


async def test_update(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient("One"))
    r = await put(client, f"/fhir/Patient/{rid}", patient("Two", id=rid))
    assert r.status_code == 200
    assert r.headers["etag"] == 'W/"2"'
    assert r.headers["location"] == f"http://testserver/fhir/Patient/{rid}/_history/2"
    assert r.json()["meta"]["versionId"] == "2"
    assert (await client.get(f"/fhir/Patient/{rid}")).json()["name"][0]["family"] == "Two"


async def test_update_as_create_with_a_client_id(client: httpx.AsyncClient) -> None:
    r = await put(client, "/fhir/Patient/client-Id.42", patient(id="client-Id.42"))
    assert r.status_code == 201
    assert r.headers["location"] == "http://testserver/fhir/Patient/client-Id.42/_history/1"
    assert r.headers["etag"] == 'W/"1"'
    assert (await client.get("/fhir/Patient/client-Id.42")).status_code == 200


@pytest.mark.parametrize("rid", ["a" * 65, "bad_id", "bad%20id"])
async def test_update_with_an_invalid_id_is_400(client: httpx.AsyncClient, rid: str) -> None:
    assert_outcome(await put(client, f"/fhir/Patient/{rid}", patient(id=rid)), 400)


async def test_update_id_mismatch_or_missing_is_400(client: httpx.AsyncClient) -> None:
    assert_outcome(await put(client, "/fhir/Patient/p1", patient(id="p2")), 400)
    assert_outcome(await put(client, "/fhir/Patient/p1", patient()), 400)


async def test_unchanged_update_keeps_the_version(client: httpx.AsyncClient) -> None:
    r1 = await put(client, "/fhir/Patient/same", patient(id="same"))
    r2 = await put(client, "/fhir/Patient/same", r1.json())
    assert r2.status_code == 200
    assert r2.headers["etag"] == 'W/"1"'
    hist = (await client.get("/fhir/Patient/same/_history")).json()
    assert len(hist["entry"]) == 1


async def test_delete_then_read_is_410(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient())
    r = await client.delete(f"/fhir/Patient/{rid}")
    assert r.status_code in (200, 204)
    assert_no_leak(r)
    assert_outcome(await client.get(f"/fhir/Patient/{rid}"), 410)
    assert (await client.get(f"/fhir/Patient/{rid}/_history/1")).status_code == 200
    again = await client.delete(f"/fhir/Patient/{rid}")
    assert again.status_code in (200, 204)
    assert (await client.delete("/fhir/Patient/never-existed")).status_code in (200, 204)
    hist = (await client.get(f"/fhir/Patient/{rid}/_history")).json()
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]


# -- version-aware and conditional reads and writes --------------------------------------------


async def test_if_match(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient("One"))
    await put(client, f"/fhir/Patient/{rid}", patient("Two", id=rid))
    stale = await put(
        client, f"/fhir/Patient/{rid}", patient("Three", id=rid), **{"If-Match": 'W/"1"'}
    )
    assert_outcome(stale, 412)
    assert version_of(await client.get(f"/fhir/Patient/{rid}")) == "2"
    ok = await put(
        client, f"/fhir/Patient/{rid}", patient("Three", id=rid), **{"If-Match": 'W/"2"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == 'W/"3"'
    assert_outcome(
        await put(client, f"/fhir/Patient/{rid}", patient("X", id=rid), **{"If-Match": "garbage"}),
        400,
    )
    stale_delete = await client.delete(f"/fhir/Patient/{rid}", headers={"If-Match": 'W/"1"'})
    assert_outcome(stale_delete, 412)
    assert (await client.get(f"/fhir/Patient/{rid}")).status_code == 200
    assert (
        await client.delete(f"/fhir/Patient/{rid}", headers={"If-Match": 'W/"3"'})
    ).status_code in (200, 204)


async def test_if_none_match_gives_304(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient())
    url = f"/fhir/Patient/{rid}"
    r = await client.get(url, headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == 'W/"1"'
    assert (await client.get(url, headers={"If-None-Match": 'W/"7"'})).status_code == 200
    await put(client, url, patient("Changed", id=rid))
    changed = await client.get(url, headers={"If-None-Match": 'W/"1"'})
    assert changed.status_code == 200 and changed.headers["etag"] == 'W/"2"'


async def test_if_modified_since(client: httpx.AsyncClient) -> None:
    created = await create(client, patient())
    url = f"/fhir/Patient/{created.json()['id']}"
    last_modified = created.headers["last-modified"]
    assert (await client.get(url, headers={"If-Modified-Since": last_modified})).status_code == 304
    later = format_datetime(parsedate_to_datetime(last_modified) + timedelta(days=1), usegmt=True)
    assert (await client.get(url, headers={"If-Modified-Since": later})).status_code == 304
    earlier = format_datetime(parsedate_to_datetime(last_modified) - timedelta(days=1), usegmt=True)
    r = await client.get(url, headers={"If-Modified-Since": earlier})
    assert r.status_code == 200 and r.json()["id"] == created.json()["id"]


async def test_conditional_create_with_if_none_exist(client: httpx.AsyncClient) -> None:
    res = patient(identifier=[{"system": SYS, "value": "ine-1"}])
    first = await create(client, res, **{"If-None-Exist": f"identifier={SYS}|ine-1"})
    again = await client.post(
        "/fhir/Patient",
        content=body(res),
        headers={**JSON_HEADERS, "If-None-Exist": f"identifier={SYS}|ine-1"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    await create(client, patient(identifier=[{"system": SYS, "value": "twin"}]))
    await create(client, patient(identifier=[{"system": SYS, "value": "twin"}]))
    dup = await client.post(
        "/fhir/Patient",
        content=body(res),
        headers={**JSON_HEADERS, "If-None-Exist": "identifier=twin"},
    )
    assert_outcome(dup, 412)


async def test_conditional_update_and_delete(client: httpx.AsyncClient) -> None:
    res = patient(identifier=[{"system": SYS, "value": "cu-1"}])
    url = f"/fhir/Patient?identifier={SYS}|cu-1"
    created = await put(client, url, res)
    assert created.status_code == 201
    rid = created.json()["id"]
    updated = await put(client, url, {**res, "gender": "female"})
    assert updated.status_code == 200
    assert updated.json()["id"] == rid and updated.headers["etag"] == 'W/"2"'
    deleted = await client.delete(url)
    assert deleted.status_code in (200, 204)
    assert_outcome(await client.get(f"/fhir/Patient/{rid}"), 410)
    assert (await client.delete(url)).status_code in (200, 204)


async def test_json_patch(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient(gender="male"))
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    r = await client.patch(
        f"/fhir/Patient/{rid}",
        content=body(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == 'W/"2"'
    assert r.json()["gender"] == "female"
    wrong_type = await client.patch(f"/fhir/Patient/{rid}", content=body(ops), headers=JSON_HEADERS)
    assert_outcome(wrong_type, 415)
    stale = await client.patch(
        f"/fhir/Patient/{rid}",
        content=body(ops),
        headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'},
    )
    assert_outcome(stale, 412)
    failing = [{"op": "test", "path": "/gender", "value": "male"}]
    bad = await client.patch(
        f"/fhir/Patient/{rid}",
        content=body(failing),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert_outcome(bad, 400, 409, 422)


# -- Prefer ------------------------------------------------------------------------------------


async def test_prefer_return(client: httpx.AsyncClient) -> None:
    minimal = await create(client, patient(), Prefer="return=minimal")
    assert minimal.content == b""
    assert "/_history/1" in minimal.headers["location"]
    assert minimal.headers["etag"] == 'W/"1"'
    rid = minimal.headers["location"].split("/")[-3]
    full = await put(
        client, f"/fhir/Patient/{rid}", patient("B", id=rid), Prefer="return=representation"
    )
    assert full.json()["name"][0]["family"] == "B" and full.json()["id"] == rid
    oo = await put(
        client, f"/fhir/Patient/{rid}", patient("C", id=rid), Prefer="return=OperationOutcome"
    )
    assert oo.status_code == 200
    assert oo.json()["resourceType"] == "OperationOutcome"
    assert oo.headers["etag"] == 'W/"3"'
    default = await create(client, patient("D"))
    assert default.json()["resourceType"] == "Patient"


async def test_prefer_handling_on_history(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient())
    assert_outcome(
        await client.get(
            f"/fhir/Patient/{rid}/_history?bogus=1", headers={"Prefer": "handling=strict"}
        ),
        400,
    )
    lenient = await client.get(
        f"/fhir/Patient/{rid}/_history?bogus=1", headers={"Prefer": "handling=lenient"}
    )
    assert lenient.status_code == 200 and lenient.json()["type"] == "history"


# -- negotiation -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "application/fhir+json", "application/json"])
async def test_format_json(client: httpx.AsyncClient, fmt: str) -> None:
    rid = await create_id(client, patient())
    r = await client.get(f"/fhir/Patient/{rid}", params={"_format": fmt})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(FHIR_JSON)
    assert r.json()["id"] == rid


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/turtle"])
async def test_format_other_is_406(client: httpx.AsyncClient, fmt: str) -> None:
    rid = await create_id(client, patient())
    assert_outcome(await client.get(f"/fhir/Patient/{rid}", params={"_format": fmt}), 406)


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/fhir+json", 200),
        ("application/json", 200),
        ("application/fhir+json;q=0.9, application/fhir+xml", 200),
        ("*/*", 200),
        ("application/fhir+xml", 406),
        ("application/xml", 406),
    ],
)
async def test_accept(client: httpx.AsyncClient, accept: str, status: int) -> None:
    rid = await create_id(client, patient())
    r = await client.get(f"/fhir/Patient/{rid}", headers={"Accept": accept})
    if status == 200:
        assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    else:
        assert_outcome(r, status)


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/fhir+xml", "application/x-www-form-urlencoded"]
)
async def test_unsupported_content_type_is_415(client: httpx.AsyncClient, ctype: str) -> None:
    r = await client.post("/fhir/Patient", content=body(patient()), headers={"Content-Type": ctype})
    assert_outcome(r, 415)
    r = await client.put(
        "/fhir/Patient/x", content=body(patient(id="x")), headers={"Content-Type": ctype}
    )
    assert_outcome(r, 415)
    assert (await client.get("/fhir/Patient/x")).status_code == 404


async def test_plain_json_content_type_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/fhir/Patient",
        content=body(patient()),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201


async def test_pretty(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient())
    pretty = await client.get(f"/fhir/Patient/{rid}", params={"_pretty": "true"})
    compact = await client.get(f"/fhir/Patient/{rid}", params={"_pretty": "false"})
    assert pretty.status_code == compact.status_code == 200
    assert "\n  " in pretty.text
    assert "\n" not in compact.text
    assert pretty.json() == compact.json()


# -- _summary and _elements on read ------------------------------------------------------------


def tags(resource: dict) -> list[str]:
    return [t.get("code") for t in resource.get("meta", {}).get("tag", [])]


async def test_summary_on_read(client: httpx.AsyncClient) -> None:
    full = patient(
        "Summary",
        gender="female",
        text={
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Mme Summary</div>',
        },
        contact=[{"name": {"family": "Contact"}}],
        meta={"tag": [{"system": "urn:t", "code": "keep"}]},
    )
    rid = await create_id(client, full)
    url = f"/fhir/Patient/{rid}"
    summary = (await client.get(url, params={"_summary": "true"})).json()
    assert summary["name"][0]["family"] == "Summary" and summary["gender"] == "female"
    assert "contact" not in summary and "text" not in summary
    assert SUBSETTED in tags(summary) and "keep" in tags(summary)
    text = (await client.get(url, params={"_summary": "text"})).json()
    assert text["text"]["status"] == "generated" and "contact" not in text and "gender" not in text
    assert SUBSETTED in tags(text)
    data = (await client.get(url, params={"_summary": "data"})).json()
    assert "text" not in data and data["contact"][0]["name"]["family"] == "Contact"
    assert SUBSETTED in tags(data)
    whole = (await client.get(url, params={"_summary": "false"})).json()
    assert "text" in whole and "contact" in whole and SUBSETTED not in tags(whole)
    assert_outcome(await client.get(url, params={"_summary": "count"}), 400)
    assert_outcome(await client.get(url, params={"_summary": "nonsense"}), 400)


async def test_elements_on_read(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient("Elements", gender="male", birthDate="1970-01-01"))
    r = await client.get(f"/fhir/Patient/{rid}", params={"_elements": "gender,birthDate"})
    assert r.status_code == 200
    res = r.json()
    assert res["resourceType"] == "Patient" and res["id"] == rid
    assert res["gender"] == "male" and res["birthDate"] == "1970-01-01"
    assert "name" not in res
    assert SUBSETTED in tags(res)


# -- routing errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fhir/Foo"),
        ("GET", "/fhir/Foo/1"),
        ("POST", "/fhir/Foo"),
        ("GET", "/fhir/patient/1"),
        ("GET", "/fhir/Patient/1/_nonsense/x/y"),
    ],
)
async def test_unknown_type_or_path_is_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(
        method,
        path,
        content=body({"resourceType": "Foo"}) if method == "POST" else None,
        headers=JSON_HEADERS if method == "POST" else None,
    )
    assert_outcome(r, 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/fhir/metadata", {"GET"}),
        ("POST", "/fhir/Patient/123", {"GET", "PUT", "DELETE"}),
        ("PUT", "/fhir/Patient/123/_history", {"GET"}),
        ("DELETE", "/fhir/Patient/123/_history/1", {"GET"}),
        ("PUT", "/fhir", {"POST"}),
    ],
)
async def test_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set
) -> None:
    r = await client.request(method, path, content=b"{}", headers=JSON_HEADERS)
    assert_outcome(r, 405)
    allow = {m.strip() for m in r.headers["allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


@pytest.mark.parametrize("app_settings", [Settings(max_body=1024, threads=4, open=True)])
async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = patient("X" * 2000)
    assert_outcome(await client.post("/fhir/Patient", content=body(big), headers=JSON_HEADERS), 413)

    async def chunks():
        data = body(big)
        for i in range(0, len(data), 256):
            yield data[i : i + 256]

    streamed = await client.post("/fhir/Patient", content=chunks(), headers=JSON_HEADERS)
    assert_outcome(streamed, 413)
    assert (
        await client.post("/fhir/Patient", content=body(patient()), headers=JSON_HEADERS)
    ).status_code == 201
    hist = (await client.get("/fhir/_history")).json()
    assert len(hist["entry"]) == 1


@pytest.mark.parametrize("raw", [b"{bad json", b"", b'{"resourceType": "Patient",}', b"\xff\xfe"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    assert_outcome(await client.post("/fhir/Patient", content=raw, headers=JSON_HEADERS), 400)
    assert_outcome(await client.put("/fhir/Patient/m", content=raw, headers=JSON_HEADERS), 400)


@pytest.mark.parametrize("payload", [b"[]", b'"Patient"', b"42", b'{"name": []}'])
async def test_json_that_is_not_a_resource_is_400(
    client: httpx.AsyncClient, payload: bytes
) -> None:
    assert_outcome(
        await client.post("/fhir/Patient", content=payload, headers=JSON_HEADERS), 400, 422
    )


async def test_invalid_resource_lists_each_problem_with_its_expression(
    client: httpx.AsyncClient,
) -> None:
    bad = patient(gender="bogus", birthDate="1980-13-45", unknownElement=True)
    outcome = assert_outcome(
        await client.post("/fhir/Patient", content=body(bad), headers=JSON_HEADERS), 400, 422
    )
    expressions = {e for i in outcome["issue"] for e in i.get("expression", [])}
    assert {"Patient.gender", "Patient.birthDate", "Patient.unknownElement"} <= expressions
    mismatch = await client.post(
        "/fhir/Patient", content=body({"resourceType": "Observation"}), headers=JSON_HEADERS
    )
    assert_outcome(mismatch, 400, 422)
    assert (await client.get("/fhir/_history")).json()["entry"] == []


# -- $validate ---------------------------------------------------------------------------------


async def test_validate_on_type(client: httpx.AsyncClient) -> None:
    ok = await client.post("/fhir/Patient/$validate", content=body(patient()), headers=JSON_HEADERS)
    assert ok.status_code == 200
    assert ok.json()["resourceType"] == "OperationOutcome"
    assert all(i["severity"] in ("information", "warning") for i in ok.json()["issue"])
    bad = await client.post(
        "/fhir/Patient/$validate", content=body(patient(gender="x")), headers=JSON_HEADERS
    )
    assert bad.status_code in (200, 400, 412, 422)
    issues = bad.json()["issue"]
    assert any(
        i["severity"] == "error" and "Patient.gender" in i.get("expression", []) for i in issues
    )
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": patient(gender="y")}],
    }
    wrapped = await client.post(
        "/fhir/Patient/$validate", content=body(params), headers=JSON_HEADERS
    )
    assert any("Patient.gender" in i.get("expression", []) for i in wrapped.json()["issue"])
    # $validate stores nothing
    assert (await client.get("/fhir/_history")).json()["entry"] == []


async def test_validate_on_instance(client: httpx.AsyncClient) -> None:
    rid = await create_id(client, patient())
    r = await client.get(f"/fhir/Patient/{rid}/$validate")
    assert r.status_code == 200
    assert r.json()["resourceType"] == "OperationOutcome"
    assert not any(i["severity"] == "error" for i in r.json()["issue"])
    posted = await client.post(
        f"/fhir/Patient/{rid}/$validate",
        content=body(patient(id=rid, gender="z")),
        headers=JSON_HEADERS,
    )
    assert any(i["severity"] == "error" for i in posted.json()["issue"])
    assert_outcome(await client.get("/fhir/Patient/unknown-one/$validate"), 404)


# -- capabilities ------------------------------------------------------------------------------


def r4_resource_types() -> set[str]:
    bundle = json.loads(gzip.decompress(DEFINITIONS.read_bytes()))
    return {
        e["resource"]["id"]
        for e in bundle["entry"]
        if e["resource"].get("resourceType") == "StructureDefinition"
        and e["resource"].get("kind") == "resource"
        and not e["resource"].get("abstract")
        and e["resource"].get("derivation") == "specialization"
        and e["resource"].get("fhirVersion") == "4.0.1"
    }


async def test_metadata_is_a_capability_statement_listing_every_type(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(FHIR_JSON)
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance" and cs["status"] == "active"
    assert any(f in cs["format"] for f in ("json", FHIR_JSON))
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    listed = {res["type"] for res in rest["resource"]}
    expected = r4_resource_types()
    assert len(expected) >= 145
    assert listed == expected
    for res in rest["resource"]:
        codes = {i["code"] for i in res["interaction"]}
        assert {
            "read",
            "vread",
            "update",
            "delete",
            "create",
            "history-instance",
            "history-type",
        } <= codes
    system = {i["code"] for i in rest["interaction"]}
    assert {"transaction", "batch", "history-system"} <= system
    patient_entry = next(res for res in rest["resource"] if res["type"] == "Patient")
    assert {p["name"] for p in patient_entry.get("searchParam", [])} >= {"identifier", "name"}
    assert (await client.get("/fhir/metadata", params={"_pretty": "true"})).status_code == 200


# -- history over HTTP -------------------------------------------------------------------------


async def test_history_over_http_with_paging(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await put(client, f"/fhir/Patient/h{n}", patient(f"H{n}", id=f"h{n}"))
    first = await client.get("/fhir/Patient/_history", params={"_count": "2"})
    assert first.status_code == 200
    seen = []
    page = first.json()
    while True:
        assert page["type"] == "history"
        seen += [e["fullUrl"] for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        assert nxt[0].startswith("http://testserver/fhir/Patient/_history?")
        page = (await client.get(nxt[0])).json()
    assert sorted(seen) == sorted(f"http://testserver/fhir/Patient/h{n}" for n in range(5))
    since = (await client.get("/fhir/_history", params={"_since": "2000-01-01T00:00:00Z"})).json()
    assert len(since["entry"]) == 5
    future = (await client.get("/fhir/_history", params={"_since": "2999-01-01T00:00:00Z"})).json()
    assert future.get("entry", []) == []
    assert_outcome(await client.get("/fhir/_history", params={"_since": "yesterday"}), 400)
    assert_outcome(await client.get("/fhir/_history", params={"_count": "-1"}), 400)
    assert_outcome(await client.get("/fhir/Patient/nobody/_history"), 404)


# -- batch and transaction over HTTP -----------------------------------------------------------


async def test_transaction_over_http(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c0c0c0c-1111-4222-8333-444444444444",
                "resource": patient("Tx"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "poids"},
                    "subject": {"reference": "urn:uuid:0c0c0c0c-1111-4222-8333-444444444444"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    r = await client.post("/fhir", content=body(bundle), headers=JSON_HEADERS)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    pat_loc = out["entry"][0]["response"]["location"]
    obs_loc = out["entry"][1]["response"]["location"]
    obs = (await client.get("/fhir/" + obs_loc.split("/_history")[0].split("/fhir/")[-1])).json()
    assert obs["subject"]["reference"] == "/".join(pat_loc.split("/_history")[0].split("/")[-2:])
    bundle["entry"].append(
        {"resource": patient(gender="wrong"), "request": {"method": "POST", "url": "Patient"}}
    )
    failed = await client.post("/fhir", content=body(bundle), headers=JSON_HEADERS)
    assert_outcome(failed, 400, 422)
    assert len((await client.get("/fhir/_history")).json()["entry"]) == 2
    minimal = await client.post(
        "/fhir",
        content=body(bundle | {"entry": bundle["entry"][:1]}),
        headers={**JSON_HEADERS, "Prefer": "return=minimal"},
    )
    assert minimal.status_code == 200
    assert "resource" not in minimal.json()["entry"][0]


async def test_batch_over_http(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("Ok"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient(gender="wrong"), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ],
    }
    r = await client.post("/fhir", content=body(bundle), headers=JSON_HEADERS)
    assert r.status_code == 200
    out = r.json()
    assert out["type"] == "batch-response"
    assert [e["response"]["status"][:3] for e in out["entry"]] == ["201", "400", "404"]
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


# -- server errors -----------------------------------------------------------------------------


async def test_a_server_error_is_an_outcome_without_a_stack_trace(
    client: httpx.AsyncClient, db_url: str
) -> None:
    rid = await create_id(client, patient())
    # break the real database under the running app: the table the read needs disappears
    if db_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        conn.execute("DROP TABLE resources")
        conn.commit()
        conn.close()
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TABLE resources CASCADE")
    for method, path in [("GET", f"/fhir/Patient/{rid}"), ("GET", "/fhir/_history")]:
        r = await client.request(method, path)
        assert_outcome(r, 500)
    r = await client.post("/fhir/Patient", content=body(patient()), headers=JSON_HEADERS)
    assert_outcome(r, 500)
