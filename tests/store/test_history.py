"""History of an instance, a type and the system (http.html#history): _since, _at, _count and
paging through `next` links, on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository

CTX = Context.system()
BASE = "http://test/fhir"


def patient(family: str, **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def history(repo: Repository, **query) -> dict:
    bundle = repo.history(CTX, HistoryQuery(**query), base=BASE, extra=[])
    return orjson.loads(orjson.dumps(bundle))


def keys(bundle: dict) -> list[tuple[str, int]]:
    """(Type/id, version) of each entry, in bundle order."""
    out = []
    for e in bundle.get("entry", []):
        rtype, rid = e["fullUrl"].split("/")[-2:]
        out.append((f"{rtype}/{rid}", int(e["response"]["etag"][3:-1])))
    return out


def next_cursor(bundle: dict) -> str | None:
    for link in bundle["link"]:
        if link["relation"] == "next":
            params = dict(parse_qsl(urlsplit(link["url"]).query))
            return params["_cursor"]
    return None


def walk(repo: Repository, **query) -> list[list[tuple[str, int]]]:
    """Follow `next` links to the end; the pages' keys."""
    pages = []
    cursor = None
    while True:
        bundle = history(repo, cursor=cursor, **query)
        pages.append(keys(bundle))
        cursor = next_cursor(bundle)
        if cursor is None:
            return pages
        assert len(pages) < 1000


def test_instance_history(repo: Repository) -> None:
    s = repo.create(CTX, patient("V1")).stored
    repo.update(CTX, "Patient", s.id, patient("V2", id=s.id))
    repo.delete(CTX, "Patient", s.id)
    repo.update(CTX, "Patient", s.id, patient("V4", id=s.id))
    b = history(repo, rtype="Patient", rid=s.id)
    assert b["resourceType"] == "Bundle" and b["type"] == "history"
    assert b["total"] == 4
    assert keys(b) == [(f"Patient/{s.id}", v) for v in (4, 3, 2, 1)]
    methods = [e["request"]["method"] for e in b["entry"]]
    assert methods == ["PUT", "DELETE", "PUT", "POST"]
    assert b["entry"][1].get("resource") is None
    assert b["entry"][1]["response"]["status"].startswith("204")
    assert b["entry"][0]["request"]["url"] == f"Patient/{s.id}"
    assert b["entry"][3]["request"]["url"] == "Patient"
    assert b["entry"][3]["response"]["status"].startswith("201")
    for e in b["entry"]:
        assert e["fullUrl"] == f"{BASE}/Patient/{s.id}"
        assert e["response"]["lastModified"]
        if "resource" in e:
            assert e["resource"]["meta"]["versionId"] == e["response"]["etag"][3:-1]
    assert b["entry"][0]["resource"]["name"][0]["family"] == "V4"
    assert b["entry"][3]["resource"]["name"][0]["family"] == "V1"
    last_modified = [e["response"]["lastModified"] for e in b["entry"]]
    assert last_modified == sorted(last_modified, reverse=True)


def test_history_of_an_unknown_instance_is_404(repo: Repository) -> None:
    with pytest.raises(FhirError) as exc:
        history(repo, rtype="Patient", rid="nobody")
    assert exc.value.status == 404


def test_type_and_system_history(repo: Repository) -> None:
    p = repo.create(CTX, patient("P")).stored
    o = repo.update(
        CTX,
        "Observation",
        "o1",
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "x"},
        },
    ).stored
    repo.update(CTX, "Patient", p.id, patient("P2", id=p.id))
    assert set(keys(history(repo, rtype="Patient"))) == {
        (f"Patient/{p.id}", 1),
        (f"Patient/{p.id}", 2),
    }
    assert keys(history(repo, rtype="Observation")) == [("Observation/o1", o.version)]
    system = history(repo)
    assert len(keys(system)) == 3
    assert keys(system).index((f"Patient/{p.id}", 2)) < keys(system).index((f"Patient/{p.id}", 1))
    stamps = [e["response"]["lastModified"] for e in system["entry"]]
    assert stamps == sorted(stamps, reverse=True)
    assert keys(history(repo, rtype="Encounter")) == []


