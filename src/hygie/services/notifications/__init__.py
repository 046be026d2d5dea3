"""Patient notifications: outbox events turned into FHIR `Communication`s addressed to the
patient (their health space shows them; the API lists them as `Communication?recipient=` or
through the patient's compartment).

Delivered by the node's background process (`hygie background`, started by `hygie serve`)
from the transactional outbox, at least once: each Communication carries the outbox event's
number as identifier and is created conditionally on it, so a redelivery creates nothing.

Topics handled: `access.break-the-glass` (an emergency access to the patient's record: who,
why, until when — the patient must be told, docs/access.md). Topic `document` (new fiches of
the shared record) has no subscriber yet: its events wait in the outbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hygie.store import Context, Repository
from hygie.store.outbox import Dispatcher, Event

IDENTIFIER_SYSTEM = "urn:hygie:outbox"
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
BTG_TOPIC = "access.break-the-glass"  # access/btg.py


def install(repo: Repository, dispatcher: Dispatcher) -> None:
    dispatcher.subscribe(BTG_TOPIC, lambda event: break_the_glass(repo, event))


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


def notify(
    repo: Repository, event: Event, patient: str, text: str, *, about: str | None = None
) -> None:
    """A completed notification Communication to `patient` (once per outbox event)."""
    identifier = f"{event.seq}"
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": identifier}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY, "code": "notification"}]}],
        "subject": {"reference": patient},
        "recipient": [{"reference": patient}],
        "sent": _date_time(event.created),
        "payload": [{"contentString": text}],
    }
    if about:
        communication["about"] = [{"reference": about}]
    repo.create(
        Context.system(),
        communication,
        rtype="Communication",
        if_none_exist=f"identifier={IDENTIFIER_SYSTEM}|{identifier}",
    )


def _date_time(us: int) -> str:
    moment = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
