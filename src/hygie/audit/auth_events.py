"""Logins, failed attempts, lockouts and tokens (`hygie.auth.events`) as audit records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hygie.store.context import Access, Context

_FAILED = {"login-failure": 401, "lockout": 423}


def listener(recorder: Any) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        ctx = Context(
            actor=event.actor or f"unknown/{event.username or '?'}",
            kind="user",
            user=event.user,
            client_id=event.client_id,
            source=event.source,
            display=event.username,
        )
        reason = (event.detail or {}).get("reason")
        access = Access(ctx, event.kind, status=_FAILED.get(event.kind, 200), detail=reason)
        recorder.record(access)

    return on_event