def test_since_is_inclusive_and_filters_older_versions(repo: Repository) -> None:
    s1 = repo.create(CTX, patient("A")).stored
    s2 = repo.update(CTX, "Patient", s1.id, patient("B", id=s1.id)).stored
    other = repo.create(CTX, patient("Other")).stored
    s3 = repo.update(CTX, "Patient", s1.id, patient("C", id=s1.id)).stored
    got = keys(history(repo, rtype="Patient", rid=s1.id, since=s2.last_updated))
    assert got == [(f"Patient/{s1.id}", 3), (f"Patient/{s1.id}", 2)]
    got = keys(history(repo, since=other.last_updated))
    assert (f"Patient/{other.id}", 1) in got and (f"Patient/{s1.id}", 3) in got
    assert (f"Patient/{s1.id}", 1) not in got
    assert keys(history(repo, since=s3.last_updated + 1000)) == []


def test_at_returns_the_versions_current_at_that_time(repo: Repository) -> None:
    s1 = repo.create(CTX, patient("A")).stored
    s2 = repo.update(CTX, "Patient", s1.id, patient("B", id=s1.id)).stored
    s3 = repo.update(CTX, "Patient", s1.id, patient("C", id=s1.id)).stored
    later = repo.create(CTX, patient("Later")).stored
    ms = 1000
    at_v1 = history(repo, rtype="Patient", at=(s1.last_updated, s1.last_updated + ms))
    assert keys(at_v1) == [(f"Patient/{s1.id}", 1)]
    at_v2 = history(repo, rtype="Patient", rid=s1.id, at=(s2.last_updated, s2.last_updated + ms))
    assert keys(at_v2) == [(f"Patient/{s1.id}", 2)]
    # a period covering v2 and v3 includes both
    span = history(repo, rtype="Patient", rid=s1.id, at=(s2.last_updated, s3.last_updated + ms))
    assert keys(span) == [(f"Patient/{s1.id}", 3), (f"Patient/{s1.id}", 2)]
    now = history(repo, at=(later.last_updated, later.last_updated + ms))
    assert set(keys(now)) == {(f"Patient/{s1.id}", 3), (f"Patient/{later.id}", 1)}
    before = history(repo, at=(s1.last_updated - 10 * ms, s1.last_updated - 5 * ms))
    assert keys(before) == []


def test_count_limits_the_page_and_links_the_next(repo: Repository) -> None:
    for n in range(5):
        repo.create(CTX, patient(f"P{n}"))
    b = history(repo, rtype="Patient", count=2)
    assert len(b["entry"]) == 2
    relations = {link["relation"]: link["url"] for link in b["link"]}
    assert relations["self"].startswith(f"{BASE}/Patient/_history?")
    assert "_count=2" in relations["next"]
    last = history(repo, rtype="Patient", count=5)
    assert len(last["entry"]) == 5
    assert next_cursor(last) is None


@pytest.mark.parametrize("count", [1, 3, 7, 50])
def test_paging_has_no_duplicates_and_no_gaps(repo: Repository, count: int) -> None:
    # many versions in the same millisecond (one bulk load), plus updates and deletes
    repo.load(CTX, [patient(f"L{n}", id=f"l{n}") for n in range(40)])
    for n in range(0, 40, 3):
        repo.update(CTX, "Patient", f"l{n}", patient(f"L{n}-2", id=f"l{n}"))
    for n in range(0, 40, 5):
        repo.delete(CTX, "Patient", f"l{n}")
    expected = keys(history(repo, count=1000))
    assert len(expected) == 40 + 14 + 8
    pages = walk(repo, count=count)
    assert all(len(p) == count for p in pages[:-1])
    flat = [k for page in pages for k in page]
    assert flat == expected
    assert len(set(flat)) == len(flat)
    typed = [k for page in walk(repo, rtype="Patient", count=count) for k in page]
    assert typed == expected
    instance = [k for page in walk(repo, rtype="Patient", rid="l0", count=count) for k in page]
    assert instance == [("Patient/l0", 3), ("Patient/l0", 2), ("Patient/l0", 1)]


def test_paging_is_stable_while_new_versions_arrive(repo: Repository) -> None:
    for n in range(10):
        repo.update(CTX, "Patient", f"s{n}", patient(f"S{n}", id=f"s{n}"))
    snapshot = keys(history(repo, count=100))
    first = history(repo, count=4)
    seen = keys(first)
    cursor = next_cursor(first)
    repo.update(CTX, "Patient", "s0", patient("S0-new", id="s0"))
    repo.create(CTX, patient("Newcomer"))
    while cursor:
        page = history(repo, count=4, cursor=cursor)
        seen += keys(page)
        cursor = next_cursor(page)
    assert seen == snapshot


def test_a_bad_cursor_is_400(repo: Repository) -> None:
    with pytest.raises(FhirError) as exc:
        history(repo, cursor="not-a-cursor!")
    assert exc.value.status == 400
