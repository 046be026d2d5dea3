"""The identity service over REST, on SQLite and PostgreSQL: write rules, $ins-lookup,
$identity-status, $match (and PDQm), $ihe-pix, $duplicates, $merge/$unmerge."""

from __future__ import annotations

from typing import Any

import pytest

from hygie.services.identity import nir, profile

from .conftest import HELENE, JEAN, ins, make_nir, patient, with_status

pytestmark = pytest.mark.anyio


def params(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            key = "resource" if isinstance(v, dict) else "valueString"
            out.append({"name": name.replace("_", "-"), key: v})
    return {"resourceType": "Parameters", "parameter": out}


def param(body: dict[str, Any], name: str) -> Any:
    for p in body["parameter"]:
        if p["name"] == name:
            return next(v for k, v in p.items() if k != "name")
    return None


def diagnostics(r) -> str:
    return " | ".join(i["diagnostics"] for i in r.json()["issue"])


async def create(client, res: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/fhir/Patient", json=res)
    assert r.status_code == 201, r.text
    return r.json()


def helene() -> dict[str, Any]:
    return patient("Lefèvre-Utile", ["Hélène", "Marie"], "1984-03-21", "female", "75056")


async def qualify(client, pid: str) -> dict[str, Any]:
    r = await client.post(
        f"/fhir/Patient/{pid}/$identity-status",
        json=params(status="QUAL", reason="admission", document="CN"),
    )
    assert r.status_code == 200, r.text
    return param(r.json(), "return")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (HELENE.value[:14], "length"),
        (HELENE.value[:13] + "00", "key"),
        (nir.with_key(HELENE.value[:3] + "13" + HELENE.value[5:13]), "month"),
    ],
)
async def test_invalid_nir_is_422_naming_the_problem(identity_app, client, value, kind):
    bad = with_status(helene(), "QUAL")
    bad["identifier"] = [ins(value)]
    r = await client.post("/fhir/Patient", json=bad)
    assert r.status_code == 422
    assert r.json()["resourceType"] == "OperationOutcome"
    assert f"({kind})" in diagnostics(r) and value in diagnostics(r)
    assert r.json()["issue"][0]["expression"] == ["Patient.identifier[0].value"]
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": bad, "request": {"method": "POST", "url": "Patient"}}],
    }
    r = await client.post("/fhir", json=tx)
    assert r.status_code == 422 and f"({kind})" in diagnostics(r)


async def test_plain_writes_cannot_forge_a_status(identity_app, client):
    r = await client.post("/fhir/Patient", json=with_status(helene(), "QUAL"))
    assert r.status_code == 422 and "provisional" in diagnostics(r)
    with_ins = helene()
    with_ins["identifier"] = [ins(HELENE.value)]
    assert (await client.post("/fhir/Patient", json=with_ins)).status_code == 422
    pat = await create(client, with_status(helene(), "PROV", {"HOMD"}))
    pid = pat["id"]
    for code in ("VALI", "RECUP", "QUAL"):
        r = await client.put(f"/fhir/Patient/{pid}", json=with_status(dict(pat), code))
        assert r.status_code == 422, code
        assert "$identity-status" in diagnostics(r)
    patch = [
        {"op": "replace", "path": "/extension/0/extension/0/valueCoding/code", "value": "QUAL"}
    ]
    r = await client.patch(
        f"/fhir/Patient/{pid}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 422
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": with_status(dict(pat), "VALI"),
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            }
        ],
    }
    assert (await client.post("/fhir", json=tx)).status_code == 422
    # a POST carrying the id of an existing patient is a creation, not an update
    r = await client.post("/fhir/Patient", json=with_status(dict(pat), "QUAL"))
    assert r.status_code == 422
    ok = dict(pat, telecom=[{"system": "phone", "value": "06 39 98 00 00"}])
    assert (await client.put(f"/fhir/Patient/{pid}", json=ok)).status_code == 200
    qualified = await qualify(client, pid)
    for change in (
        {"birthDate": "1984-03-22"},
        {"identifier": [{"system": "urn:x", "value": "1"}]},
        {"extension": [e for e in qualified["extension"] if e["url"] != profile.RELIABILITY_URL]},
    ):
        r = await client.put(f"/fhir/Patient/{pid}", json={**qualified, **change})
        assert r.status_code == 422, change
    moved = {**qualified, "address": [{"city": "Lyon"}]}
    assert (await client.put(f"/fhir/Patient/{pid}", json=moved)).status_code == 200
    fictitious = with_status(helene(), "PROV", {"FICT", "DOUT"})
    r = await client.post("/fhir/Patient", json=fictitious)
    assert r.status_code == 422 and "may not be combined" in diagnostics(r)


