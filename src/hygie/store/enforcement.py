"""Where the Repository applies the access policy and the audit trail (both plug-ins, see
`context.Policy` and `context.Recorder`): the one place every interaction passes through.

* Coarse check (`check`): before any data is read; refusals are 401/403 (the caller learns
  nothing about data, only about its own rights).
* Row filter (`restriction`): searches, counts, includes, chains, `_has`, history and
  conditional matches run with the caller's `Restriction` in their SQL.
* Loaded resources (`admit`): a read, a vread, each history entry and (as a safety net) each
  search entry is checked on its content; a refusal is a 404, as if it did not exist.
* Writes (`check_write`): inside the write transaction, with the current version.
* Audit: each access is recorded before the response (reads) or in the write's transaction.

The server itself (`Context.kind == "system"`) is neither restricted nor audited on reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from hygie.fhir.outcome import FhirError, not_found
from hygie.store.context import Access, Context, Policy, Recorder, Restriction, SearchScope

log = logging.getLogger("hygie.access")

# A loader of the last content of a deleted resource (to decide who may learn it was deleted).
LastContent = Callable[[], bytes | str | None]


class Enforcement:
    def __init__(self) -> None:
        self.policy: Policy | None = None
        self.recorder: Recorder | None = None

    def enabled(self, ctx: Context) -> bool:
        return not ctx.is_system and (self.policy is not None or self.recorder is not None)

    # -- audit --------------------------------------------------------------------------------
    def record(self, access: Access, cur: Any = None) -> None:
        if self.recorder is not None:
            self.recorder.record(access, cur)

    async def arecord(self, access: Access) -> None:
        if self.recorder is not None:
            await self.recorder.arecord(access)

    def flush(self) -> None:
        """Records written asynchronously (the audit spool) into their tables now: before
        reading the trail."""
        flush = getattr(self.recorder, "flush", None)
        if flush is not None:
            flush()

    def record_denial(self, access: Access) -> None:
        """A refused attempt, recorded without waiting (the caller may hold the write lock)."""
        if self.recorder is not None:
            note = getattr(self.recorder, "note", None)
            if note is not None:
                note(access)

    # -- checks -------------------------------------------------------------------------------
    def check(self, ctx: Context, action: str, rtype: str | None, rid: str | None) -> None:
        if self.policy is None or ctx.is_system:
            return
        try:
            self.policy.check(ctx, action, rtype, rid)
        except FhirError as exc:
            self.record_denial(Access(ctx, action, rtype, rid, exc.status, detail=str(exc)))
            raise

    def restriction(self, ctx: Context, action: str, scope: SearchScope) -> Restriction | None:
        if self.policy is None or ctx.is_system:
            return None
        return self.policy.restriction(ctx, action, scope)

    def admit(self, ctx: Context, action: str) -> Callable[[str, dict[str, Any]], bool] | None:
        """The per-resource check of search results (a safety net behind the SQL filter)."""
        policy = self.policy
        if policy is None or ctx.is_system:
            return None

        def check(rtype: str, resource: dict[str, Any]) -> bool:
            if policy.admit(ctx, action, rtype, resource):
                return True
            log.error("access: the row filter let %s/%s through", rtype, resource.get("id"))
            return False

        return check

    def visible(
        self,
        ctx: Context,
        action: str,
        rtype: str,
        rid: str,
        content: bytes | str | None,
        last: LastContent | None = None,
    ) -> dict[str, Any] | None:
        """The loaded resource, or FhirError 404 when the caller may not see it. A deleted
        resource (no content) is judged on its last version, so that only those who could
        see it learn that it was deleted (410); the others get 404."""
        if self.policy is None or ctx.is_system:
            return None
        if content is None and last is not None:
            content = last()
        resource = orjson.loads(content) if content is not None else None
        if resource is None or not self.policy.admit(ctx, action, rtype, resource):
            exc = not_found(rtype, rid)
            self.record_denial(Access(ctx, action, rtype, rid, 404, detail="hidden by policy"))
            raise exc
        return resource

    def check_write(
        self,
        cur: Any,
        ctx: Context | None,
        action: str,
        rtype: str,
        new: dict[str, Any] | None,
        previous: Callable[[], dict[str, Any] | None],
    ) -> None:
        if self.policy is None or ctx is None or ctx.is_system:
            return
        try:
            self.policy.check_write(ctx, cur, action, rtype, new, previous())
        except FhirError as exc:
            self.record_denial(Access(ctx, action, rtype, None, exc.status, detail=str(exc)))
            raise
