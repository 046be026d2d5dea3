"""The small pieces: TOTP steps and replay, the rate limiter, passwords, scope granting, and
auth events emitted by the in-process secure app (ASGI)."""

from __future__ import annotations

import httpx
import pyotp
import pytest

from hygie.auth import events, totp
from hygie.auth.login import grantable
from hygie.auth.passwords import hash_password, verify_password
from hygie.auth.ratelimit import RateLimiter
from hygie.fhir.outcome import FhirError
from hygie.rest.app import Settings, create_app
from tests.auth.browser import hidden, pkce
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_practitioner


def test_totp_steps_drift_and_replay() -> None:
    secret = pyotp.random_base32()
    now = 1_800_000_015.0
    step = int(now // 30)
    code = pyotp.TOTP(secret).at(now)
    assert totp.matching_step(secret, code, 0, now) == step
    assert totp.matching_step(secret, code, step, now) is None  # used already
    prev = pyotp.TOTP(secret).at(now - 30)
    assert totp.matching_step(secret, prev, 0, now) == step - 1  # one step of drift
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now - 90), 0, now) is None
    assert totp.matching_step(secret, "12a456", 0, now) is None
    assert totp.provisioning_uri(secret, "dr.x").startswith("otpauth://totp/Hygie:dr.x?secret=")


def test_rate_limiter_is_shared_by_the_workers_of_a_database(db_url) -> None:
    """Two limiters on one database (two worker processes) count the same attempts; the
    previous window weighs as much of it as the sliding window still covers."""
    from hygie.auth.schema import ensure_schema
    from hygie.store import open_backend

    clock = [960_000.0]  # the start of a 60 s window
    first, second = open_backend(db_url), open_backend(db_url)
    ensure_schema(first)
    workers = [RateLimiter(b, "login", 4, 60, clock=lambda: clock[0]) for b in (first, second)]
    try:
        assert workers[0].retry_after("1.2.3.4") is None
        assert workers[1].retry_after("1.2.3.4") is None
        assert workers[0].retry_after("1.2.3.4") is None
        assert workers[1].retry_after("1.2.3.4") is None
        assert workers[0].retry_after("1.2.3.4") == 60  # 4 in this window: wait for its end
        assert workers[1].retry_after("5.6.7.8") is None  # per address
        clock[0] += 75  # 15 s into the next window: the previous 4 still weigh 4 × 0.75 = 3
        assert workers[1].retry_after("1.2.3.4") is None  # 3 + 0 < 4
        # 1 + 3 = 4: refused; the previous window's weight falls below 3 a moment later
        assert workers[0].retry_after("1.2.3.4") == 1
        clock[0] += 30
        assert workers[0].retry_after("1.2.3.4") is None  # 4 × 0.25 + 1 = 2 < 4
        with pytest.raises(FhirError) as exc:
            for _ in range(5):
                workers[1].check("1.2.3.4")
        assert exc.value.status == 429 and exc.value.headers["Retry-After"].isdigit()
    finally:
        first.close()
        second.close()


def test_passwords() -> None:
    h = hash_password("un mot de passe")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "un mot de passe")
    assert not verify_password(h, "autre chose")
    assert not verify_password(None, "un mot de passe")
    with pytest.raises(ValueError):
        hash_password("court")


def test_grantable() -> None:
    asked = frozenset(
        {"openid", "user/*.rs", "system/*.rs", "patient/*.rs", "launch/patient", "user/Obs.x"}
    )
    assert grantable(asked, frozenset(), "practitioner", False) == {"openid", "user/*.rs"}
    assert grantable(asked, frozenset(), "patient", True) == {
        "openid",
        "user/*.rs",
        "patient/*.rs",
        "launch/patient",
    }
    assert grantable(asked, frozenset({"system/*.rs"}), "client", False) == {"system/*.rs"}
    # a client registered for system/*.rs may get a narrower system/Patient.r
    assert grantable(
        frozenset({"system/Patient.r"}), frozenset({"system/*.rs"}), "client", False
    ) == {"system/Patient.r"}
    assert (
        grantable(frozenset({"system/Patient.c"}), frozenset({"system/*.rs"}), "client", False)
        == frozenset()
    )


@pytest.fixture
def secure_app(db_url: str):
    """The FhirApp with authentication (what `hygie serve` runs without --open)."""
    app = create_app(db_url, Settings(threads=4))
    try:
        yield app
    finally:
        app.executor.shutdown(wait=True)
        app.repo.close()


