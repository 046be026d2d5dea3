"""The transactional outbox: one event per document write, in the write's transaction, delivered
at least once — also after the server is killed before delivering, or a dispatcher dies
while delivering."""

from __future__ import annotations

import time

import httpx
import pytest

from hygie.fhir.outcome import FhirError
from hygie.store import Context, open_repository
from hygie.store.bundle import BundleProcessor
from hygie.store.outbox import Dispatcher, pending_count
from tests.services.records.conftest import add_patient, pdf, provide_bundle

BASE = "http://testserver/fhir"


def publish(repo, patient, n: int = 1, **kw) -> dict:
    bundle = provide_bundle(patient, [pdf(300, f"{time.time_ns()}-{i}") for i in range(n)], **kw)
    return BundleProcessor(repo).process(Context.system(), bundle, base=BASE)


def test_every_document_write_emits_one_event_in_its_transaction(app):
    repo = app.repo
    patient = add_patient(repo)
    before = pending_count(repo.backend)
    out = publish(repo, patient, n=2)
    assert pending_count(repo.backend) == before + 2
    bad = provide_bundle(patient, [pdf(300, "bad")])
    bad["entry"][1]["resource"]["content"][0]["attachment"]["size"] = 1
    with pytest.raises(FhirError) as refused:
        BundleProcessor(repo).process(Context.system(), bad, base=BASE)
    assert refused.value.status == 422
    assert pending_count(repo.backend) == before + 2  # a refused publication emits nothing
    first = out["entry"][1]["response"]["location"].split("/")[1]
    publish(repo, patient, replaces=f"DocumentReference/{first}")
    events = []
    dispatcher = Dispatcher(repo.backend)
    dispatcher.subscribe("document", events.append)
    assert dispatcher.drain() == before + 4  # 2 created, then 1 created + 1 superseded
    refs = [(e.payload["reference"], e.payload["change"], e.payload.get("status")) for e in events]
    assert (f"DocumentReference/{first}", "updated", "superseded") in refs
    assert sum(1 for r in refs if r[1] == "created") == 3
    assert pending_count(repo.backend) == 0
    assert dispatcher.drain() == 0  # delivered rows are not delivered again
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_a_failing_handler_loses_nothing_and_keeps_the_order(app):
    repo = app.repo
    patient = add_patient(repo)
    publish(repo, patient, n=3)
    seen: list[int] = []
    fail = {"once": True}

    def flaky(event) -> None:
        if fail["once"] and len(seen) == 1:
            fail["once"] = False
            raise RuntimeError("the messaging gateway is down")
        seen.append(event.seq)

    dispatcher = Dispatcher(repo.backend)
    dispatcher.subscribe("document", flaky)
    assert dispatcher.deliver_pending() == 1
    assert pending_count(repo.backend) == 2
    dispatcher.drain()
    assert len(seen) == 3 and seen == sorted(seen)
    assert pending_count(repo.backend) == 0


def test_a_dispatcher_that_dies_mid_delivery_is_taken_over_after_its_lease(app):
    repo = app.repo
    patient = add_patient(repo)
    publish(repo, patient, n=2)

    class Died(BaseException):
        pass

    def die(_event) -> None:
        raise Died  # the process dies: no bookkeeping happens

    first = Dispatcher(repo.backend, lease=0.3)
    first.subscribe("document", die)
    with pytest.raises(Died):
        first.deliver_pending()
    got = []
    second = Dispatcher(repo.backend, lease=0.3)
    second.subscribe("document", got.append)
    assert second.deliver_pending() == 0  # still leased to the dead one
    time.sleep(0.4)
    assert second.drain() == 2
    assert len(got) == 2


@pytest.mark.slow
def test_events_survive_a_server_killed_before_delivery(db_url, live_server_factory):
    repo = open_repository(db_url)
    try:
        patient = add_patient(repo)
    finally:
        repo.close()
    live = live_server_factory(db_url)
    published = 0
    with httpx.Client(timeout=30) as http:
        for i in range(5):
            r = http.post(
                live.base,
                json=provide_bundle(patient, [pdf(500, f"live{i}")]),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert r.status_code == 200, r.text
            published += 1
    live.kill()  # SIGKILL: committed, never delivered
    repo = open_repository(db_url)
    try:
        assert pending_count(repo.backend) == published
        got = []
        dispatcher = Dispatcher(repo.backend)
        dispatcher.subscribe("document", got.append)
        dispatcher.start()  # the background loop of a restarted server
        deadline = time.monotonic() + 20
        while pending_count(repo.backend) and time.monotonic() < deadline:
            time.sleep(0.05)
        dispatcher.stop()
        assert len(got) == published
        assert {e.payload["change"] for e in got} == {"created"}
    finally:
        repo.close()