async def test_ins_lookup(identity_app, client):
    r = await client.get(
        "/fhir/Patient/$ins-lookup",
        params={
            "family": "LEFEVRE UTILE",
            "given": "Marie",
            "birthdate": "1984-03-21",
            "gender": "female",
        },
    )
    assert r.status_code == 200
    assert param(r.json(), "result") == "found" and param(r.json(), "insiCode") == "00"
    assert param(r.json(), "identifier")["value"] == HELENE.value
    r = await client.get(
        "/fhir/Patient/$ins-lookup",
        params={"family": "Martin", "given": "Lucas", "birthdate": "1990-05-05", "gender": "male"},
    )
    assert param(r.json(), "result") == "several" and param(r.json(), "insiCode") == "02"
    r = await client.get(
        "/fhir/Patient/$ins-lookup",
        params={
            "family": "Martin",
            "given": "Lucas",
            "birthdate": "1990-05-05",
            "gender": "male",
            "birthplace": "13055",
        },
    )
    assert param(r.json(), "result") == "found"
    r = await client.get(
        "/fhir/Patient/$ins-lookup",
        params={"family": "Personne", "given": "Paul", "birthdate": "1990-05-05", "gender": "male"},
    )
    assert param(r.json(), "result") == "not-found" and param(r.json(), "insiCode") == "01"
    r = await client.get("/fhir/Patient/$ins-lookup", params={"family": "Martin"})
    assert r.status_code == 400
    r = await client.post(
        "/fhir/Patient/$ins-lookup", json=params(cardNir=JEAN.value, cardBirthDate="1976-11-02")
    )
    assert param(r.json(), "result") == "found"
    jean = await create(client, patient("de La Fontaine", ["Jean-Pierre"], "1976-11-02", "male"))
    r = await client.get(f"/fhir/Patient/{jean['id']}/$ins-lookup")
    assert param(r.json(), "result") == "found"
    r = await client.get(
        f"/fhir/Patient/{jean['id']}/$ins-lookup",
        params={"cardNir": HELENE.value, "cardBirthDate": "1984-03-21"},
    )
    assert param(r.json(), "result") == "traits-differ"
    doubtful = await create(client, with_status(helene(), "PROV", {"DOUT"}))
    r = await client.get(f"/fhir/Patient/{doubtful['id']}/$ins-lookup")
    assert r.status_code == 422 and "EXI SI 09" in diagnostics(r)


