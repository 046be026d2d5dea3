"""Authentication events (login success and failure, lockout, tokens issued and revoked), for the
audit trail: `hygie.audit` registers a listener; this package never imports it.

A listener is called synchronously with an AuthEvent; its failure is logged, never propagated
to the login (a broken listener must not lock everybody out, nor leak through the response).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("hygie.auth.events")

LOGIN_SUCCESS = "login-success"
LOGIN_FAILURE = "login-failure"  # wrong password, wrong second factor, unknown user
LOCKOUT = "lockout"  # an account locked after too many failures
TOKEN_ISSUED = "token-issued"
TOKEN_REVOKED = "token-revoked"


@dataclass(frozen=True, slots=True)
class AuthEvent:
    kind: str  # one of the constants above
    user: str | None = None  # account id, when known
    username: str | None = None  # the login name typed (never the password)
    client_id: str | None = None
    source: str | None = None  # the caller's network address
    actor: str | None = None  # FHIR reference of the account (Practitioner/…, Patient/…)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. {"reason": "bad-password"}


Listener = Callable[[AuthEvent], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(event: AuthEvent) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("auth event listener failed on %s", event.kind)
