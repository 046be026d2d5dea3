"""The CapabilityStatement tells the truth about search: custom SearchParameters appear in
`/metadata` as soon as they are created and disappear when deleted (the statement is cached,
keyed by the custom parameters' generation), and the full-text parameters `_text`/`_content`
are declared unsupported and refused with a 400, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio

SP = {
    "resourceType": "SearchParameter",
    "url": "http://hygie.test/SearchParameter/favourite-colour",
    "name": "FavouriteColour",
    "status": "active",
    "description": "Favourite colour (a test extension)",
    "code": "favourite-colour",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.extension('http://hygie.test/StructureDefinition/colour').value",
}
JSON = {"Content-Type": "application/fhir+json"}


async def _patient_params(client: httpx.AsyncClient) -> dict[str, dict]:
    r = await client.get("/fhir/metadata")
    assert r.status_code == 200
    rest = r.json()["rest"][0]
    patient = next(res for res in rest["resource"] if res["type"] == "Patient")
    return {p["name"]: p for p in patient["searchParam"]}


async def test_custom_parameter_appears_and_disappears_in_metadata(
    client: httpx.AsyncClient,
) -> None:
    before = await _patient_params(client)  # the statement is now cached
    assert "favourite-colour" not in before and "family" in before
    created = await client.post("/fhir/SearchParameter", json=SP, headers=JSON)
    assert created.status_code == 201, created.text
    after = await _patient_params(client)
    assert after["favourite-colour"]["definition"] == SP["url"]
    assert after["favourite-colour"]["type"] == "string"
    assert set(after) - set(before) == {"favourite-colour"}
    # and the parameter really works in a search (the statement does not over-promise)
    colour = "http://hygie.test/StructureDefinition/colour"
    body = {"resourceType": "Patient", "extension": [{"url": colour, "valueString": "Vert"}]}
    assert (await client.post("/fhir/Patient", json=body, headers=JSON)).status_code == 201
    r = await client.get("/fhir/Patient", params={"favourite-colour": "vert"})
    assert r.status_code == 200 and r.json()["entry"], r.text
    # deleted: gone from the statement, and a search using it is a 400 again
    sp_id = created.json()["id"]
    assert (await client.delete(f"/fhir/SearchParameter/{sp_id}")).status_code in (200, 204)
    gone = await _patient_params(client)
    assert "favourite-colour" not in gone and set(gone) == set(before)
    r = await client.get("/fhir/Patient", params={"favourite-colour": "vert"})
    assert r.status_code == 400


@pytest.mark.parametrize("param", ["_text", "_content"])
async def test_full_text_is_declared_unsupported_and_refused(
    client: httpx.AsyncClient, param: str
) -> None:
    r = await client.get("/fhir/metadata")
    rest = r.json()["rest"][0]
    assert f"`{param}`" in rest["documentation"] and "not supported" in rest["documentation"]
    for res in rest["resource"]:
        assert param not in {p["name"] for p in res.get("searchParam", [])}, res["type"]
    r = await client.get("/fhir/Patient", params={param: "diabete"})
    assert r.status_code == 400
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert param in str(outcome["issue"])
    # lenient handling ignores it and leaves it out of the self link
    r = await client.get(
        "/fhir/Patient", params={param: "diabete"}, headers={"Prefer": "handling=lenient"}
    )
    assert r.status_code == 200
    self_link = next(lk["url"] for lk in r.json()["link"] if lk["relation"] == "self")
    assert param not in self_link
