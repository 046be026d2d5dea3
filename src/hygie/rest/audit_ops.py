"""Security wiring of the REST app: the access policy and the audit trail plugged into the
Repository, and the patient's access log.

| operation | level | methods |
| --- | --- | --- |
| `$access-log` | Patient instance | GET (`_count`, `before`): who accessed this patient's data, newest first (BALP AuditEvents, break-the-glass flagged in `purposeOfEvent`) |

The log is the patient's: the patient themself, their legal representative, or the server
(operators) may read it; a professional may not (403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from hygie import access, audit
from hygie.access.scopes import allows
from hygie.audit.log import access_log
from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request, Response
from hygie.rest.operations import INSTANCE, OpParams
from hygie.store import Context
from hygie.store.context import PATIENT, REPRESENTATIVE, Access

if TYPE_CHECKING:
    from hygie.rest.app import FhirApp


def install_security(app: FhirApp) -> None:
    repo = app.repo
    access.install(repo)
    audit.install(repo)
    if not app.settings.open:
        # a read waits for its audit record: on the event loop, asynchronously (never a
        # blocking wait there), hence the asynchronous read path on both databases
        app.inline_reads = False
        app.async_reads = True

    def log(ctx: Context, req: Request, rtype: str | None, rid: str | None) -> Response:
        patient = f"Patient/{rid}"
        if not ctx.is_system:
            mine = (ctx.kind == PATIENT and ctx.patient == patient) or (
                ctx.kind == REPRESENTATIVE and patient in ctx.represented
            )
            scoped = allows(ctx.scopes, ctx.kind, "AuditEvent", "search") or allows(
                ctx.scopes, ctx.kind, "Patient", "read"
            )
            if not (mine and scoped):
                repo.enforcement.record_denial(Access(ctx, "read", "Patient", rid, 403))
                raise FhirError(
                    403, "Only the patient or their representative reads this log", "forbidden"
                )
        p = OpParams(req)
        count = min(p.integer("_count") or 50, 500)
        repo.enforcement.flush()  # this process's spooled reads first
        bundle = access_log(
            repo.backend, patient, base=req.base, count=count, before=p.integer("before")
        )
        if not ctx.is_system:
            done = Access(ctx, "read", "Patient", rid, 200, patients={patient}, query="$access-log")
            repo.enforcement.record(done)
        return Response(200, orjson.dumps(bundle))

    app.router.operations.register("Patient", "$access-log", INSTANCE, log, ("GET",))