async def test_identity_status_operation(identity_app, client):
    pat = await create(client, helene())
    pid = pat["id"]
    url = f"/fhir/Patient/{pid}/$identity-status"
    r = await client.post(url, json=params(status="QUAL", reason="admission"))
    assert r.status_code == 422 and "high-trust document" in diagnostics(r)
    r = await client.post(url, json=params(status="VALI", reason="admission", document="CB"))
    assert r.status_code == 422 and "not a high-trust" in diagnostics(r)
    r = await client.post(url, json=params(status="VALI", document="PA"))
    assert r.status_code == 422 and "reason" in diagnostics(r)
    r = await client.post(url, json=params(status="PROV", reason="again"))
    assert r.status_code == 422 and "already" in diagnostics(r)
    r = await client.post(url, json=params(status="VALI", reason="passport seen", document="PA"))
    assert r.status_code == 200
    assert profile.status(param(r.json(), "return")) == "VALI"
    prov_ref = param(r.json(), "provenance")["reference"]
    prov = (await client.get(f"/fhir/{prov_ref}")).json()
    assert prov["reason"][0]["text"] == "passport seen"
    assert prov["target"][0]["reference"] == f"Patient/{pid}"
    assert prov["entity"][0]["what"]["reference"] == f"Patient/{pid}/_history/1"
    r = await client.post(
        url, json=params(status="QUAL", reason="INSi"), headers={"If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    r = await client.post(url, json=params(status="QUAL", reason="INSi"))
    assert r.status_code == 200, r.text
    qualified = param(r.json(), "return")
    assert [i["value"] for i in qualified["identifier"]] == [HELENE.value]
    assert qualified["name"][0]["family"] == "LEFEVRE-UTILE"
    r = await client.post(url, json=params(status="VALI", reason="INS belongs to someone else"))
    assert r.status_code == 200
    downgraded = param(r.json(), "return")
    assert downgraded["identifier"][0]["use"] == "old"  # kept, not lost
    r = await client.post(
        url, json=params(status="PROV", reason="looks forged", addAttribute="DOUT")
    )
    assert r.status_code == 200
    r = await client.post(url, json=params(status="RECUP", reason="try INSi"))
    assert r.status_code == 422 and "may not be queried" in diagnostics(r)
    stranger = await create(client, patient("Inconnu", ["Paul"], "1950-01-01", "male"))
    r = await client.post(
        f"/fhir/Patient/{stranger['id']}/$identity-status",
        json=params(status="RECUP", reason="INSi"),
    )
    assert r.status_code == 422 and "CR 01" in diagnostics(r)
    twin = await create(client, patient("Martin", ["Lucas"], "1990-05-05", "male"))
    r = await client.post(
        f"/fhir/Patient/{twin['id']}/$identity-status", json=params(status="RECUP", reason="INSi")
    )
    assert r.status_code == 422 and "CR 02" in diagnostics(r)
    r = await client.get(f"/fhir/Patient/{pid}/$identity-status")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert (await client.get(f"/fhir/Patient/{pid}/$no-such-operation")).status_code == 404
    assert (await client.post("/fhir/Patient/$validate", json=helene())).status_code == 200
    r = await client.post("/fhir/Patient/nobody/$identity-status", json=params(status="VALI"))
    assert r.status_code == 404


async def test_match_and_pdqm(identity_app, client):
    target = await create(client, helene())
    married = helene()
    married["name"][0]["family"] = "Durand"
    married["name"].append({"use": "usual", "family": "Lefèvre-Utile", "given": ["Hélène"]})
    other = await create(client, married)
    await create(client, patient("Lefèvre-Utile", ["Paul"], "1984-03-21", "male"))
    await create(client, patient("Garcia", ["Inès"], "2001-07-14", "female"))
    query = patient("LEFEVRE UTILE", ["Helene"], "1984-21-03", "female")
    r = await client.post("/fhir/Patient/$match", json=params(resource=query))
    assert r.status_code == 200
    bundle = r.json()
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert ids[0] == target["id"] and other["id"] in ids
    first = bundle["entry"][0]["search"]
    assert first["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/match-grade"
    assert first["extension"][0]["valueCode"] == "probable" and 0.85 <= first["score"] < 1
    assert all(e["search"]["score"] >= 0.65 for e in bundle["entry"])
    r = await client.post("/fhir/Patient/$match", json=params(resource=query, count="1"))
    assert len(r.json()["entry"]) == 1
    only = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": query},
            {"name": "onlyCertainMatches", "valueBoolean": True},
        ],
    }
    assert (await client.post("/fhir/Patient/$match", json=only)).json()["entry"] == []
    await qualify(client, target["id"])
    certain = dict(query, identifier=[ins(HELENE.value)])
    r = await client.post(
        "/fhir/Patient/$match",
        json={
            **only,
            "parameter": [{"name": "resource", "resource": certain}, only["parameter"][1]],
        },
    )
    assert [e["search"]["extension"][0]["valueCode"] for e in r.json()["entry"]] == ["certain"]
    other_ins = dict(query, identifier=[ins(make_nir("2", "8403", "75056", "999"))])
    r = await client.post("/fhir/Patient/$match", json=params(resource=other_ins))
    assert target["id"] not in [e["resource"]["id"] for e in r.json()["entry"]]
    r = await client.get(
        "/fhir/Patient/$match",
        params={
            "family": "lefevre-utile",
            "given": "helene",
            "birthdate": "1984-03-21",
            "gender": "female",
        },
    )
    assert r.json()["entry"][0]["resource"]["id"] == target["id"]
    r = await client.get(
        "/fhir/Patient",
        params={
            "family": "lefevre",
            "given": "helene",
            "birthdate": "1984-03-21",
            "gender": "female",
        },
    )
    assert r.status_code == 200 and len(r.json()["entry"]) == 2  # ITI-78 search
    assert (await client.post("/fhir/Patient/$match", json=params())).status_code == 400
    r = await client.post("/fhir/Patient/$match", json=params(resource={"resourceType": "Basic"}))
    assert r.status_code == 400


async def test_ihe_pix(identity_app, client):
    ipp = "urn:oid:1.2.250.1.999.1.1.1"
    lab = "urn:oid:1.2.250.1.999.2"
    pat = await create(
        client,
        patient(
            "Garcia",
            ["Inès"],
            "2001-07-14",
            "female",
            identifier=[{"system": ipp, "value": "100001"}, {"system": lab, "value": "L-77"}],
        ),
    )
    r = await client.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{ipp}|100001"})
    assert r.status_code == 200
    assert param(r.json(), "targetIdentifier") == {"system": lab, "value": "L-77"}
    assert param(r.json(), "targetId") == {"reference": f"Patient/{pat['id']}"}
    r = await client.get(
        "/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{ipp}|100001", "targetSystem": ipp}
    )
    assert r.json().get("parameter") == []
    r = await client.get("/fhir/Patient/$ihe-pix", params={"sourceIdentifier": f"{ipp}|999"})
    assert r.status_code == 404
    r = await client.get(
        "/fhir/Patient/$ihe-pix",
        params={"sourceIdentifier": f"{ipp}|100001", "targetSystem": "urn:x"},
    )
    assert r.status_code == 403
    r = await client.get(f"/fhir/Patient/{pat['id']}/$ihe-pix")
    assert len(r.json()["parameter"]) == 4


