"""Composite parameters, terminology modifiers, Range quantities, `_list` and `near`."""

from __future__ import annotations

import pytest

from hygie.fhir.outcome import FhirError
from hygie.search import execute, supported_modifiers, supported_parameters

BASE = "http://test/fhir"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def run(cursor, rtype, query):
    params = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return execute(cursor, rtype, params, base=BASE)


def ids(bundle):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []))


def bp(oid, systolic, diastolic, code="85354-9"):
    def comp(c, v):
        return {
            "code": {"coding": [{"system": LOINC, "code": c}]},
            "valueQuantity": {"value": v, "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "component": [comp("8480-6", systolic), comp("8462-4", diastolic)],
    }


def weight(oid, kg, status="final"):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
        "valueQuantity": {"value": kg, "system": UCUM, "code": "kg"},
    }


@pytest.fixture
def data(load):
    load(
        bp("bp1", 150, 95),
        bp("bp2", 118, 150),  # 150 belongs to the diastolic: must not match systolic gt140
        weight("w1", 70),
        weight("w2", 90, status="preliminary"),
        {
            "resourceType": "Observation",
            "id": "s1",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]
            },
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient/p1"},
            "onsetRange": {
                "low": {"value": 10, "unit": "a", "system": UCUM, "code": "a"},
                "high": {"value": 20, "unit": "a", "system": UCUM, "code": "a"},
            },
        },
        {
            "resourceType": "Condition",
            "id": "c2",
            "subject": {"reference": "Patient/p1"},
            "onsetAge": {"value": 40, "unit": "a", "system": UCUM, "code": "a"},
        },
        {
            "resourceType": "List",
            "id": "l1",
            "status": "current",
            "mode": "working",
            "entry": [
                {"item": {"reference": "Observation/w1"}},
                {"item": {"reference": "Observation/bp2"}},
            ],
        },
        {
            "resourceType": "Location",
            "id": "nantes",
            "position": {"latitude": 47.218, "longitude": -1.553},
        },
        {
            "resourceType": "Location",
            "id": "reze",
            "position": {"latitude": 47.183, "longitude": -1.55},
        },
        {
            "resourceType": "Location",
            "id": "paris",
            "position": {"latitude": 48.857, "longitude": 2.352},
        },
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
        {"resourceType": "Patient", "id": "p2", "gender": "other"},
        {
            "resourceType": "ValueSet",
            "id": "heavy",
            "url": "http://hygie.test/ValueSet/weights",
            "status": "active",
            "compose": {"include": [{"system": LOINC, "concept": [{"code": "29463-7"}]}]},
        },
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"component-code-value-quantity={LOINC}|8480-6$gt140", ["bp1"]),
        ("component-code-value-quantity=8480-6$gt140", ["bp1"]),
        ("component-code-value-quantity=8462-4$gt140", ["bp2"]),
        ("component-code-value-quantity=8480-6$lt120,8462-4$gt90", ["bp1", "bp2"]),
        ("component-code-value-quantity=|8480-6$gt140", []),
        (f"component-code-value-quantity=8480-6$150|{UCUM}|mm[Hg]", ["bp1"]),
        (f"code-value-quantity={LOINC}|29463-7$ge80", ["w2"]),
        ("combo-code-value-quantity=8480-6$gt140", ["bp1"]),
        ("combo-code-value-quantity=29463-7$lt80", ["w1"]),
        ("code-value-concept=72166-2$http://snomed.info/sct|8517006", ["s1"]),
        ("code-value-concept=72166-2$8517006", ["s1"]),
        ("code-value-concept=29463-7$8517006", []),
    ],
)
def test_composite(cursor, data, query, expected):
    assert ids(run(cursor, "Observation", query)) == expected


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        (
            "Observation",
            "status:in=http://hl7.org/fhir/ValueSet/observation-status",
            ["bp1", "bp2", "s1", "w1", "w2"],
        ),
        ("Observation", "code:in=http://hygie.test/ValueSet/weights", ["w1", "w2"]),
        ("Observation", "code:in=ValueSet/heavy", ["w1", "w2"]),
        ("Observation", "code:not-in=http://hygie.test/ValueSet/weights", ["bp1", "bp2", "s1"]),
        ("Patient", "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", ["p1", "p2"]),
        ("Patient", "gender=http://hl7.org/fhir/administrative-gender|female", ["p1"]),
        ("Patient", "gender=female", ["p1"]),
        # v3 ActCode-free example: the R4 'example' hierarchy of administrative gender is flat
        ("Patient", "gender:below=http://hl7.org/fhir/administrative-gender|other", ["p2"]),
        ("Patient", "gender:above=http://hl7.org/fhir/administrative-gender|female", ["p1"]),
    ],
)
def test_terminology(cursor, data, rtype, query, expected):
    assert ids(run(cursor, rtype, query)) == expected


