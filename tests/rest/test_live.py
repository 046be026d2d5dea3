"""The same FHIR behaviour through a real `hygie serve` process and real HTTP, on both databases."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(family: str, **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def test_metadata_over_real_http(live_server: str) -> None:
    r = httpx.get(f"{live_server}/metadata", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["implementation"]["url"] == live_server
    assert len(cs["rest"][0]["resource"]) >= 145


def test_crud_cycle_over_real_http(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as c:
        r = c.post("/Patient", content=orjson.dumps(patient("Live")), headers=FHIR_JSON)
        assert r.status_code == 201
        rid = r.json()["id"]
        assert r.headers["location"] == f"{live_server}/Patient/{rid}/_history/1"
        assert r.headers["etag"] == 'W/"1"'
        assert r.headers["last-modified"].endswith("GMT")
        r = c.put(
            f"/Patient/{rid}", content=orjson.dumps(patient("Live2", id=rid)), headers=FHIR_JSON
        )
        assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
        stale = c.put(
            f"/Patient/{rid}",
            content=orjson.dumps(patient("Live3", id=rid)),
            headers={**FHIR_JSON, "If-Match": 'W/"1"'},
        )
        assert stale.status_code == 412
        assert stale.json()["resourceType"] == "OperationOutcome"
        assert c.get(f"/Patient/{rid}", headers={"If-None-Match": 'W/"2"'}).status_code == 304
        assert c.get(f"/Patient/{rid}/_history/1").json()["name"][0]["family"] == "Live"
        head = c.head(f"/Patient/{rid}")
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == 'W/"2"'
        assert c.delete(f"/Patient/{rid}").status_code in (200, 204)
        gone = c.get(f"/Patient/{rid}")
        assert gone.status_code == 410 and gone.json()["resourceType"] == "OperationOutcome"
        hist = c.get(f"/Patient/{rid}/_history").json()
        assert [e["response"]["etag"] for e in hist["entry"]] == ['W/"3"', 'W/"2"', 'W/"1"']


def test_errors_over_real_http(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as c:
        cases = [
            (c.get("/Foo/1"), 404),
            (c.delete("/metadata"), 405),
            (c.post("/Patient", content=b"{nope", headers=FHIR_JSON), 400),
            (
                c.post(
                    "/Patient",
                    content=b"<Patient/>",
                    headers={"Content-Type": "application/fhir+xml"},
                ),
                415,
            ),
            (c.get("/metadata", headers={"Accept": "application/fhir+xml"}), 406),
            (c.post("/Patient", content=b"x" * (17 * 1024 * 1024), headers=FHIR_JSON), 413),
        ]
        for r, status in cases:
            assert r.status_code == status, (status, r.text[:300])
            assert r.json()["resourceType"] == "OperationOutcome"
            assert "Traceback" not in r.text
        assert cases[1][0].headers["allow"]


def test_a_client_that_hangs_up_mid_body_does_not_break_the_server(live_server: str) -> None:
    port = int(live_server.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
            b'Content-Length: 1000\r\n\r\n{"resourceType":'
        )
    r = httpx.post(
        f"{live_server}/Patient",
        content=orjson.dumps(patient("After")),
        headers=FHIR_JSON,
        timeout=30,
    )
    assert r.status_code == 201
    entries = httpx.get(f"{live_server}/_history", timeout=30).json()["entry"]
    assert len(entries) == 1


@pytest.mark.parametrize("server", ["uvicorn"])
def test_uvicorn_serves_the_same_app(db_url: str, live_server_factory, server: str) -> None:
    live = live_server_factory(db_url, server=server)
    r = httpx.put(
        f"{live.base}/Patient/uv",
        content=orjson.dumps(patient("Uv", id="uv")),
        headers=FHIR_JSON,
        timeout=30,
    )
    assert r.status_code == 201
    assert httpx.get(f"{live.base}/Patient/uv", timeout=30).headers["etag"] == 'W/"1"'


def test_writes_survive_a_clean_restart(db_url: str, live_server_factory) -> None:
    live = live_server_factory(db_url)
    r = httpx.put(
        f"{live.base}/Patient/keep",
        content=orjson.dumps(patient("Keep", id="keep")),
        headers=FHIR_JSON,
        timeout=30,
    )
    assert r.status_code == 201
    live.stop()
    live.start()
    again = httpx.get(f"{live.base}/Patient/keep", timeout=30)
    assert again.status_code == 200 and again.json()["name"][0]["family"] == "Keep"
