"""The signed-in user's page of the provider: enrol a WebAuthn security key, log out.

Protected by the provider session cookie and its CSRF token (bound to the session)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from hygie.auth import accounts, webauthn_ceremony
from hygie.auth.webutil import (
    form,
    json,
    json_body,
    message,
    oauth_error,
    page,
    redirect,
    set_cookie,
)
from hygie.rest.http import Request, Response

if TYPE_CHECKING:
    from hygie.auth.login import LoginFlow
    from hygie.auth.provider import AuthLayer


class AccountPages:
    def __init__(self, layer: AuthLayer, flow: LoginFlow) -> None:
        self.layer = layer
        self.flow = flow
        self.backend = layer.backend

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {
            ("GET", "/auth/account"): self.show,
            ("POST", "/auth/account/webauthn/options"): self.register_options,
            ("POST", "/auth/account/webauthn/verify"): self.register_verify,
            ("POST", "/auth/logout"): self.logout,
        }

    def _session(
        self, req: Request, csrf: str | None = None
    ) -> tuple[dict[str, Any], accounts.Account] | None:
        session = self.flow.session(req)
        if session is None:
            return None
        if csrf is not None and not hmac.compare_digest(session["csrf"], csrf):
            return None
        account = accounts.by_id(self.backend, session["account"])
        if account is None or account.disabled:
            return None
        return session, account

    def show(self, req: Request) -> Response:
        found = self._session(req)
        if found is None:
            return message(
                "Non connecté",
                "Connectez-vous depuis une application pour gérer votre compte.",
                401,
            )
        session, account = found
        return page(
            "account.html",
            display=account.display or account.username,
            username=account.username,
            has_totp=account.totp_secret is not None,
            credentials=len(accounts.webauthn_credentials(self.backend, account.id)),
            csrf=session["csrf"],
        )

    def register_options(self, req: Request) -> Response:
        found = self._session(req, json_body(req).get("csrf", ""))
        if found is None:
            return oauth_error("access_denied", "Session expirée", 401)
        session, account = found
        # enrolling a new factor requires a session that already used two factors (or a
        # first enrolment for an account with none)
        has_factor = account.totp_secret or accounts.webauthn_credentials(self.backend, account.id)
        if has_factor and len(session["amr"]) < 2:
            return oauth_error("access_denied", "Reconnectez-vous avec votre second facteur", 403)
        existing = [c[0] for c in accounts.webauthn_credentials(self.backend, account.id)]
        options, challenge = webauthn_ceremony.registration_options(
            self.layer.issuer(req), account.id, account.username, account.display, existing
        )
        # the pending challenge, in the database (the verify call may reach another worker)
        rid = "reg-" + session["id_hash"]
        with self.backend.write() as cur:
            cur.execute("DELETE FROM auth_requests WHERE id = ?", (rid,))
            cur.execute(
                "INSERT INTO auth_requests (id, params, csrf, binding, challenge, expires)"
                " VALUES (?, '{}', '', '', ?, ?)",
                (rid, challenge, int(time.time()) + 300),
            )
        return json(orjson.loads(options))

    def register_verify(self, req: Request) -> Response:
        body = json_body(req)
        found = self._session(req, body.get("csrf", ""))
        if found is None:
            return oauth_error("access_denied", "Session expirée", 401)
        session, account = found
        rid = "reg-" + session["id_hash"]
        with self.backend.write() as cur:
            row = cur.fetchone("SELECT challenge, expires FROM auth_requests WHERE id = ?", (rid,))
            cur.execute("DELETE FROM auth_requests WHERE id = ?", (rid,))
        challenge = row[0] if row and row[1] > time.time() else None
        if challenge is None:
            return oauth_error("invalid_request", "Aucun enregistrement en cours", 400)
        try:
            cid, key, count = webauthn_ceremony.verify_registration(
                self.layer.issuer(req), body.get("credential") or {}, challenge
            )
        except Exception:
            return oauth_error("invalid_request", "Enregistrement de la clé refusé", 400)
        accounts.add_webauthn_credential(self.backend, account.id, cid, key, count)
        return json({"credentials": len(accounts.webauthn_credentials(self.backend, account.id))})

    def logout(self, req: Request) -> Response:
        found = self._session(req, form(req).get("csrf", ""))
        if found is not None:
            with self.backend.write() as cur:
                cur.execute("DELETE FROM auth_sessions WHERE id_hash = ?", (found[0]["id_hash"],))
        gone = set_cookie("hygie_session", "", secure=self.layer.secure_cookies(req), max_age=0)
        if found is None:
            return message("Déconnexion", "Vous n’étiez pas connecté.", 200)
        resp = message("Déconnexion", "Vous êtes déconnecté.", 200)
        resp.cookies = [gone]
        return resp


__all__ = ["AccountPages", "redirect"]
