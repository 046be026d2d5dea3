"""Logins, failed attempts, lockouts and tokens (`hygie.auth.events`) as audit records."""

from __future__ import annotations

from typing import Any

from hygie.store.context import Access, Context

_FAILED = {"login-failure": 401, "lockout": 423}


current: Any = None  # the recorder of this process's app (audit.install)


def on_event(event: Any) -> None:
    recorder = current
    if recorder is None:
        return
    ctx = Context(
        actor=event.actor or f"unknown/{event.username or '?'}",
        kind="user",
        user=event.user,
        client_id=event.client_id,
        source=event.source,
        display=event.username,
    )
    reason = (event.detail or {}).get("reason")
    recorder.record(Access(ctx, event.kind, status=_FAILED.get(event.kind, 200), detail=reason))
