"""A scripted user agent for the login pages: follows the authorization code flow with PKCE
through the HTML forms (CSRF token, browser-binding cookie) like a browser would."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden field {name} in:\n{page[:2000]}"
    return html.unescape(m.group(1))


def fresh_totp(secret: str) -> str:
    """A TOTP code of a step not used yet by the previous call (replay protection refuses a
    code twice): wait for the next 30-second step when needed."""
    totp = pyotp.TOTP(secret)
    step = int(time.time() // 30)
    last = fresh_totp.last.get(secret)  # type: ignore[attr-defined]
    if last is not None and last >= step:
        time.sleep((step + 1) * 30 - time.time() + 0.2)
        step = int(time.time() // 30)
    fresh_totp.last[secret] = step  # type: ignore[attr-defined]
    return totp.at(step * 30)


fresh_totp.last = {}  # type: ignore[attr-defined]


@dataclass
class Authorized:
    code: str
    state: str
    verifier: str
    location: str


class Browser:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.http = httpx.Client(follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def authorize_url(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        aud: str,
        challenge: str,
        state: str,
        **extra: str,
    ) -> str:
        q = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "aud": aud,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.issuer}/auth/authorize?{urlencode(q)}"

    def start(
        self, client_id: str, redirect_uri: str, scope: str, aud: str, **extra: str
    ) -> tuple[httpx.Response, str, str]:
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(8)
        r = self.http.get(
            self.authorize_url(client_id, redirect_uri, scope, aud, challenge, state, **extra)
        )
        return r, verifier, state

    def password(self, page: httpx.Response, username: str, password: str) -> httpx.Response:
        text = page.text
        return self.http.post(
            f"{self.issuer}/auth/login",
            data={
                "rid": hidden(text, "rid"),
                "csrf": hidden(text, "csrf"),
                "username": username,
                "password": password,
            },
        )

    def totp(self, page: httpx.Response, code: str) -> httpx.Response:
        text = page.text
        return self.http.post(
            f"{self.issuer}/auth/totp",
            data={"rid": hidden(text, "rid"), "csrf": hidden(text, "csrf"), "code": code},
        )

    def login(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        aud: str,
        username: str,
        password: str,
        totp_secret: str | None = None,
        **extra: str,
    ) -> Authorized:
        """The whole login; asserts each page is the expected one."""
        r, verifier, state = self.start(client_id, redirect_uri, scope, aud, **extra)
        assert r.status_code == 200, r.text
        assert "Connexion" in r.text
        r = self.password(r, username, password)
        if totp_secret is not None:
            assert r.status_code == 200, r.text
            assert "Second facteur" in r.text
            r = self.totp(r, fresh_totp(totp_secret))
        return self.finish(r, redirect_uri, verifier, state)

    @staticmethod
    def finish(r: httpx.Response, redirect_uri: str, verifier: str, state: str) -> Authorized:
        assert r.status_code == 303, r.text
        loc = r.headers["location"]
        assert loc.startswith(redirect_uri + "?"), loc
        q = parse_qs(urlsplit(loc).query)
        assert q["state"] == [state]
        return Authorized(q["code"][0], state, verifier, loc)


def exchange(
    issuer: str, client_id: str, redirect_uri: str, auth: Authorized, **extra: str
) -> httpx.Response:
    return httpx.post(
        f"{issuer}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": redirect_uri,
            "code_verifier": auth.verifier,
            "client_id": client_id,
            **extra,
        },
        timeout=30,
    )


def exchange_landing(
    issuer: str, client_id: str, redirect_uri: str, landed: str, state: str, verifier: str
) -> httpx.Response:
    """The token response for the redirect a real browser landed on (its state checked)."""
    q = parse_qs(urlsplit(landed).query)
    assert q["state"] == [state], landed
    return exchange(
        issuer, client_id, redirect_uri, Authorized(q["code"][0], state, verifier, landed)
    )


def sign_in_with_totp(page: Any, username: str, password: str, totp_secret: str) -> None:
    """In a real browser (a Playwright page on the login form): password, then a TOTP code."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#connexion button[type=submit]")
    page.wait_for_selector("#code")
    page.fill("#code", fresh_totp(totp_secret))
    page.click("#totp button[type=submit]")