async def test_duplicates_merge_and_unmerge(identity_app, client):
    keep = await create(client, helene())
    dup = await create(client, patient("LEFEVRE UTILE", ["Helene"], "1984-03-12", "female"))
    await create(client, patient("Garcia", ["Inès"], "2001-07-14", "female"))
    enc = (
        await client.post(
            "/fhir/Encounter",
            json={
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "subject": {"reference": f"Patient/{dup['id']}"},
            },
        )
    ).json()
    obs = (
        await client.post(
            "/fhir/Observation",
            json={
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "poids"},
                "subject": {"reference": f"Patient/{dup['id']}"},
                "encounter": {"reference": f"Encounter/{enc['id']}"},
            },
        )
    ).json()
    r = await client.get("/fhir/Patient/$duplicates")
    assert r.status_code == 200
    pairs = [p for p in r.json()["parameter"] if p["name"] == "pair"]
    assert len(pairs) == 1
    assert {
        x["valueReference"]["reference"] for x in pairs[0]["part"] if x["name"] == "patient"
    } == {f"Patient/{keep['id']}", f"Patient/{dup['id']}"}
    assert param(r.json(), "scanned") == 3
    r = await client.post(
        "/fhir/Patient/$merge",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "source-patient", "valueReference": {"reference": f"Patient/{dup['id']}"}},
                {
                    "name": "target-patient",
                    "valueReference": {"reference": f"Patient/{keep['id']}"},
                },
                {"name": "reason", "valueString": "same person, checked on ID card"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert param(r.json(), "moved") == 2
    moved_obs = (await client.get(f"/fhir/Observation/{obs['id']}")).json()
    assert moved_obs["subject"]["reference"] == f"Patient/{keep['id']}"
    assert moved_obs["meta"]["versionId"] == "2"
    source = (await client.get(f"/fhir/Patient/{dup['id']}")).json()
    assert source["active"] is False and source["link"][0]["type"] == "replaced-by"
    assert {"DOUA", "DESA"} <= profile.comments(source)
    target = (await client.get(f"/fhir/Patient/{keep['id']}")).json()
    assert target["link"] == [{"other": {"reference": f"Patient/{dup['id']}"}, "type": "replaces"}]
    r = await client.get("/fhir/Patient/$duplicates")
    assert [p for p in r.json()["parameter"] if p["name"] == "pair"] == []
    r = await client.post(
        "/fhir/Patient/$merge",
        json=params(
            source_patient=f"Patient/{dup['id']}",
            target_patient=f"Patient/{keep['id']}",
            reason="x",
        ),
    )
    assert r.status_code == 422
    r = await client.post(f"/fhir/Patient/{dup['id']}/$unmerge", json=params(reason="not the same"))
    assert r.status_code == 200, r.text
    back = (await client.get(f"/fhir/Observation/{obs['id']}")).json()
    assert back["subject"]["reference"] == f"Patient/{dup['id']}"
    assert back["meta"]["versionId"] == "3"
    source = (await client.get(f"/fhir/Patient/{dup['id']}")).json()
    assert source["active"] is True and "link" not in source
    assert "link" not in (await client.get(f"/fhir/Patient/{keep['id']}")).json()
    provs = (await client.get("/fhir/Provenance")).json()["entry"]
    activities = sorted(p["resource"]["activity"]["coding"][0]["code"] for p in provs)
    assert activities == ["merge", "unmerge"]
    r = await client.post(f"/fhir/Patient/{dup['id']}/$unmerge", json=params(reason="again"))
    assert r.status_code == 422
