"""Parallel writers on one resource: with If-Match exactly one wins per version; without it the
versions stay strictly sequential, none lost, none duplicated. Threads on the Repository and
parallel HTTP clients on a live server, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("heavy")]

CTX = Context.system()
WRITERS = 20
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(rid: str, family: str) -> dict:
    return {"resourceType": "Patient", "id": rid, "name": [{"family": family}]}


def in_parallel(n: int, work: Callable[[int, threading.Barrier], object]) -> list[object]:
    """Run work(i) on n threads released together; return results (exceptions re-raised)."""
    barrier = threading.Barrier(n, timeout=60)
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(work, i, barrier) for i in range(n)]
        return [f.result(timeout=120) for f in futures]


def history_versions(repo: Repository, rid: str) -> list[tuple[int, str | None, str]]:
    """(version, family, lastModified) oldest first."""
    bundle = orjson.loads(
        orjson.dumps(
            repo.history(
                CTX,
                HistoryQuery(rtype="Patient", rid=rid, count=1000),
                base="http://t/fhir",
                extra=[],
            )
        )
    )
    out = []
    for e in reversed(bundle["entry"]):
        family = e["resource"]["name"][0]["family"] if "resource" in e else None
        out.append((int(e["response"]["etag"][3:-1]), family, e["response"]["lastModified"]))
    return out


def assert_sequential(hist: list[tuple[int, str | None, str]], expected_versions: int) -> None:
    assert [v for v, _, _ in hist] == list(range(1, expected_versions + 1))
    stamps = [lm for _, _, lm in hist]
    assert stamps == sorted(stamps), "lastUpdated must grow with the version"


# -- through the Repository --------------------------------------------------------------------


def test_if_match_exactly_one_winner_per_version(repo: Repository) -> None:
    repo.update(CTX, "Patient", "race", patient("race", "v1"))
    for round_ in range(3):
        current = repo.read(CTX, "Patient", "race").version

        def attempt(
            i: int, barrier: threading.Barrier, current: int = current, round_: int = round_
        ) -> int:
            barrier.wait()
            try:
                repo.update(
                    CTX, "Patient", "race", patient("race", f"r{round_}-w{i}"), if_match=current
                )
                return 200
            except FhirError as exc:
                return exc.status

        outcomes = Counter(in_parallel(WRITERS, attempt))
        assert outcomes == {200: 1, 412: WRITERS - 1}, outcomes
        assert repo.read(CTX, "Patient", "race").version == current + 1
    hist = history_versions(repo, "race")
    assert_sequential(hist, 4)


def test_optimistic_retry_loop_loses_no_update(repo: Repository) -> None:
    """Every writer retries read + If-Match until it wins: 20 wins, versions 2..21, each once."""
    repo.update(CTX, "Patient", "loop", patient("loop", "start"))

    def writer(i: int, barrier: threading.Barrier) -> tuple[int, int]:
        barrier.wait()
        conflicts = 0
        while True:
            version = repo.read(CTX, "Patient", "loop").version
            try:
                won = repo.update(
                    CTX, "Patient", "loop", patient("loop", f"w{i}"), if_match=version
                )
                return won.stored.version, conflicts
            except FhirError as exc:
                assert exc.status == 412
                conflicts += 1

    results = in_parallel(WRITERS, writer)
    won_versions = sorted(v for v, _ in results)
    assert won_versions == list(range(2, WRITERS + 2))
    hist = history_versions(repo, "loop")
    assert_sequential(hist, WRITERS + 1)
    by_version = {v: family for v, family, _ in hist}
    for i, (version, _) in enumerate(results):
        assert by_version[version] == f"w{i}"


def test_without_if_match_versions_are_strictly_sequential(repo: Repository) -> None:
    repo.update(CTX, "Patient", "seq", patient("seq", "start"))

    def writer(i: int, barrier: threading.Barrier) -> int:
        barrier.wait()
        return repo.update(CTX, "Patient", "seq", patient("seq", f"w{i}")).stored.version

    got = in_parallel(WRITERS, writer)
    assert sorted(got) == list(range(2, WRITERS + 2))
    hist = history_versions(repo, "seq")
    assert_sequential(hist, WRITERS + 1)
    families = Counter(f for _, f, _ in hist[1:])
    assert families == Counter(f"w{i}" for i in range(WRITERS))
    assert {v: f for v, f, _ in hist}[max(got)] == repo.read(CTX, "Patient", "seq").resource()[
        "name"
    ][0]["family"]


def test_parallel_update_as_create_of_one_new_id(repo: Repository) -> None:
    def writer(i: int, barrier: threading.Barrier) -> tuple[int, int]:
        barrier.wait()
        r = repo.update(CTX, "Patient", "fresh", patient("fresh", f"w{i}"))
        return r.status, r.stored.version

    results = in_parallel(WRITERS, writer)
    statuses = Counter(s for s, _ in results)
    assert statuses == {201: 1, 200: WRITERS - 1}, statuses
    assert sorted(v for _, v in results) == list(range(1, WRITERS + 1))
    assert_sequential(history_versions(repo, "fresh"), WRITERS)


def test_parallel_creates_get_distinct_ids(repo: Repository) -> None:
    def writer(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        res = {"resourceType": "Patient", "name": [{"family": f"c{i}"}]}
        return repo.create(CTX, res).stored.id

    ids = in_parallel(WRITERS, writer)
    assert len(set(ids)) == WRITERS
    for i, rid in enumerate(ids):
        assert repo.read(CTX, "Patient", rid).resource()["name"][0]["family"] == f"c{i}"


# -- through real HTTP -------------------------------------------------------------------------


def test_parallel_http_updates(db_url: str, live_server: str) -> None:
    url = f"{live_server}/Patient/http-race"
    assert (
        httpx.put(
            url, content=orjson.dumps(patient("http-race", "v1")), headers=FHIR_JSON, timeout=30
        ).status_code
        == 201
    )

    def guarded(i: int, barrier: threading.Barrier) -> int:
        with httpx.Client(timeout=60) as c:
            barrier.wait()
            r = c.put(
                url,
                content=orjson.dumps(patient("http-race", f"g{i}")),
                headers={**FHIR_JSON, "If-Match": 'W/"1"'},
            )
            if r.status_code == 412:
                assert r.json()["resourceType"] == "OperationOutcome"
            return r.status_code

    assert Counter(in_parallel(WRITERS, guarded)) == {200: 1, 412: WRITERS - 1}

    def unguarded(i: int, barrier: threading.Barrier) -> str:
        with httpx.Client(timeout=60) as c:
            barrier.wait()
            r = c.put(url, content=orjson.dumps(patient("http-race", f"u{i}")), headers=FHIR_JSON)
            assert r.status_code == 200, r.text
            return r.headers["etag"]

    etags = in_parallel(WRITERS, unguarded)
    assert sorted(int(e[3:-1]) for e in etags) == list(range(3, WRITERS + 3))
    hist = httpx.get(f"{url}/_history", params={"_count": "100"}, timeout=30).json()
    versions = [int(e["response"]["etag"][3:-1]) for e in hist["entry"]]
    assert versions == list(range(WRITERS + 2, 0, -1))
    families = Counter(e["resource"]["name"][0]["family"] for e in hist["entry"])
    assert all(families[f"u{i}"] == 1 for i in range(WRITERS))


def test_parallel_patches_without_if_match_all_apply(repo: Repository) -> None:
    repo.update(CTX, "Patient", "patched", patient("patched", "start"))

    def writer(i: int, barrier: threading.Barrier) -> int:
        barrier.wait()
        ops = [{"op": "add", "path": "/name/-", "value": {"family": f"p{i}"}}]
        return repo.patch(CTX, "Patient", "patched", ops).stored.version

    got = in_parallel(WRITERS, writer)
    assert sorted(got) == list(range(2, WRITERS + 2))
    names = [n["family"] for n in repo.read(CTX, "Patient", "patched").resource()["name"]]
    assert sorted(names) == sorted(["start", *(f"p{i}" for i in range(WRITERS))])


def test_http_delete_and_update_racing_on_one_if_match(db_url: str, live_server: str) -> None:
    """Half the clients update, half delete, all with If-Match W/"1": exactly one may win."""
    for round_ in range(3):
        url = f"{live_server}/Patient/del-race-{round_}"
        assert (
            httpx.put(
                url,
                content=orjson.dumps(patient(f"del-race-{round_}", "v1")),
                headers=FHIR_JSON,
                timeout=30,
            ).status_code
            == 201
        )

        def attempt(
            i: int, barrier: threading.Barrier, url: str = url, round_: int = round_
        ) -> int:
            with httpx.Client(timeout=60) as c:
                barrier.wait()
                if i % 2:
                    return c.delete(url, headers={"If-Match": 'W/"1"'}).status_code
                body = orjson.dumps(patient(f"del-race-{round_}", f"u{i}"))
                return c.put(
                    url, content=body, headers={**FHIR_JSON, "If-Match": 'W/"1"'}
                ).status_code

        outcomes = Counter(in_parallel(WRITERS, attempt))
        winners = sum(n for status, n in outcomes.items() if status in (200, 204))
        assert winners == 1 and outcomes[412] == WRITERS - 1, outcomes
        hist = httpx.get(f"{url}/_history", timeout=30).json()
        assert [e["response"]["etag"] for e in hist["entry"]] == ['W/"2"', 'W/"1"']


def test_parallel_conditional_creates_make_one_resource(repo: Repository) -> None:
    def writer(i: int, barrier: threading.Barrier) -> tuple[int, str]:
        res = {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "once"}],
            "name": [{"family": f"c{i}"}],
        }
        barrier.wait()
        r = repo.create(CTX, res, if_none_exist="identifier=urn:oid:1.2.250.1.71.4.2.1|once")
        return r.status, r.stored.id

    results = in_parallel(WRITERS, writer)
    assert Counter(s for s, _ in results) == {201: 1, 200: WRITERS - 1}
    assert len({rid for _, rid in results}) == 1