def test_below_follows_the_code_system_hierarchy(cursor, load):
    # http://terminology.hl7.org/CodeSystem/v3-... are not vendored; use a stored CodeSystem
    load(
        {
            "resourceType": "CodeSystem",
            "id": "cs",
            "url": "http://hygie.test/cs",
            "status": "active",
            "content": "complete",
            "hierarchyMeaning": "is-a",
            "concept": [
                {"code": "a", "concept": [{"code": "a1", "concept": [{"code": "a11"}]}]},
                {"code": "b"},
            ],
        },
        *[
            {
                "resourceType": "Observation",
                "id": c,
                "status": "final",
                "code": {"coding": [{"system": "http://hygie.test/cs", "code": c}]},
            }
            for c in ("a", "a1", "a11", "b")
        ],
        {
            "resourceType": "ValueSet",
            "id": "vs",
            "url": "http://hygie.test/vs",
            "status": "active",
            "compose": {
                "include": [
                    {
                        "system": "http://hygie.test/cs",
                        "filter": [{"property": "concept", "op": "descendent-of", "value": "a"}],
                    }
                ]
            },
        },
    )
    assert ids(run(cursor, "Observation", "code:below=http://hygie.test/cs|a1")) == ["a1", "a11"]
    assert ids(run(cursor, "Observation", "code:above=http://hygie.test/cs|a1")) == ["a", "a1"]
    assert ids(run(cursor, "Observation", "code:in=http://hygie.test/vs")) == ["a1", "a11"]


def test_unknown_value_set_is_a_400(cursor, data):
    with pytest.raises(FhirError) as err:
        run(cursor, "Observation", "code:in=http://nowhere/vs")
    assert err.value.status == 400 and "code:in" in str(err.value)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("onset-age=gt15", ["c1", "c2"]),
        ("onset-age=lt15", ["c1"]),
        ("onset-age=gt30", ["c2"]),
        ("onset-age=lt5", []),
        ("onset-age=40", ["c2"]),
        ("onset-age=ap15", ["c1"]),
        (f"onset-age=ge20|{UCUM}|a", ["c1", "c2"]),
    ],
)
def test_quantity_range(cursor, data, query, expected):
    assert ids(run(cursor, "Condition", query)) == expected


def test_list(cursor, data):
    assert ids(run(cursor, "Observation", "_list=l1")) == ["bp2", "w1"]
    assert ids(run(cursor, "Observation", "_list=l1&status=final")) == ["bp2", "w1"]
    assert ids(run(cursor, "Observation", "_list=nope")) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("near=47.2|-1.55|10|km", ["nantes", "reze"]),
        ("near=47.2|-1.55|3000|m", ["nantes", "reze"]),
        ("near=47.218|-1.553|1", ["nantes"]),
        ("near=47.2|-1.55|400|km", ["nantes", "paris", "reze"]),
        ("near=47.2|-1.55", ["nantes", "reze"]),
    ],
)
def test_near(cursor, data, query, expected):
    assert ids(run(cursor, "Location", query)) == expected


@pytest.mark.parametrize(
    ("rtype", "query"),
    [
        ("Location", "near=91|0|1"),
        ("Location", "near=47|x"),
        ("Location", "near=47|1|1|parsec"),
        ("Observation", "component-code-value-quantity=8480-6"),
        ("Observation", "component-code-value-quantity=8480-6$xx140"),
        ("Observation", "component-code-value-quantity:missing=true"),
        ("Observation", "_list=$current-allergies"),
    ],
)
def test_malformed(cursor, data, rtype, query):
    with pytest.raises(FhirError) as err:
        run(cursor, rtype, query)
    assert err.value.status == 400


def test_capabilities_list_composites_and_near():
    params = {p["name"]: p for p in supported_parameters()["Observation"]}
    assert params["component-code-value-quantity"]["type"] == "composite"
    assert "near" in {p["name"] for p in supported_parameters()["Location"]}
    assert {"in", "not-in", "above", "below"} <= set(supported_modifiers()["token"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a Period without end is still running: it overlaps every later range
        ("date=ge2024-01-10&date=lt2024-02-01", ["jan15", "jan31", "open"]),
        ("date=gt2024-01&date=le2024-03", ["feb", "mar", "open"]),
        ("date=ge2024-01-15&date=le2024-01-15", ["jan15", "open"]),
        ("date=sa2024-01-31&date=eb2024-12", ["feb", "mar", "period"]),
        ("date=eq2024-02,eq2024-03", ["feb", "mar"]),
        ("date=gt2023", ["feb", "jan15", "jan31", "mar", "open", "period"]),
        ("date=lt2024-01-20", ["jan15", "open"]),
    ],
)
@pytest.mark.parametrize("with_open", [True, False])  # an open Period disables the bounds
def test_date_ranges_bounded_by_the_longest_value(cursor, load, query, expected, with_open):
    def obs(oid, **when):
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"text": "x"},
            **when,
        }

    load(
        obs("jan15", effectiveDateTime="2024-01-15T10:00:00Z"),
        obs("jan31", effectiveDateTime="2024-01-31"),
        obs("feb", effectiveDateTime="2024-02"),
        obs("mar", effectiveDateTime="2024-03-03T08:00:00+01:00"),
        obs("period", effectivePeriod={"start": "2024-04-01", "end": "2024-06-30"}),
    )
    if with_open:
        load(obs("open", effectivePeriod={"start": "2023-12-01"}))
    else:
        expected = [e for e in expected if e != "open"]
    assert ids(run(cursor, "Observation", query)) == expected
