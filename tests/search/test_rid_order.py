"""Searches without `_sort` (rid order) page identically whichever plan answers them: on SQLite
a broad filter is read in rid windows with correlated probes, a selective one by its index
(sorting._rid_windows); pages forwards and backwards have no duplicate and no gap, with
deleted resources and resources of other types among the rids."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from hygie.search import execute, sorting

BASE = "http://test/fhir"


@pytest.fixture
def data(load):
    resources = []
    for i in range(240):
        code = "dense" if i % 3 else "other"
        if i in (7, 100, 101, 233):
            code = "rare"
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"o{i:03d}",
                "status": "final",
                "code": {"coding": [{"system": "http://x", "code": code}]},
            }
        )
        if i % 17 == 0:  # rids of another type in between
            resources.append({"resourceType": "Patient", "id": f"p{i}"})
    load(*resources)
    load({"resourceType": "Observation", "id": "gone", "status": "final",
          "code": {"coding": [{"system": "http://x", "code": "dense"}]}}, deleted=True)  # fmt: skip
    return resources


def _pages(cursor, params, relation="next"):
    pages = []
    while True:
        bundle = execute(cursor, "Observation", params, base=BASE)
        pages.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        links = [lk["url"] for lk in bundle["link"] if lk["relation"] == relation]
        if not links or len(pages) > 60:
            return pages, bundle
        params = parse_qsl(urlsplit(links[0]).query)


@pytest.mark.parametrize(("code", "count"), [("dense", 7), ("rare", 2), ("dense,rare", 25)])
@pytest.mark.parametrize("windows", [(256, 2048), (8, 16), (4, 4)])
def test_rid_order_pages_forwards_and_backwards(cursor, data, monkeypatch, code, count, windows):
    monkeypatch.setattr(sorting, "_FIRST_WINDOW", windows[0])
    monkeypatch.setattr(sorting, "_MAX_WINDOW", windows[1])
    codes = code.split(",")
    expected = [
        r["id"]
        for r in data
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] in codes
    ]
    params = [("code", ",".join(f"http://x|{c}" for c in codes)), ("_count", str(count))]
    pages, last = _pages(cursor, params)
    flat = [i for p in pages for i in p]
    assert flat == expected  # rid order = load order, nothing twice, nothing missing
    assert all(len(p) == count for p in pages[:-1])
    previous = [lk["url"] for lk in last["link"] if lk["relation"] == "previous"]
    if len(pages) > 1:
        back, _ = _pages(cursor, parse_qsl(urlsplit(previous[0]).query), "previous")
        assert [i for p in reversed(back) for i in p] == flat[: -len(pages[-1])]


@pytest.fixture
def patients_data(load):
    """Observations of two patients, statuses mixed, other types and a deleted one between."""
    resources = []
    for i in range(90):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"q{i:03d}",
                "status": "final" if i % 4 else "amended",
                "code": {"coding": [{"system": "http://x", "code": "c" if i % 5 else "rare"}]},
                "subject": {"reference": f"Patient/{'pa' if i % 3 else 'pb'}"},
            }
        )
        if i % 11 == 0:
            resources.append({"resourceType": "Patient", "id": f"x{i}"})
    load(*resources)
    load({"resourceType": "Observation", "id": "gone", "status": "final",
          "subject": {"reference": "Patient/pa"}}, deleted=True)  # fmt: skip
    return resources


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ([("subject", "Patient/pa"), ("status", "final")], lambda r: r["status"] == "final"),
        (
            [("patient", "pa"), ("status:not", "final"), ("code", "http://x|rare")],
            lambda r: r["status"] != "final" and r["code"]["coding"][0]["code"] == "rare",
        ),
    ],
)
@pytest.mark.parametrize("count", [4, 7, 100])
def test_pages_driven_by_one_patients_references(cursor, patients_data, query, keep, count):
    """PostgreSQL reads such a page from the patient's reference entries in rid order, probing
    the other tests (sorting.reference_driven_select); both databases page the same."""
    from hygie.search.parse import parse

    q = parse("Observation", [*query, ("_count", str(count))])
    planned = sorting.reference_driven_select(q, None, None, count, cursor.dialect)
    assert planned is not None  # SQLite takes it when the reference is selective (here)
    expected = [
        r["id"]
        for r in patients_data
        if r["resourceType"] == "Observation" and r["subject"]["reference"] == "Patient/pa"
        and keep(r)
    ]  # fmt: skip
    pages, last = _pages(cursor, [*query, ("_count", str(count))])
    flat = [i for p in pages for i in p]
    assert flat == expected and expected
    assert all(len(p) == count for p in pages[:-1])
    previous = [lk["url"] for lk in last["link"] if lk["relation"] == "previous"]
    if len(pages) > 1:
        back, _ = _pages(cursor, parse_qsl(urlsplit(previous[0]).query), "previous")
        assert [i for p in reversed(back) for i in p] == flat[: -len(pages[-1])]
