"""Search execution against a real database (the `cursor` fixture; SQLite by default)."""

from __future__ import annotations

import pytest

from hygie.fhir.outcome import FhirError
from hygie.search import execute, matching_ids

BASE = "http://test/fhir"


def patient(pid, family, given, birth, gender="female", **extra):
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        "gender": gender,
        **extra,
    }


def obs(oid, pid, code, value, when, **extra):
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": code}],
            "text": "Poids corporel",
        },
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "kg"},
        **extra,
    }


@pytest.fixture
def data(load):
    load(
        patient(
            "p1",
            "Dupont",
            "Hélène",
            "1980-05-12",
            identifier=[{"system": "urn:ins", "value": "1800575123456"}],
            meta={"tag": [{"system": "urn:t", "code": "vip"}]},
            generalPractitioner=[{"reference": "Practitioner/dr1"}],
        ),
        patient(
            "p2",
            "De La Fontaine",
            "Jean",
            "1975",
            gender="male",
            managingOrganization={"reference": "Organization/o1"},
        ),
        patient("p3", "Martin", "Helena", "2001-12-31T23:30:00-02:00"),
        {"resourceType": "Organization", "id": "o1", "name": "CHU de Nantes"},
        {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "House"}]},
        obs("o1", "p1", "29463-7", 60.5, "2024-03-01T10:00:00+01:00"),
        obs("o2", "p1", "29463-7", 62, "2024-04-01"),
        obs("o3", "p2", "8302-2", 180, "2023-12-31T23:59:59Z"),
        {
            "resourceType": "Observation",
            "id": "o4",
            "status": "cancelled",
            "code": {"text": "sans code"},
            "subject": {"reference": "Patient/p3"},
        },
    )
    load(patient("gone", "Dupont", "Ghost", "1980"), deleted=True)


def ids(bundle):
    return sorted(
        e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
    )


def search(cursor, rtype, query, **kw):
    params = [tuple(p.split("=", 1)) for p in query.split("&") if p] if query else []
    return execute(cursor, rtype, params, base=BASE, **kw)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["p1", "p2", "p3"]),
        ("name=helene", ["p1"]),
        ("name=HEL", ["p1", "p3"]),
        ("family=de la fontaine", ["p2"]),
        ("family:exact=Dupont", ["p1"]),
        ("family:exact=dupont", []),
        ("name:contains=ont", ["p1", "p2"]),
        ("given=hel,jean", ["p1", "p2", "p3"]),
        ("given=hel&family=martin", ["p3"]),
        ("gender=male", ["p2"]),
        ("gender:not=male", ["p1", "p3"]),
        ("identifier=urn:ins|1800575123456", ["p1"]),
        ("identifier=|1800575123456", []),
        ("identifier=urn:ins|", ["p1"]),
        ("identifier=1800575123456", ["p1"]),
        ("_id=p1,p3", ["p1", "p3"]),
        ("_tag=urn:t|vip", ["p1"]),
        ("birthdate=1980", ["p1"]),
        ("birthdate=1975", ["p2"]),
        ("birthdate=1980-05", ["p1"]),
        ("birthdate=lt1980", ["p2"]),
        ("birthdate=ge1980-05-12", ["p1", "p3"]),
        ("birthdate=gt1980-05-12", ["p3"]),
        ("birthdate=2002-01-01", ["p3"]),  # -02:00 moves the instant into 2002 UTC
        ("birthdate=ne1980-05-12", ["p2", "p3"]),
        ("birthdate=sa1976", ["p1", "p3"]),
        ("birthdate=eb1980", ["p2"]),
        ("birthdate:missing=true", []),
        ("general-practitioner=Practitioner/dr1", ["p1"]),
        ("general-practitioner=dr1", ["p1"]),
        ("general-practitioner:missing=true", ["p2", "p3"]),
        ("organization:Organization=o1", ["p2"]),
        ("organization.name=chu", ["p2"]),
        ("_has:Observation:patient:code=8302-2", ["p2"]),
        ("_has:Observation:subject:status=cancelled", ["p3"]),
    ],
)
def test_patient_search(cursor, data, query, expected):
    assert ids(search(cursor, "Patient", query)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code=http://loinc.org|29463-7", ["o1", "o2"]),
        ("code:text=poids", ["o1", "o2", "o3"]),
        ("code:text=sans", ["o4"]),
        ("value-quantity=60.5", ["o1"]),
        ("value-quantity=60", []),
        ("value-quantity=6e1", ["o1", "o2"]),
        ("value-quantity=gt61|http://unitsofmeasure.org|kg", ["o2", "o3"]),
        ("value-quantity=le62||kg", ["o1", "o2"]),
        ("date=2024", ["o1", "o2"]),
        ("date=2024-03-01T09:00:00Z", ["o1"]),
        ("date=lt2024-01-01T00:00:00Z", ["o3"]),
        ("subject=Patient/p1", ["o1", "o2"]),
        ("subject:Patient.name=jean", ["o3"]),
        ("patient.general-practitioner.name=house", ["o1", "o2"]),
        ("subject:Patient.birthdate=1980", ["o1", "o2"]),
    ],
)
def test_observation_search(cursor, data, query, expected):
    assert ids(search(cursor, "Observation", query)) == expected


def test_compartment_search(cursor, data):
    assert ids(search(cursor, "Observation", "", compartment=("Patient", "p1"))) == ["o1", "o2"]


def test_escaping(cursor, load):
    load({"resourceType": "Patient", "id": "x", "identifier": [{"system": "s", "value": "a,b|c"}]})
    assert ids(search(cursor, "Patient", "identifier=s|a\\,b\\|c")) == ["x"]
    assert ids(search(cursor, "Patient", "identifier=s|a")) == []


