"""One index condition, no sort (PostgreSQL takes the page's rids from the index alone,
sorting.py::_index_page; SQLite its own plans): pages forwards and backwards give every match
once, in rid order, a resource matching twice (two names) counted once, deleted and other
resources never."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from hygie.store import Context, Repository

BASE = "http://t/fhir"


def _page(repo: Repository, url: str) -> dict:
    return repo.search(Context.system(), "Patient", parse_qsl(urlsplit(url).query), base=BASE)


def _ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _link(bundle: dict, rel: str) -> str | None:
    return next((lk["url"] for lk in bundle["link"] if lk["relation"] == rel), None)


def test_pages_of_one_index_condition(repo: Repository) -> None:
    system = Context.system()
    batch = []
    for n in range(40):
        names = [{"family": f"Martin{n}"}]
        if n % 5 == 0:
            names.append({"family": f"Martinez{n}"})  # two matching values: one match
        batch.append({"resourceType": "Patient", "id": f"m{n:02d}", "name": names})
        batch.append({"resourceType": "Patient", "id": f"d{n:02d}", "name": [{"family": "Dubois"}]})
    repo.load(system, batch)
    repo.delete(system, "Patient", "m07")
    expected = [f"m{n:02d}" for n in range(40) if n != 7]
    first = repo.search(system, "Patient", [("family", "mart"), ("_count", "6")], base=BASE)
    pages, bundle = [_ids(first)], first
    while (nxt := _link(bundle, "next")) is not None:
        bundle = _page(repo, nxt)
        pages.append(_ids(bundle))
    forward = [i for p in pages for i in p]
    assert forward == expected  # rid order = load order here; nothing twice, m07 gone
    back = []
    while (prev := _link(bundle, "previous")) is not None:
        bundle = _page(repo, prev)
        back = _ids(bundle) + back
    assert back + pages[-1] == expected
