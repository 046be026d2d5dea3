"""Break-the-glass (bris de glace): emergency access beyond the care relationship.

A practitioner whose request carries the purpose of use BTG and a stated reason gets a grant
for the patient concerned, valid `btg_hours`, unless the patient opposed break-the-glass access
or opposed this professional by name (`facts.Opposition`). The grant is recorded in
`access_grant` and, in the same transaction, an outbox event `access.break-the-glass` is
emitted for the patient's notification; every access made under it is audited with the
purpose of use BTG (`hygie.audit`).
"""

from __future__ import annotations

import time

from hygie.access.facts import Facts
from hygie.store import outbox
from hygie.store.base import Backend
from hygie.store.context import Context

TOPIC = "access.break-the-glass"


def grant(backend: Backend, facts: Facts, ctx: Context, patient_id: str, hours: float) -> None:
    """Record a grant for `ctx.actor` on `patient_id` (once per validity period) and notify."""
    practitioner = ctx.actor.removeprefix("Practitioner/")
    if patient_id in facts.grants(practitioner):
        return
    now = time.time_ns() // 1000
    expires = now + int(hours * 3600 * 1_000_000)
    event = {
        "patient": f"Patient/{patient_id}",
        "practitioner": ctx.actor,
        "display": ctx.display,
        "reason": ctx.btg_reason,
        "expires": expires,
    }

    def job(cur) -> None:  # type: ignore[no-untyped-def]
        cur.execute(
            "INSERT INTO access_grant (practitioner, patient, reason, created, expires)"
            " VALUES (?, ?, ?, ?, ?)",
            (practitioner, patient_id, ctx.btg_reason or "", now, expires),
        )
        outbox.enqueue(cur, [(TOPIC, event)], now)

    backend.run_write(job)
    facts.forget()