def test_bundle_shape_and_total(cursor, data):
    b = search(cursor, "Patient", "name=dupont")
    assert b["type"] == "searchset" and b["total"] == 1
    entry = b["entry"][0]
    assert entry["fullUrl"] == f"{BASE}/Patient/p1"
    assert entry["search"] == {"mode": "match"}
    assert b["link"][0] == {"relation": "self", "url": f"{BASE}/Patient?name=dupont"}


def test_summary_count(cursor, data):
    b = search(cursor, "Observation", "_summary=count")
    assert b["total"] == 4 and "entry" not in b


def test_include_and_revinclude(cursor, data):
    b = search(cursor, "Observation", "_id=o3&_include=Observation:subject")
    modes = sorted((e["resource"]["id"], e["search"]["mode"]) for e in b["entry"])
    assert modes == [("o3", "match"), ("p2", "include")]
    b = search(cursor, "Patient", "_id=p1&_revinclude=Observation:subject")
    assert sorted(e["resource"]["id"] for e in b["entry"]) == ["o1", "o2", "p1"]
    b = search(
        cursor,
        "Observation",
        "_id=o1&_include=Observation:subject&_include:iterate=Patient:general-practitioner",
    )
    assert sorted(e["resource"]["id"] for e in b["entry"]) == ["dr1", "o1", "p1"]


def walk(cursor, rtype, query):
    seen, url, pages = [], None, 0
    b = search(cursor, rtype, query)
    while True:
        pages += 1
        seen += [e["resource"]["id"] for e in b.get("entry", [])]
        nxt = [lnk["url"] for lnk in b["link"] if lnk["relation"] == "next"]
        if not nxt:
            return seen, pages, b
        url = nxt[0].split("?", 1)[1]
        from urllib.parse import parse_qsl

        b = execute(cursor, rtype, parse_qsl(url), base=BASE)


@pytest.mark.parametrize(
    "sort", ["_id", "-_id", "family", "-birthdate", "_lastUpdated", "-gender,name"]
)
def test_paging_visits_every_match_once_in_order(cursor, load, sort):
    load(
        *[
            patient(
                f"q{i:02d}",
                f"Nom{i % 7}",
                f"Prénom{i}",
                f"19{50 + i % 13}-01-01",
                gender=["male", "female"][i % 2],
            )
            for i in range(37)
        ]
    )
    everything = ids(search(cursor, "Patient", f"_count=1000&_sort={sort}"))
    seen, pages, _last = walk(cursor, "Patient", f"_count=5&_sort={sort}")
    assert sorted(seen) == everything and len(seen) == 37 and pages == 8
    full = [
        e["resource"]["id"] for e in search(cursor, "Patient", f"_count=1000&_sort={sort}")["entry"]
    ]
    assert seen == full


def test_previous_link_returns_previous_page(cursor, load):
    load(*[patient(f"q{i:02d}", "N", "P", "2000") for i in range(12)])
    from urllib.parse import parse_qsl

    b1 = search(cursor, "Patient", "_count=5&_sort=_id")
    nxt = [lnk["url"] for lnk in b1["link"] if lnk["relation"] == "next"][0]
    b2 = execute(cursor, "Patient", parse_qsl(nxt.split("?", 1)[1]), base=BASE)
    prev = [lnk["url"] for lnk in b2["link"] if lnk["relation"] == "previous"][0]
    b1again = execute(cursor, "Patient", parse_qsl(prev.split("?", 1)[1]), base=BASE)
    assert [e["resource"]["id"] for e in b1again["entry"]] == [
        e["resource"]["id"] for e in b1["entry"]
    ]


def test_sort_by_string_and_date(cursor, data):
    b = search(cursor, "Patient", "_sort=family")
    assert [e["resource"]["id"] for e in b["entry"]] == ["p2", "p1", "p3"]
    b = search(cursor, "Patient", "_sort=-birthdate")
    assert [e["resource"]["id"] for e in b["entry"]] == ["p3", "p1", "p2"]


def test_system_level_type(cursor, data):
    b = execute(cursor, None, [("_type", "Organization,Practitioner")], base=BASE)
    assert ids(b) == ["dr1", "o1"]
    b = execute(cursor, None, [("_tag", "vip")], base=BASE)
    assert ids(b) == ["p1"]


@pytest.mark.parametrize(
    ("query", "culprit"),
    [
        ("foo=bar", "foo"),
        ("birthdate=xx2020", "birthdate"),
        ("birthdate=2020-13-45", "birthdate"),
        ("name:below=x", "name"),
        ("_count=abc", "_count"),
        ("_sort=nope", "_sort"),
        ("gender:missing=maybe", "gender"),
        ("_include=Observation:nope", "_include"),
    ],
)
def test_errors_name_the_parameter(cursor, data, query, culprit):
    with pytest.raises(FhirError) as err:
        search(cursor, "Patient", query)
    assert err.value.status == 400 and culprit in str(err.value)


def test_lenient_ignores_unknown_and_drops_them_from_self(cursor, data):
    b = search(cursor, "Patient", "foo=bar&gender=male", strict=False)
    assert ids(b) == ["p2"]
    assert b["link"][0]["url"] == f"{BASE}/Patient?gender=male"


def test_matching_ids(cursor, data):
    assert [
        i for _r, i in matching_ids(cursor, "Patient", [("identifier", "urn:ins|1800575123456")])
    ] == ["p1"]
    assert len(matching_ids(cursor, "Patient", [("family", "dupont")])) == 1  # deleted one excluded
    assert len(matching_ids(cursor, "Patient", [("gender", "female")], limit=5)) == 2
