"""Patient notifications from the outbox (hygie.services.notifications): a break-the-glass
access becomes a Communication to the patient, once, even if the event is delivered twice;
topics nobody handles stay in the outbox."""

from __future__ import annotations

from hygie import access
from hygie.services import notifications
from hygie.store import Context, Repository
from hygie.store.outbox import Dispatcher, pending_count
from tests.access import world


def _communications(repo: Repository) -> list[dict]:
    found = repo.search(Context.system(), "Communication", [], base="http://test/fhir")
    return [e["resource"] for e in found.get("entry", [])]


def test_break_the_glass_notifies_the_patient_once(repo: Repository) -> None:
    access.install(repo)
    world.build(repo)
    btg = world._pro("gp3", purpose="BTG", btg_reason="patient inconscient aux urgences")
    repo.read(btg, "Observation", "obs-pa")  # grants, and enqueues the event
    dispatcher = Dispatcher(repo.backend)
    notifications.install(repo, dispatcher)
    assert dispatcher.drain() == 1
    [sent] = _communications(repo)
    assert sent["recipient"] == [{"reference": "Patient/pa"}]
    assert sent["subject"] == {"reference": "Patient/pa"}
    assert sent["status"] == "completed" and sent["about"] == [{"reference": "Practitioner/gp3"}]
    assert "bris de glace" in sent["payload"][0]["contentString"]
    assert "patient inconscient aux urgences" in sent["payload"][0]["contentString"]
    # the patient reads it in their own record
    patient = Context(
        actor="Patient/pa", kind="patient", scopes=frozenset({"patient/*.rs"}), patient="Patient/pa"
    )
    mine = repo.search(patient, "Communication", [("recipient", "Patient/pa")], base="x")
    assert [e["resource"]["id"] for e in mine["entry"]] == [sent["id"]]
    # delivered again (a dispatcher died before marking it): still one Communication
    with repo.backend.write() as cur:
        cur.execute("UPDATE outbox SET delivered = NULL")
    assert dispatcher.drain() == 1
    assert len(_communications(repo)) == 1


def test_topics_without_a_subscriber_wait_in_the_outbox(repo: Repository) -> None:
    from hygie.store import outbox

    with repo.backend.write() as cur:
        outbox.enqueue(cur, [("messaging", {"reference": "Communication/x"})], 1)
    dispatcher = Dispatcher(repo.backend)
    notifications.install(repo, dispatcher)
    assert dispatcher.drain() == 0
    assert pending_count(repo.backend) == 1
