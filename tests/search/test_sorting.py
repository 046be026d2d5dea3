"""Sorted paging: the index-driven and the filter-driven plans give the same pages, with no
duplicate and no gap, forwards and backwards (ties, several values, missing values)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from hygie.search import execute, sorting

BASE = "http://test/fhir"
FAMILIES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand"]


@pytest.fixture
def data(load):
    resources = []
    for i in range(45):
        p = {"resourceType": "Patient", "id": f"p{i:02d}", "gender": ["male", "female"][i % 2]}
        if i % 9:  # some without a name or a birth date: they sort last both ways
            p["name"] = [{"family": FAMILIES[i % 7], "given": [f"G{i % 4}", f"A{i % 5}"]}]
        if i % 11:
            p["birthDate"] = f"19{50 + i % 13}-0{1 + i % 9}-1{i % 7}"
        resources.append(p)
    load(*resources)


def _walk(cursor, query, links="next"):
    params = [tuple(p.split("=", 1)) for p in query.split("&")]
    pages, seen = [], 0
    while True:
        bundle = execute(cursor, "Patient", params, base=BASE)
        pages.append([e["resource"]["id"] for e in bundle.get("entry", [])])
        nxt = [lk["url"] for lk in bundle["link"] if lk["relation"] == links]
        seen += 1
        if not nxt or seen > 40:
            return pages, bundle
        params = [p for p in parse_qsl(urlsplit(nxt[0]).query) if p[0] != "_cursor"]
        params.append(("_cursor", dict(parse_qsl(urlsplit(nxt[0]).query))["_cursor"]))


@pytest.mark.parametrize(
    "query",
    [
        "_sort=family&_count=7",
        "_sort=-family&_count=7",
        "_sort=given&_count=4",
        "_sort=-given,birthdate&_count=6",
        "_sort=birthdate&_count=7",
        "_sort=-birthdate&_count=5",
        "_sort=gender,-birthdate&_count=8",
        "gender=female&_sort=family&_count=3",
        "_sort=_lastUpdated&_count=9",
        "_sort=-_id&_count=9",
    ],
)
def test_both_plans_page_identically(cursor, data, query, monkeypatch):
    monkeypatch.setattr(sorting, "PROBE", 10_000)  # filter-driven
    filter_pages, _ = _walk(cursor, query)
    monkeypatch.setattr(sorting, "PROBE", 1)  # index-driven
    index_pages, last = _walk(cursor, query)
    assert index_pages == filter_pages
    flat = [i for page in index_pages for i in page]
    expected = 22 if query.startswith("gender=female") else 45
    assert len(flat) == len(set(flat)) == expected
    # and back from the last page through `previous`
    back_params = [lk["url"] for lk in last["link"] if lk["relation"] == "previous"]
    if back_params:
        q = dict(parse_qsl(urlsplit(back_params[0]).query))
        back_query = "&".join(f"{k}={v}" for k, v in q.items())
        back_pages, _ = _walk(cursor, back_query, links="previous")
        assert [i for page in reversed(back_pages) for i in page] == flat[: -len(index_pages[-1])]


def test_sort_order_is_by_smallest_value(cursor, data, monkeypatch):
    monkeypatch.setattr(sorting, "PROBE", 1)
    bundle = execute(cursor, "Patient", [("_sort", "given"), ("_count", "100")], base=BASE)
    givens = [
        min((g for n in e["resource"].get("name", []) for g in n["given"]), default="~").casefold()
        for e in bundle["entry"]
    ]
    assert givens == sorted(givens)
