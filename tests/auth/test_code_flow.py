"""The authorization code flow with PKCE through the login pages (password + TOTP), over real
HTTP against `hygie serve` on SQLite and PostgreSQL: tokens, FHIR access, userinfo, refresh
rotation, revocation, single sign-on, TOTP replay, patient launch context."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.auth.browser import Browser, exchange, fresh_totp, pkce
from tests.auth.conftest import (
    APP_REDIRECT,
    PASSWORD,
    make_app,
    make_patient,
    make_practitioner,
    make_representative,
    treat,
)


def _issuer(base: str) -> str:
    return base.removesuffix("/fhir")


def test_practitioner_code_flow_with_totp(auth_repo, secure_live_server) -> None:
    acc = make_practitioner(auth_repo)
    app = make_app(auth_repo)
    base = secure_live_server()
    iss = _issuer(base)
    browser = Browser(iss)
    scope = "openid fhirUser offline_access user/*.rs system/*.rs"
    auth = browser.login(
        app, APP_REDIRECT, scope, base, acc.username, PASSWORD, acc.totp_secret, nonce="n-1"
    )
    r = exchange(iss, app, APP_REDIRECT, auth)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    tok = r.json()
    assert tok["token_type"] == "Bearer"
    # a person is never granted system/ scopes
    assert set(tok["scope"].split()) == {"openid", "fhirUser", "offline_access", "user/*.rs"}
    jwks = KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json())
    claims = jwt.decode(tok["access_token"], jwks).claims
    assert claims["aud"] == base and claims["iss"] == iss
    assert claims["fhirUser"] == f"{base}/{acc.fhir_user}"
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "urn:hygie:acr:mfa"
    assert claims["hygie"]["rpps"] == acc.rpps and claims["hygie"]["kind"] == "practitioner"
    idt = jwt.decode(tok["id_token"], jwks).claims
    assert idt["aud"] == app and idt["nonce"] == "n-1" and idt["sub"] == acc.id

    # the code is single-use
    again = exchange(iss, app, APP_REDIRECT, auth)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    bearer = {"Authorization": f"Bearer {tok['access_token']}"}
    got = httpx.get(f"{base}/{acc.fhir_user}", headers=bearer)
    assert got.status_code == 200, got.text
    assert httpx.get(f"{base}/{acc.fhir_user}").status_code == 401

    info = httpx.get(f"{iss}/auth/userinfo", headers=bearer).json()
    assert info["sub"] == acc.id and info["SubjectNameID"] == f"8{acc.rpps}"

    # refresh rotation: the new refresh token works once; reusing the old one revokes the family
    r1 = httpx.post(
        f"{iss}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tok["refresh_token"],
            "client_id": app,
        },
    )
    assert r1.status_code == 200, r1.text
    new = r1.json()
    assert new["refresh_token"] != tok["refresh_token"]
    assert jwt.decode(new["access_token"], jwks).claims["amr"] == ["pwd", "otp"]
    reuse = httpx.post(
        f"{iss}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tok["refresh_token"],
            "client_id": app,
        },
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = httpx.post(
        f"{iss}/auth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": new["refresh_token"],
            "client_id": app,
        },
    )
    assert after.status_code == 400, "the whole family is revoked after a reuse"

    # revocation of the access token (RFC 7009): 200, then the FHIR API refuses it
    nb = {"Authorization": f"Bearer {new['access_token']}"}
    assert httpx.get(f"{base}/{acc.fhir_user}", headers=nb).status_code == 200
    rv = httpx.post(f"{iss}/auth/revoke", data={"token": new["access_token"], "client_id": app})
    assert rv.status_code == 200
    refused = httpx.get(f"{base}/{acc.fhir_user}", headers=nb)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert refused.json()["resourceType"] == "OperationOutcome"
    # revoking an unknown token is still 200
    assert (
        httpx.post(f"{iss}/auth/revoke", data={"token": "nope", "client_id": app}).status_code
        == 200
    )

    # single sign-on: the provider session skips the login pages
    r, verifier, state = browser.start(app, APP_REDIRECT, "openid user/*.rs", base)
    sso = Browser.finish(r, APP_REDIRECT, verifier, state)
    t2 = exchange(iss, app, APP_REDIRECT, sso).json()
    assert jwt.decode(t2["access_token"], jwks).claims["amr"] == ["pwd", "otp"]
    browser.close()


def test_totp_is_required_and_not_replayable(auth_repo, secure_live_server) -> None:
    acc = make_practitioner(auth_repo)
    app = make_app(auth_repo)
    base = secure_live_server()
    iss = _issuer(base)
    b1 = Browser(iss)
    r, _, _ = b1.start(app, APP_REDIRECT, "user/*.rs", base)
    page = b1.password(r, acc.username, PASSWORD)
    assert "Second facteur" in page.text
    wrong = b1.totp(page, "12345")
    assert wrong.status_code == 401 and "Code incorrect" in wrong.text
    code = fresh_totp(acc.totp_secret)
    ok = b1.totp(wrong, code)
    assert ok.status_code == 303
    # the same code in another login is refused (RFC 6238 §5.2: one use per code)
    b2 = Browser(iss)
    r2, _, _ = b2.start(app, APP_REDIRECT, "user/*.rs", base)
    page2 = b2.password(r2, acc.username, PASSWORD)
    replay = b2.totp(page2, code)
    assert replay.status_code == 401
    # a form post without the right CSRF token is refused
    forged = b2.http.post(f"{iss}/auth/totp", data={"rid": "x", "csrf": "y", "code": code})
    assert forged.status_code == 400 and "expiré" in forged.text
    # PKCE is mandatory
    no_pkce = b2.http.get(
        f"{iss}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": app,
            "redirect_uri": APP_REDIRECT,
            "scope": "openid",
        },
    )
    assert no_pkce.status_code == 303 and "error=invalid_request" in no_pkce.headers["location"]
    # an unregistered redirect URI is never redirected to
    evil = b2.http.get(
        f"{iss}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": app,
            "redirect_uri": "http://evil.example/cb",
            "code_challenge": pkce()[1],
            "code_challenge_method": "S256",
        },
    )
    assert evil.status_code == 400 and "location" not in evil.headers
    b1.close()
    b2.close()


def test_patient_and_representative_launch(auth_repo, secure_live_server) -> None:
    pat = make_patient(auth_repo)
    rep, kids = make_representative(auth_repo, children=2)
    app = make_app(auth_repo)
    base = secure_live_server()
    iss = _issuer(base)
    # a patient: password only (no second factor enrolled), patient in context
    b = Browser(iss)
    auth = b.login(
        app, APP_REDIRECT, "openid launch/patient patient/*.rs", base, pat.username, PASSWORD
    )
    tok = exchange(iss, app, APP_REDIRECT, auth).json()
    assert tok["patient"] == pat.patient.split("/")[1]
    assert "patient/*.rs" in tok["scope"].split()
    bearer = {"Authorization": f"Bearer {tok['access_token']}"}
    assert httpx.get(f"{base}/{pat.patient}", headers=bearer).status_code == 200
    claims = jwt.decode(
        tok["access_token"], KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json())
    ).claims
    assert claims["acr"] == "urn:hygie:acr:password"
    b.close()
    # a representative of two children chooses the patient
    b = Browser(iss)
    r, verifier, state = b.start(app, APP_REDIRECT, "launch/patient patient/*.rs", base)
    page = b.password(r, rep.username, PASSWORD)
    assert page.status_code == 200 and "Pour quel patient" in page.text
    from tests.auth.browser import hidden

    chosen = b.http.post(
        f"{iss}/auth/patient",
        data={
            "rid": hidden(page.text, "rid"),
            "csrf": hidden(page.text, "csrf"),
            "patient": kids[1],
        },
    )
    auth = Browser.finish(chosen, APP_REDIRECT, verifier, state)
    tok = exchange(iss, app, APP_REDIRECT, auth).json()
    assert tok["patient"] == kids[1].split("/")[1]
    claims = jwt.decode(
        tok["access_token"], KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json())
    ).claims
    assert set(claims["hygie"]["represented"]) == set(kids)
    # single sign-on: no password again, but the choice of patient again
    r, verifier, state = b.start(app, APP_REDIRECT, "launch/patient patient/*.rs", base)
    assert r.status_code == 200 and "Pour quel patient" in r.text
    chosen = b.http.post(
        f"{iss}/auth/patient",
        data={"rid": hidden(r.text, "rid"), "csrf": hidden(r.text, "csrf"), "patient": kids[0]},
    )
    auth = Browser.finish(chosen, APP_REDIRECT, verifier, state)
    assert exchange(iss, app, APP_REDIRECT, auth).json()["patient"] == kids[0].split("/")[1]
    b.close()


def test_prompt_none_and_max_age(auth_repo, secure_live_server) -> None:
    """OpenID Connect Core 3.1.2.1: prompt=none answers without any page (login_required when
    nobody is signed in, interaction_required when a choice is needed); max_age forces a new
    login when the last one is older; the ID token carries auth_time."""
    import time
    from urllib.parse import parse_qs, urlsplit

    pat = make_patient(auth_repo)
    rep, _ = make_representative(auth_repo, children=2)
    app = make_app(auth_repo)
    base = secure_live_server()
    iss = _issuer(base)
    b = Browser(iss)

    def error(r: httpx.Response) -> str:
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith(APP_REDIRECT + "?")
        return parse_qs(urlsplit(r.headers["location"]).query)["error"][0]

    r, _, _ = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, prompt="none")
    assert error(r) == "login_required"
    r, _, _ = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, prompt="none login")
    assert error(r) == "invalid_request"
    r, _, _ = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, max_age="soon")
    assert error(r) == "invalid_request"
    auth = b.login(app, APP_REDIRECT, "openid patient/*.rs", base, pat.username, PASSWORD)
    first = exchange(iss, app, APP_REDIRECT, auth).json()
    jwks = KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json())
    auth_time = jwt.decode(first["id_token"], jwks).claims["auth_time"]
    # signed in: prompt=none gives a code without a page
    r, verifier, state = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, prompt="none")
    silent = exchange(iss, app, APP_REDIRECT, Browser.finish(r, APP_REDIRECT, verifier, state))
    assert jwt.decode(silent.json()["id_token"], jwks).claims["auth_time"] == auth_time
    # a generous max_age keeps the session; a login older than max_age asks again
    r, verifier, state = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, max_age="3600")
    Browser.finish(r, APP_REDIRECT, verifier, state)
    time.sleep(1.1)
    r, _, _ = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, max_age="0")
    assert r.status_code == 200 and "Connexion" in r.text
    r, _, _ = b.start(app, APP_REDIRECT, "openid patient/*.rs", base, max_age="0", prompt="none")
    assert error(r) == "login_required"
    b.close()
    # a representative of two children must choose: prompt=none cannot
    b = Browser(iss)
    b.login(app, APP_REDIRECT, "openid", base, rep.username, PASSWORD)
    r, _, _ = b.start(app, APP_REDIRECT, "launch/patient patient/*.rs", base, prompt="none")
    assert error(r) == "interaction_required"
    b.close()


def test_practitioner_standalone_launch_picks_a_patient_of_the_care_team(
    auth_repo, secure_live_server
) -> None:
    """SMART standalone launch with `launch/patient` by a professional: after the login, a
    picker lists the patients of their care team (found by name), and only those; the token
    carries the chosen patient."""
    from hygie.auth import identities
    from tests.auth.browser import hidden

    acc = make_practitioner(auth_repo)
    cared = [
        identities.create_patient(auth_repo, "Durand", "Alice", "1970-02-03", "female"),
        identities.create_patient(auth_repo, "Durand", "Bruno", "1972-05-06", "male"),
        identities.create_patient(auth_repo, "Martin", "Chloé", "1980-07-08", "female"),
    ]
    stranger = identities.create_patient(auth_repo, "Durand", "Denis", "1975-01-01", "male")
    treat(auth_repo, acc.fhir_user, cared)
    app = make_app(auth_repo)
    base = secure_live_server()
    iss = _issuer(base)
    b = Browser(iss)
    scope = "openid launch/patient patient/*.rs"
    r, verifier, state = b.start(app, APP_REDIRECT, scope, base)
    r = b.password(r, acc.username, PASSWORD)
    page = b.totp(r, fresh_totp(acc.totp_secret))
    assert page.status_code == 200 and "Pour quel patient" in page.text, page.text
    assert "DURAND Alice — née le 1970-02-03" in page.text
    assert "MARTIN Chloé" in page.text and "Denis" not in page.text  # not in the care team
    found = b.http.post(
        f"{iss}/auth/patient",
        data={"rid": hidden(page.text, "rid"), "csrf": hidden(page.text, "csrf"), "name": "durand"},
    )
    assert "DURAND Bruno" in found.text and "MARTIN" not in found.text
    # a patient outside the care team cannot be chosen, even by a forged form
    forged = b.http.post(
        f"{iss}/auth/patient",
        data={
            "rid": hidden(page.text, "rid"),
            "csrf": hidden(page.text, "csrf"),
            "patient": stranger,
        },
    )
    assert forged.status_code != 303
    chosen = b.http.post(
        f"{iss}/auth/patient",
        data={
            "rid": hidden(page.text, "rid"),
            "csrf": hidden(page.text, "csrf"),
            "patient": cared[1],
        },
    )
    tok = exchange(iss, app, APP_REDIRECT, Browser.finish(chosen, APP_REDIRECT, verifier, state))
    assert tok.status_code == 200, tok.text
    assert tok.json()["patient"] == cared[1].split("/")[1]
    bearer = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    assert httpx.get(f"{base}/{cared[1]}", headers=bearer).status_code == 200
    # signed in already: prompt=none cannot choose for them
    r, _, _ = b.start(app, APP_REDIRECT, scope, base, prompt="none")
    assert r.status_code == 303 and "error=interaction_required" in r.headers["location"]
    b.close()
