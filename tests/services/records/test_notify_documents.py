"""A new document in the shared record tells the patient (services/notifications, topic
`document`): once per fiche, only when it is current and visible to the patient, hidden from the
legal representatives when the document is; a real ITI-65 publication, the real outbox and
dispatcher, the Communications read back through the access policy."""

from __future__ import annotations

from hygie.access import labels
from hygie.services import notifications
from hygie.services.records import terminology
from hygie.services.records.lifecycle import delete_document, set_visibility
from hygie.store import Context
from hygie.store.context import PATIENT, REPRESENTATIVE
from hygie.store.outbox import Dispatcher, pending_count
from tests.services.records.test_lifecycle import add_cared_patient, author, publish

LETTER = "11490-0"  # Lettre de liaison à la sortie d'un établissement de soins


def deliver(repo) -> int:
    dispatcher = Dispatcher(repo.backend)
    notifications.install(repo, dispatcher)
    return dispatcher.drain()


def notices(repo, ctx: Context, patient: str) -> list[dict]:
    found = repo.search(ctx, "Communication", [("recipient", patient)], base="http://t/fhir")
    return [e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == "match"]


def the_patient(patient: str) -> Context:
    return Context(actor=patient, kind=PATIENT, scopes=frozenset({"patient/*.rs"}), patient=patient)


def representative(patient: str) -> Context:
    return Context(
        actor="RelatedPerson/rep",
        kind=REPRESENTATIVE,
        scopes=frozenset({"user/*.rs"}),
        represented=frozenset({patient}),
    )


def test_a_new_document_is_announced_to_the_patient_once(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    rid = publish(repo, patient, type_code=LETTER)
    assert deliver(repo) >= 1
    [sent] = notices(repo, the_patient(patient), patient)
    assert sent["about"] == [{"reference": f"DocumentReference/{rid}"}]
    assert sent["recipient"] == [{"reference": patient}] and sent["status"] == "completed"
    assert terminology.LOINC_TYPES[LETTER] in sent["payload"][0]["contentString"]
    assert sent["identifier"] == [{"system": notifications.DOCUMENT_SYSTEM, "value": rid}]
    # delivered again (a dispatcher died before marking): still one notification
    with repo.backend.write() as cur:
        cur.execute("UPDATE outbox SET delivered = NULL")
    deliver(repo)
    assert len(notices(repo, Context.system(), patient)) == 1
    assert pending_count(repo.backend) == 0
    # its deletion, and a replacement: the new fiche is announced, nothing for the old one
    second = publish(repo, patient, type_code=LETTER)
    publish(repo, patient, type_code=LETTER, replaces=f"DocumentReference/{second}")
    deliver(repo)
    about = sorted(n["about"][0]["reference"] for n in notices(repo, Context.system(), patient))
    assert len(about) == 3 and f"DocumentReference/{second}" in about
    delete_document(repo, author(), rid, base="http://t/fhir")
    deliver(repo)
    assert len(notices(repo, Context.system(), patient)) == 3


def test_a_document_held_back_is_announced_when_it_becomes_visible(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    rid = publish(repo, patient, visibility=[labels.INVISIBLE_PATIENT])
    deliver(repo)
    assert notices(repo, Context.system(), patient) == []  # before the announcement visit
    set_visibility(repo, author(), rid, add=set(), remove={labels.INVISIBLE_PATIENT})
    deliver(repo)
    [sent] = notices(repo, the_patient(patient), patient)
    assert sent["about"] == [{"reference": f"DocumentReference/{rid}"}]


def test_a_document_hidden_from_representatives_gives_a_notice_hidden_from_them(app):
    repo = app.repo
    patient = add_cared_patient(repo)
    hidden = publish(repo, patient, visibility=[labels.INVISIBLE_REP_LEGAUX])
    shown = publish(repo, patient)
    deliver(repo)
    mine = {n["about"][0]["reference"] for n in notices(repo, the_patient(patient), patient)}
    assert mine == {f"DocumentReference/{hidden}", f"DocumentReference/{shown}"}
    theirs = notices(repo, representative(patient), patient)
    assert [n["about"][0]["reference"] for n in theirs] == [f"DocumentReference/{shown}"]
    [labelled] = [n for n in notices(repo, Context.system(), patient) if n not in theirs]
    assert labelled["meta"]["security"] == [
        {"system": labels.DMP_VISIBILITY_SYSTEM, "code": labels.INVISIBLE_REP_LEGAUX}
    ]


def test_the_patients_own_deposit_is_not_announced_to_them(app):
    from hygie.services.notifications import new_document
    from hygie.store.outbox import Event

    repo = app.repo
    patient = add_cared_patient(repo)
    payload = {
        "reference": "DocumentReference/own",
        "change": "created",
        "status": "current",
        "deleted": False,
        "patient": patient,
        "actor": patient,
        "visibility": [],
    }
    new_document(repo, Event(seq=1, topic="document", payload=payload, created=0, attempts=0))
    assert notices(repo, Context.system(), patient) == []
    new_document(
        repo,
        Event(seq=2, topic="document", payload={**payload, "actor": "x"}, created=0, attempts=0),
    )
    assert len(notices(repo, Context.system(), patient)) == 1
