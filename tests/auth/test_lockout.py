"""Lockout after repeated failed logins, rate limits of the login and token endpoints (429 with
Retry-After), and the auth events the audit trail subscribes to."""

from __future__ import annotations

import httpx

from tests.auth.browser import Browser, hidden
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_practitioner


def test_lockout_then_rate_limit(auth_repo, secure_live_server) -> None:
    acc = make_practitioner(auth_repo)
    app = make_app(auth_repo)
    base = secure_live_server(
        HYGIE_LOCKOUT="3/600", HYGIE_LOGIN_RATE="8/60", HYGIE_TOKEN_RATE="5/60"
    )
    iss = base.removesuffix("/fhir")
    b = Browser(iss)
    page, _, _ = b.start(app, APP_REDIRECT, "user/*.rs", base)
    statuses = []
    for _ in range(3):
        page = b.password(page, acc.username, "wrong password")
        statuses.append(page.status_code)
        assert "Identifiant ou mot de passe incorrect" in page.text or "verrouillé" in page.text
    assert statuses == [401, 401, 401]
    # locked: even the right password is refused, and says so
    locked = b.password(page, acc.username, PASSWORD)
    assert locked.status_code == 403 and "verrouillé" in locked.text
    row = auth_repo.backend.read_one(
        "SELECT locked_until FROM auth_accounts WHERE id = ?", (acc.id,)
    )
    assert row is not None and row[0] > 0
    # an unknown user gets the same answer as a wrong password (no user enumeration)
    unknown = b.password(locked, "nobody", "whatever1")
    assert unknown.status_code == 401 and "Identifiant ou mot de passe incorrect" in unknown.text
    # the login endpoint is rate limited per address: 8 attempts a minute here
    page = unknown
    for _ in range(10):
        page = b.password(page, "nobody", "whatever1")
        if page.status_code == 429:
            break
    assert page.status_code == 429, page.status_code
    assert int(page.headers["retry-after"]) > 0
    assert hidden(page.text, "csrf")  # still a page the user can come back to
    # the token endpoint too
    codes = [
        httpx.post(
            f"{iss}/auth/token",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        ).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    b.close()