@pytest.mark.anyio
async def test_events_of_a_login(secure_app) -> None:
    seen: list[events.AuthEvent] = []
    events.subscribe(seen.append)
    failing = lambda e: 1 / 0  # noqa: E731 (a broken listener must not break the login)
    events.subscribe(failing)
    try:
        acc = make_practitioner(secure_app.repo)
        app_id = make_app(secure_app.repo)
        transport = httpx.ASGITransport(app=secure_app, client=("10.1.2.3", 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
            verifier, challenge = pkce()
            r = await h.get(
                "/auth/authorize",
                params={
                    "response_type": "code",
                    "client_id": app_id,
                    "redirect_uri": APP_REDIRECT,
                    "scope": "openid user/*.rs",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            form = {"rid": hidden(r.text, "rid"), "csrf": hidden(r.text, "csrf")}
            await h.post(
                "/auth/login", data={**form, "username": acc.username, "password": "bad password"}
            )
            r = await h.post(
                "/auth/login", data={**form, "username": acc.username, "password": PASSWORD}
            )
            r = await h.post("/auth/totp", data={**form, "code": pyotp.TOTP(acc.totp_secret).now()})
            assert r.status_code == 303
            code = r.headers["location"].split("code=")[1].split("&")[0]
            t = await h.post(
                "/auth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": APP_REDIRECT,
                    "code_verifier": verifier,
                    "client_id": app_id,
                },
            )
            assert t.status_code == 200
            tok = t.json()["access_token"]
            await h.post("/auth/revoke", data={"token": tok, "client_id": app_id})
            # the Context of a FHIR request carries the source address
            me = await h.get(f"/fhir/{acc.fhir_user}", headers={"Authorization": f"Bearer {tok}"})
            assert me.status_code == 401
    finally:
        events.unsubscribe(seen.append)
        events.unsubscribe(failing)
    kinds = [e.kind for e in seen]
    assert kinds == [
        events.LOGIN_FAILURE,
        events.LOGIN_SUCCESS,
        events.TOKEN_ISSUED,
        events.TOKEN_REVOKED,
    ]
    assert all(e.source == "10.1.2.3" for e in seen)
    assert seen[0].detail == {"reason": "bad-password"} and seen[0].user == acc.id
    assert seen[1].detail == {"amr": ["pwd", "otp"]} and seen[1].actor == acc.fhir_user
    assert "password" not in repr(seen).lower().replace("bad-password", "")


@pytest.mark.anyio
async def test_context_from_token(secure_app) -> None:
    """The Context the repository receives, built from a verified token (kind, practitioner
    attributes, auth level from acr/amr, client, session, source)."""
    from hygie.auth.verify import build_context

    claims = {
        "sub": "acc1",
        "aud": "http://x/fhir",
        "jti": "j1",
        "client_id": "app",
        "scope": "openid user/*.rs",
        "acr": "urn:hygie:acr:mfa",
        "amr": ["pwd", "otp"],
        "fhirUser": "http://x/fhir/Practitioner/p1",
        "patient": "pat9",
        "hygie": {
            "kind": "practitioner",
            "rpps": "19999970018",
            "profession": "10",
            "specialty": "SM54",
            "organization": "Organization/o1",
            "display": "Anne",
        },
    }
    ctx = build_context(claims, "10.0.0.1")
    assert (ctx.kind, ctx.actor, ctx.user, ctx.client_id, ctx.session, ctx.source) == (
        "practitioner",
        "Practitioner/p1",
        "acc1",
        "app",
        "j1",
        "10.0.0.1",
    )
    assert (ctx.rpps, ctx.profession, ctx.specialty, ctx.organization) == (
        "19999970018",
        "10",
        "SM54",
        "Organization/o1",
    )
    assert ctx.patient == "Patient/pat9" and ctx.auth_level == "mfa"
    assert ctx.scopes == {"openid", "user/*.rs"}
    one = build_context({**claims, "acr": "urn:hygie:acr:password", "amr": ["pwd"]}, None)
    assert one.auth_level == "password"
    client = build_context(
        {
            "sub": "c1",
            "aud": "a",
            "jti": "j",
            "client_id": "c1",
            "scope": "system/*.rs",
            "acr": "urn:hygie:acr:client-secret",
            "amr": [],
            "hygie": {"kind": "client"},
        },
        None,
    )
    assert (client.kind, client.actor, client.auth_level) == ("client", "Device/c1", "password")
    assert build_context({**claims, "acr": "forged"}, None).auth_level == "none"
