"""Patient notifications: outbox events turned into FHIR `Communication`s addressed to the
patient (their health space shows them; the API lists them as `Communication?recipient=` or
through the patient's compartment).

Delivered by the node's background process (`hygie background`, started by `hygie serve`)
from the transactional outbox, at least once: each Communication carries the outbox event's
number as identifier and is created conditionally on it, so a redelivery creates nothing.

Topics handled:
* `access.break-the-glass`: an emergency access to the patient's record (who, why, until when
  — the patient must be told, docs/access.md); one Communication per event;
* `document`: a new document in the patient's shared record (services/records/events.py), as
  Mon Espace Santé tells its users. Once per DocumentReference (identifier: the fiche), when it
  is current and visible to the patient: a fiche held back until the announcement consultation
  (`INVISIBLE_PATIENT`) is announced by the event of the update that lifts the flag; deleted,
  superseded, or published by the patient themselves: nothing. A document hidden from the
  legal representatives gives a notification hidden from them too (same label).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hygie.access.labels import DMP_VISIBILITY_SYSTEM, INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX
from hygie.services.records import terminology
from hygie.store import Context, Repository
from hygie.store.outbox import Dispatcher, Event

IDENTIFIER_SYSTEM = "urn:hygie:outbox"
DOCUMENT_SYSTEM = "urn:hygie:notification:document"  # value: the DocumentReference id
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
BTG_TOPIC = "access.break-the-glass"  # access/btg.py
DOCUMENT_TOPIC = "document"  # services/records/events.py


def install(repo: Repository, dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(BTG_TOPIC, lambda event: break_the_glass(repo, event))
    dispatcher.subscribe(DOCUMENT_TOPIC, lambda event: new_document(repo, event))


def break_the_glass(repo: Repository, event: Event) -> None:
    p = event.payload
    who = p.get("display") or p.get("practitioner") or "un professionnel de santé"
    until = _date_time(int(p["expires"])) if p.get("expires") else None
    text = (
        f"Accès en urgence (bris de glace) à votre dossier par {who}"
        f" — motif : « {p.get('reason') or 'non précisé'} »."
    )
    if until:
        text += f" Cet accès prend fin le {until[:10]} à {until[11:16]} (UTC)."
    notify(repo, event, p["patient"], text, about=p.get("practitioner"))


def new_document(repo: Repository, event: Event) -> None:
    p = event.payload
    patient = p.get("patient")
    reference = str(p.get("reference") or "")
    if (
        p.get("change") == "removed"
        or p.get("deleted")
        or p.get("status") != "current"
        or not isinstance(patient, str)
        or not patient.startswith("Patient/")
        or not reference.startswith("DocumentReference/")
        or p.get("actor") == patient  # the patient's own deposit
    ):
        return
    visibility = set(p.get("visibility") or ())
    if INVISIBLE_PATIENT in visibility:
        return  # announced when the flag is lifted (that update's event)
    kind = p.get("type")
    name = terminology.LOINC_TYPES.get(kind) or terminology.COMPLEMENT_TYPES.get(kind)
    text = "Un nouveau document est disponible dans votre dossier médical" + (
        f" : {name}." if name else "."
    )
    hidden = sorted(visibility & {INVISIBLE_REP_LEGAUX})
    notify(
        repo,
        event,
        patient,
        text,
        about=reference,
        identifier=(DOCUMENT_SYSTEM, reference.removeprefix("DocumentReference/")),
        security=[{"system": DMP_VISIBILITY_SYSTEM, "code": c} for c in hidden],
    )


def notify(
    repo: Repository,
    event: Event,
    patient: str,
    text: str,
    *,
    about: str | None = None,
    identifier: tuple[str, str] | None = None,
    security: list[dict[str, str]] | None = None,
) -> None:
    """A completed notification Communication to `patient`, created once per `identifier`
    (by default the outbox event's number: once per event)."""
    system, value = identifier or (IDENTIFIER_SYSTEM, f"{event.seq}")
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": system, "value": value}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY, "code": "notification"}]}],
        "subject": {"reference": patient},
        "recipient": [{"reference": patient}],
        "sent": _date_time(event.created),
        "payload": [{"contentString": text}],
    }
    if about:
        communication["about"] = [{"reference": about}]
    if security:
        communication["meta"] = {"security": security}
    repo.create(
        Context.system(),
        communication,
        rtype="Communication",
        if_none_exist=f"identifier={system}|{value}",
    )


def _date_time(us: int) -> str:
    moment = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
