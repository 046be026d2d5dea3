"""WebAuthn with a real browser: headless Chromium (Debian's, driven by Playwright) with a CDP
virtual authenticator. A professional logs in with password + TOTP, enrols a security key on
the account page, logs out, then logs in with password + the key.

The provider is reached as http://localhost:PORT: WebAuthn needs a host name as relying party
id (not an IP address), and treats localhost as a secure context."""

from __future__ import annotations

import shutil

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import sync_playwright

from tests.auth.browser import exchange_landing, pkce, sign_in_with_totp
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_practitioner

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_webauthn_enrol_and_login(db_url, auth_repo, live_server_factory) -> None:
    acc = make_practitioner(auth_repo)
    app = make_app(auth_repo)
    server = live_server_factory(db_url, secure=True)
    iss = f"http://localhost:{server.port}"
    aud = f"{iss}/fhir"

    def authorize_url(challenge: str, state: str) -> str:
        q = httpx.QueryParams(
            {
                "response_type": "code",
                "client_id": app,
                "redirect_uri": APP_REDIRECT,
                "scope": "openid user/*.rs",
                "state": state,
                "aud": aud,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{iss}/auth/authorize?{q}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            page = context.new_page()
            landed: list[str] = []

            def callback(route):
                landed.append(route.request.url)
                route.fulfill(status=200, body="ok")

            page.route("http://127.0.0.1:9/**", callback)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "usb",
                        "hasResidentKey": False,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )

            # 1. password + TOTP
            _, challenge = pkce()
            page.goto(authorize_url(challenge, "s1"))
            sign_in_with_totp(page, acc.username, PASSWORD, acc.totp_secret)
            page.wait_for_url("http://127.0.0.1:9/**")
            assert landed and "code=" in landed[-1]

            # 2. enrol a security key on the account page (the provider session is open)
            page.goto(f"{iss}/auth/account")
            assert page.inner_text("#webauthn-count") == "0"
            page.click("#webauthn-register")
            page.wait_for_selector("#webauthn-status:not(:empty)")  # no eval: the CSP forbids it
            assert page.inner_text("#webauthn-status") == "Clé de sécurité enregistrée.", (
                page.inner_text("#webauthn-status")
            )
            assert page.inner_text("#webauthn-count") == "1"
            page.click("form[action='/auth/logout'] button")
            page.wait_for_selector("text=Vous êtes déconnecté.")

            # 3. password + security key
            verifier, challenge = pkce()
            page.goto(authorize_url(challenge, "s2"))
            page.fill("#username", acc.username)
            page.fill("#password", PASSWORD)
            page.click("#connexion button[type=submit]")
            page.wait_for_selector("#webauthn-login")
            page.click("#webauthn-login")
            page.wait_for_url("http://127.0.0.1:9/**")
        finally:
            browser.close()
    tok = exchange_landing(iss, app, APP_REDIRECT, landed[-1], "s2", verifier)
    assert tok.status_code == 200, tok.text
    claims = jwt.decode(
        tok.json()["access_token"], KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json())
    ).claims
    assert claims["amr"] == ["pwd", "hwk"] and claims["acr"] == "urn:hygie:acr:mfa"
    row = auth_repo.backend.read_one(
        "SELECT COUNT(*), MAX(sign_count) FROM auth_webauthn WHERE account = ?", (acc.id,)
    )
    assert row is not None and row[0] == 1
