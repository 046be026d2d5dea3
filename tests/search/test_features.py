"""More search features against the database: uri, number, _lastUpdated, identifiers, results."""

from __future__ import annotations

import pytest

from hygie.fhir.outcome import FhirError
from hygie.search import execute

BASE = "http://test/fhir"


def run(cursor, rtype, query, **kw):
    params = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return execute(cursor, rtype, params, base=BASE, **kw)


def ids(bundle):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


@pytest.fixture
def data(load):
    load(
        {"resourceType": "ValueSet", "id": "v1", "url": "http://acme.org/fhir/ValueSet/a/b"},
        {"resourceType": "ValueSet", "id": "v2", "url": "http://acme.org/fhir/ValueSet"},
        {"resourceType": "ValueSet", "id": "v3", "url": "http://other.org/x"},
        {
            "resourceType": "RiskAssessment",
            "id": "r1",
            "prediction": [{"probabilityDecimal": 0.25}],
        },
        {"resourceType": "RiskAssessment", "id": "r2", "prediction": [{"probabilityDecimal": 0.8}]},
        {
            "resourceType": "Patient",
            "id": "p1",
            "text": {"status": "generated", "div": "<div>x</div>"},
            "identifier": [
                {
                    "system": "urn:oid:1.2.250.1.213.1.4.8",
                    "value": "248",
                    "type": {"coding": [{"system": "urn:v2", "code": "INS-NIR"}]},
                }
            ],
            "gender": "female",
            "active": True,
        },
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "http://test/fhir/Patient/p1"},
            "performer": [{"identifier": {"system": "urn:rpps", "value": "10001"}}],
        },
    )


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        ("ValueSet", "url=http://acme.org/fhir/ValueSet", ["v2"]),
        ("ValueSet", "url:below=http://acme.org/fhir", ["v1", "v2"]),
        ("ValueSet", "url:above=http://acme.org/fhir/ValueSet/a/b/c", ["v1", "v2"]),
        ("RiskAssessment", "probability=0.25", ["r1"]),
        ("RiskAssessment", "probability=gt0.5", ["r2"]),
        ("RiskAssessment", "probability=le0.25", ["r1"]),
        ("Patient", "identifier:of-type=urn:v2|INS-NIR|248", ["p1"]),
        ("Patient", "identifier:of-type=urn:v2|INS-NIR|249", []),
        ("Patient", "active=true", ["p1"]),
        ("Patient", "_id:missing=false", ["p1"]),
        ("Observation", "performer:identifier=urn:rpps|10001", ["o1"]),
        ("Observation", "subject=http://test/fhir/Patient/p1", ["o1"]),
        ("Observation", "subject=Patient/p1", ["o1"]),
    ],
)
def test_feature(cursor, data, rtype, query, expected):
    assert ids(run(cursor, rtype, query)) == expected


def test_last_updated(cursor, data):
    everything = ids(run(cursor, "ValueSet", ""))
    assert ids(run(cursor, "ValueSet", "_lastUpdated=gt2023-11-14T22:13:21Z")) == ["v2", "v3"]
    assert ids(run(cursor, "ValueSet", "_lastUpdated=2023")) == everything
    assert ids(run(cursor, "ValueSet", "_lastUpdated=lt2023")) == []


def test_total_modes(cursor, data):
    assert run(cursor, "ValueSet", "_count=1&_total=accurate")["total"] == 3
    assert "total" not in run(cursor, "ValueSet", "_count=1")
    assert "total" not in run(cursor, "ValueSet", "_total=none&_count=1")


def test_summary_and_elements(cursor, data):
    res = run(cursor, "Patient", "_elements=gender")["entry"][0]["resource"]
    assert set(res) == {"resourceType", "id", "meta", "gender"}
    assert res["meta"]["tag"][0]["code"] == "SUBSETTED"
    res = run(cursor, "Patient", "_summary=data")["entry"][0]["resource"]
    assert "text" not in res and res["gender"] == "female"
    res = run(cursor, "Patient", "_summary=true")["entry"][0]["resource"]
    assert "text" not in res and res["identifier"]


def test_count_is_capped(cursor, load):
    load(*[{"resourceType": "Basic", "id": f"b{i}", "code": {"text": "x"}} for i in range(3)])
    b = run(cursor, "Basic", "_count=100000")
    assert len(b["entry"]) == 3 and b["total"] == 3


@pytest.mark.parametrize(
    "query", ["_id:text=x", "_lastUpdated=2020-02-30", "value-quantity=abc", "code:in=http://vs"]
)
def test_malformed_values(cursor, data, query):
    with pytest.raises(FhirError) as err:
        run(cursor, "Observation", query)
    assert err.value.status == 400


def test_bad_cursor(cursor, data):
    with pytest.raises(FhirError) as err:
        run(cursor, "ValueSet", "_cursor=garbage")
    assert "_cursor" in str(err.value)
