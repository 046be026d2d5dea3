"""The patient picker of a professional's SMART standalone launch, in a real browser (headless
Chromium driven by Playwright): login, second factor, search by name among the care team,
choose, and the app receives a code whose token carries the chosen patient."""

from __future__ import annotations

import shutil

import httpx
from playwright.sync_api import sync_playwright

from hygie.auth import identities
from tests.auth.browser import exchange_landing, pkce, sign_in_with_totp
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_practitioner, treat

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_practitioner_picks_a_patient_in_the_browser(db_url, auth_repo, live_server_factory):
    acc = make_practitioner(auth_repo)
    alice = identities.create_patient(auth_repo, "Durand", "Alice", "1970-02-03", "female")
    chloe = identities.create_patient(auth_repo, "Martin", "Chloé", "1980-07-08", "female")
    treat(auth_repo, acc.fhir_user, [alice, chloe])
    app = make_app(auth_repo)
    server = live_server_factory(db_url, secure=True)
    iss = f"http://localhost:{server.port}"
    verifier, challenge = pkce()
    query = httpx.QueryParams(
        {
            "response_type": "code",
            "client_id": app,
            "redirect_uri": APP_REDIRECT,
            "scope": "openid launch/patient patient/*.rs",
            "state": "s1",
            "aud": f"{iss}/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    landed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()

            def callback(route):
                landed.append(route.request.url)
                route.fulfill(status=200, body="ok")

            page.route("http://127.0.0.1:9/**", callback)
            page.goto(f"{iss}/auth/authorize?{query}")
            sign_in_with_totp(page, acc.username, PASSWORD, acc.totp_secret)
            page.wait_for_selector("text=Pour quel patient")
            listed = page.inner_text("#patient")
            assert "DURAND Alice — née le 1970-02-03" in listed and "MARTIN Chloé" in listed
            page.fill("#name", "martin")
            page.click("#search button[type=submit]")
            page.wait_for_selector("text=MARTIN Chloé")
            assert "DURAND" not in page.inner_text("#patient")
            page.check(f"input[name=patient][value='{chloe}']")
            page.click("#patient button[type=submit]")
            page.wait_for_url("http://127.0.0.1:9/**")
        finally:
            browser.close()
    tok = exchange_landing(iss, app, APP_REDIRECT, landed[-1], "s1", verifier)
    assert tok.status_code == 200, tok.text
    assert tok.json()["patient"] == chloe.split("/")[1]
