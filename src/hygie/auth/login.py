"""The authorization endpoint and its login pages: password, then a second factor (TOTP or
WebAuthn) for professionals, the patient in context when the app asks for one (a representative
of several patients, a professional: patient_picker.py), then a code back
to the app (authorization code flow, PKCE S256 required).

State between pages lives in `auth_requests` (one row per authorization request, 10 minutes),
bound to the browser by the `hygie_login` cookie and protected by a CSRF token that every form
and JSON call repeats. A completed login leaves a provider session (`hygie_session` cookie), so
a second authorization request from the same browser skips the password (single sign-on).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from hygie.access import scopes as smart
from hygie.auth import accounts, clients, events, tokens, totp, webauthn_ceremony
from hygie.auth import patient_picker as picker
from hygie.auth.accounts import Account
from hygie.auth.webutil import (
    cookies,
    form,
    json,
    json_body,
    message,
    oauth_error,
    page,
    query,
    redirect,
    set_cookie,
)
from hygie.rest.http import Request, Response
from hygie.store.context import CLIENT, PATIENT, PRACTITIONER, REPRESENTATIVE

if TYPE_CHECKING:
    from hygie.auth.provider import AuthLayer

REQUEST_TTL = 600
LOGIN_COOKIE = "hygie_login"
SESSION_COOKIE = "hygie_session"
BAD_LOGIN = "Identifiant ou mot de passe incorrect."


class LoginFlow:
    def __init__(self, layer: AuthLayer) -> None:
        self.layer = layer
        self.backend = layer.backend
        from hygie.auth.federation import FederationFlow

        self.federation = FederationFlow(layer, self)
        self.routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/auth/authorize"): self.authorize,
            ("POST", "/auth/authorize"): self.authorize,
            ("POST", "/auth/login"): self.password,
            ("POST", "/auth/totp"): self.totp,
            ("POST", "/auth/webauthn/options"): self.webauthn_options,
            ("POST", "/auth/webauthn/verify"): self.webauthn_verify,
            ("POST", "/auth/patient"): self.choose_patient,
            ("POST", "/auth/federation/start"): self.federation.start,
            ("GET", "/auth/federation/callback"): self.federation.callback,
        }
        from hygie.auth.account_pages import AccountPages

        self.account_pages = AccountPages(layer, self)
        self.routes.update(self.account_pages.routes())

    def route(self, method: str, path: str) -> Callable[[Request], Response] | None:
        if method == "HEAD":
            method = "GET"
        return self.routes.get((method, path))

    # -- /auth/authorize -----------------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        p = query(req) if req.method == "GET" else form(req)
        client = clients.get(self.backend, p.get("client_id", ""))
        if client is None or client.revoked:
            return message("Application inconnue", "Cette application n’est pas enregistrée.")
        redirect_uri = p.get("redirect_uri") or (
            client.redirect_uris[0] if len(client.redirect_uris) == 1 else ""
        )
        if redirect_uri not in client.redirect_uris:
            # never redirect to an unregistered address (RFC 6749 §4.1.2.1)
            return message(
                "Adresse de retour invalide", "L’adresse de retour n’est pas enregistrée."
            )
        state = p.get("state")

        def fail(error: str, description: str) -> Response:
            return redirect(
                _with_query(redirect_uri, error=error, error_description=description, state=state)
            )

        if p.get("response_type") != "code":
            return fail("unsupported_response_type", "Only response_type=code is supported")
        if not p.get("code_challenge") or p.get("code_challenge_method") != "S256":
            return fail("invalid_request", "PKCE is required: code_challenge with method S256")
        aud = p.get("aud")
        if aud and aud.rstrip("/") != self.layer.fhir_base(req):
            return fail(
                "invalid_request",
                f"Unknown audience '{aud}': this server is {self.layer.fhir_base(req)}",
            )
        params = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": p.get("scope", ""),
            "state": state,
            "nonce": p.get("nonce"),
            "code_challenge": p["code_challenge"],
        }
        # OpenID Connect Core 3.1.2.1: prompt (none | login; consent and select_account have
        # nothing to show here: applications are registered by the operator) and max_age
        prompt = set((p.get("prompt") or "").split())
        if "none" in prompt and len(prompt) > 1:
            return fail("invalid_request", "prompt=none cannot be combined with other values")
        max_age = p.get("max_age")
        if max_age is not None and not max_age.isdigit():
            return fail("invalid_request", "max_age must be a number of seconds")
        # single sign-on: an existing provider session skips the login pages, unless the
        # client asks for a new login or the last one is older than max_age
        session = self.session(req)
        account = accounts.by_id(self.backend, session["account"]) if session else None
        if account is not None and account.disabled:
            account = None
        if session is not None and max_age is not None:
            if time.time() - int(session["auth_time"]) > int(max_age):
                account = None
        if "none" in prompt:
            if account is None:
                return fail("login_required", "The user is not signed in (prompt=none)")
            if self._needs_patient_choice(account, params["scope"]):
                return fail("interaction_required", "The user must choose a patient")
        rid, csrf, binding = self._new_request(req, params)
        cookie = set_cookie(
            LOGIN_COOKIE, binding, secure=self.layer.secure_cookies(req), max_age=REQUEST_TTL
        )
        if account is not None and "login" not in prompt:
            assert session is not None
            resp = self.complete(
                req, rid, account, session["amr"], session["acr"], new_session=False
            )
            # the binding cookie too: a representative may still have a patient to choose
            resp.cookies = [*(resp.cookies or []), cookie]
            return resp
        return self.login_page(rid, csrf, client.name, cookies=[cookie])

    @staticmethod
    def _needs_patient_choice(account: Account, scope: str) -> bool:
        """A representative of several patients, or a professional asking for a patient in
        context (SMART `launch/patient`: the picker of a standalone launch)."""
        if account.kind == PRACTITIONER:
            return "launch/patient" in smart.split(scope)
        return (
            account.kind == REPRESENTATIVE
            and _wants_patient(scope)
            and len(account.represented) > 1
        )

    def login_page(
        self, rid: str, csrf: str, client_name: str | None, status: int = 200, **extra: Any
    ) -> Response:
        fed = self.layer.settings.federation
        return page(
            "login.html",
            status,
            rid=rid,
            csrf=csrf,
            client_name=client_name,
            federation_label=fed.label if fed else None,
            **extra,
        )

    def _new_request(self, req: Request, params: dict[str, Any]) -> tuple[str, str, str]:
        rid, csrf, binding = (secrets.token_urlsafe(16) for _ in range(3))
        with self.backend.write() as cur:
            cur.execute("DELETE FROM auth_requests WHERE expires < ?", (int(time.time()),))
            cur.execute(
                "INSERT INTO auth_requests (id, params, csrf, binding, expires) VALUES (?, ?, ?, ?, ?)",
                (
                    rid,
                    orjson.dumps(params).decode(),
                    csrf,
                    tokens.digest(binding),
                    int(time.time()) + REQUEST_TTL,
                ),
            )
        return rid, csrf, binding

    def pending(self, req: Request, rid: str | None, csrf: str | None) -> dict[str, Any] | None:
        """The authorization request of a form post, when its CSRF token and browser binding
        are right."""
        if not rid or not csrf:
            return None
        row = self.backend.read_one(
            "SELECT params, csrf, binding, account, stage, challenge, expires, fed_verifier,"
            " fed_nonce FROM auth_requests WHERE id = ?",
            (rid,),
        )
        if row is None or row[6] < time.time():
            return None
        binding = cookies(req).get(LOGIN_COOKIE, "")
        if not hmac.compare_digest(row[1], csrf) or not hmac.compare_digest(
            row[2], tokens.digest(binding)
        ):
            return None
        return {
            "id": rid,
            "params": orjson.loads(row[0]),
            "csrf": row[1],
            "account": row[3],
            "stage": row[4],
            "challenge": row[5],
            "fed_verifier": row[7],
            "fed_nonce": row[8],
        }

    def _update_request(self, rid: str, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.backend.write() as cur:
            cur.execute(f"UPDATE auth_requests SET {cols} WHERE id = ?", (*values.values(), rid))

    def _expired(self) -> Response:
        return message(
            "Session expirée",
            "Votre demande de connexion a expiré ou n’est pas valide : reprenez depuis l’application.",
        )

    # -- password ------------------------------------------------------------------------------
    def password(self, req: Request) -> Response:
        f = form(req)
        pend = self.pending(req, f.get("rid"), f.get("csrf"))
        if pend is None:
            return self._expired()
        client_name = _client_name(self.backend, pend["params"]["client_id"])
        wait = self.layer.login_limiter.retry_after(req.client or "?")
        if wait is not None:
            resp = self.login_page(
                pend["id"],
                pend["csrf"],
                client_name,
                429,
                error=f"Trop de tentatives : réessayez dans {wait} secondes.",
            )
            resp.headers["Retry-After"] = str(wait)
            return resp
        username = f.get("username", "").strip()
        account = accounts.by_username(self.backend, username)
        ok = accounts.verify_password_of(account, f.get("password", ""))
        if account is not None and accounts.is_locked(account):
            self.layer.emit(
                events.LOGIN_FAILURE,
                req,
                user=account.id,
                username=username,
                detail={"reason": "locked"},
            )
            return self.login_page(
                pend["id"],
                pend["csrf"],
                client_name,
                403,
                username=username,
                error="Compte temporairement verrouillé après trop d’échecs. Réessayez plus tard.",
            )
        if account is None or not ok or account.disabled:
            if account is not None and not account.disabled:
                self._failure(req, account, "bad-password")
            else:
                self.layer.emit(
                    events.LOGIN_FAILURE,
                    req,
                    username=username,
                    detail={"reason": "unknown-user" if account is None else "disabled"},
                )
            return self.login_page(
                pend["id"], pend["csrf"], client_name, 401, username=username, error=BAD_LOGIN
            )
        if account.requires_second_factor or accounts.webauthn_credentials(
            self.backend, account.id
        ):
            self._update_request(pend["id"], account=account.id, stage="mfa")
            return self.second_factor_page(pend["id"], pend["csrf"], account)
        accounts.record_success(self.backend, account.id)
        return self.complete(req, pend["id"], account, ["pwd"], tokens.ACR_PASSWORD)

    def _failure(self, req: Request, account: Account, reason: str) -> None:
        limit, seconds = self.layer.settings.lockout
        locked = accounts.record_failure(self.backend, account.id, limit, seconds)
        self.layer.emit(
            events.LOGIN_FAILURE,
            req,
            user=account.id,
            username=account.username,
            actor=account.fhir_user,
            detail={"reason": reason},
        )
        if locked:
            self.layer.emit(
                events.LOCKOUT,
                req,
                user=account.id,
                username=account.username,
                actor=account.fhir_user,
                detail={"seconds": seconds},
            )

    def second_factor_page(
        self, rid: str, csrf: str, account: Account, status: int = 200, error: str | None = None
    ) -> Response:
        creds = accounts.webauthn_credentials(self.backend, account.id)
        return page(
            "second_factor.html",
            status,
            rid=rid,
            csrf=csrf,
            has_totp=account.totp_secret is not None,
            has_webauthn=bool(creds),
            error=error,
        )

    def _mfa_pending(
        self, req: Request, rid: str | None, csrf: str | None
    ) -> tuple[dict, Account] | None:
        pend = self.pending(req, rid, csrf)
        if pend is None or pend["stage"] != "mfa" or not pend["account"]:
            return None
        account = accounts.by_id(self.backend, pend["account"])
        if account is None or account.disabled:
            return None
        return pend, account

    # -- TOTP ----------------------------------------------------------------------------------
    def totp(self, req: Request) -> Response:
        f = form(req)
        found = self._mfa_pending(req, f.get("rid"), f.get("csrf"))
        if found is None:
            return self._expired()
        pend, account = found
        wait = self.layer.login_limiter.retry_after(req.client or "?")
        if wait is not None:
            resp = self.second_factor_page(
                pend["id"],
                pend["csrf"],
                account,
                429,
                f"Trop de tentatives : réessayez dans {wait} secondes.",
            )
            resp.headers["Retry-After"] = str(wait)
            return resp
        if accounts.is_locked(account):
            return self.second_factor_page(
                pend["id"],
                pend["csrf"],
                account,
                403,
                "Compte temporairement verrouillé après trop d’échecs.",
            )
        step = None
        if account.totp_secret:
            step = totp.matching_step(
                account.totp_secret, f.get("code", ""), account.totp_last_step
            )
        if step is None or not accounts.use_totp_step(self.backend, account.id, step):
            self._failure(req, account, "bad-totp")
            return self.second_factor_page(
                pend["id"], pend["csrf"], account, 401, "Code incorrect ou déjà utilisé."
            )
        accounts.record_success(self.backend, account.id)
        return self.complete(req, pend["id"], account, ["pwd", "otp"], tokens.ACR_MFA)

    # -- WebAuthn ------------------------------------------------------------------------------
    def webauthn_options(self, req: Request) -> Response:
        b = json_body(req)
        found = self._mfa_pending(req, b.get("rid"), b.get("csrf"))
        if found is None:
            return oauth_error("invalid_request", "Demande de connexion expirée", 400)
        pend, account = found
        creds = [c[0] for c in accounts.webauthn_credentials(self.backend, account.id)]
        if not creds:
            return oauth_error("invalid_request", "Aucune clé de sécurité enregistrée", 400)
        options, challenge = webauthn_ceremony.authentication_options(self.layer.issuer(req), creds)
        self._update_request(pend["id"], challenge=challenge)
        return json(orjson.loads(options))

    def webauthn_verify(self, req: Request) -> Response:
        b = json_body(req)
        found = self._mfa_pending(req, b.get("rid"), b.get("csrf"))
        if found is None or not found[0]["challenge"]:
            return oauth_error("invalid_request", "Demande de connexion expirée", 400)
        pend, account = found
        self._update_request(pend["id"], challenge=None)  # a challenge is used once
        cred = b.get("credential") or {}
        stored = {c[0]: c for c in accounts.webauthn_credentials(self.backend, account.id)}
        match = stored.get(str(cred.get("id", "")))
        try:
            if match is None:
                raise ValueError("unknown credential")
            count = webauthn_ceremony.verify_authentication(
                self.layer.issuer(req), cred, pend["challenge"], match[1], match[2]
            )
        except Exception:
            self._failure(req, account, "bad-webauthn")
            return oauth_error("access_denied", "Clé de sécurité refusée", 401)
        accounts.update_sign_count(self.backend, match[0], count)
        accounts.record_success(self.backend, account.id)
        resp = self.complete(req, pend["id"], account, ["pwd", "hwk"], tokens.ACR_MFA)
        # the page's script follows the redirect itself
        return json({"redirect": resp.headers["Location"]}, 200) if resp.status == 303 else resp

    # -- the patient in context (a representative of several patients, a professional) --------
    def choose_patient(self, req: Request) -> Response:
        f = form(req)
        pend = self.pending(req, f.get("rid"), f.get("csrf"))
        if pend is None or pend["stage"] != "patient" or not pend["account"]:
            return self._expired()
        account = accounts.by_id(self.backend, pend["account"])
        if account is None:
            return self._expired()
        chosen = f.get("patient", "")
        if not chosen:  # the name filter of the picker
            return self._picker(pend["id"], pend["csrf"], account, f.get("name", ""))
        if not picker.may_choose(self.layer.repo, account, chosen):
            return self._expired()
        session = self.session(req)
        amr, acr = (session["amr"], session["acr"]) if session else (["pwd"], tokens.ACR_PASSWORD)
        return self._issue_code(req, pend, account, amr, acr, chosen.split("/", 1)[1], [])

    def _picker(self, rid: str, csrf: str, account: Account, name: str = "") -> Response:
        patients, more = picker.shown(self.layer.repo, account, name)
        return page(
            "choose_patient.html",
            rid=rid,
            csrf=csrf,
            patients=patients,
            more=more,
            query=name,
            searchable=account.kind == PRACTITIONER,
        )

    # -- completion ----------------------------------------------------------------------------
    def complete(
        self,
        req: Request,
        rid: str,
        account: Account,
        amr: list[str],
        acr: str,
        *,
        new_session: bool = True,
    ) -> Response:
        """The user is authenticated: open a provider session, then issue the code (or ask which
        patient a representative acts for)."""
        set_cookies: list[str] = []
        if new_session:
            sid = secrets.token_urlsafe(32)
            now = int(time.time())
            with self.backend.write() as cur:
                cur.execute("DELETE FROM auth_sessions WHERE expires < ?", (now,))
                cur.execute(
                    "INSERT INTO auth_sessions (id_hash, account, amr, acr, csrf, auth_time, expires)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        tokens.digest(sid),
                        account.id,
                        orjson.dumps(amr).decode(),
                        acr,
                        secrets.token_urlsafe(16),
                        now,
                        now + self.layer.settings.session_ttl,
                    ),
                )
            set_cookies.append(
                set_cookie(
                    SESSION_COOKIE,
                    sid,
                    secure=self.layer.secure_cookies(req),
                    max_age=self.layer.settings.session_ttl,
                )
            )
            self.layer.emit(
                events.LOGIN_SUCCESS,
                req,
                user=account.id,
                username=account.username,
                actor=account.fhir_user,
                detail={"amr": amr},
            )
        row = self.backend.read_one("SELECT params, csrf FROM auth_requests WHERE id = ?", (rid,))
        if row is None:
            return self._expired()
        pend = {"id": rid, "params": orjson.loads(row[0]), "csrf": row[1]}
        wants_patient = _wants_patient(pend["params"]["scope"])
        if self._needs_patient_choice(account, pend["params"]["scope"]):
            self._update_request(rid, account=account.id, stage="patient")
            resp = self._picker(rid, row[1], account)
            resp.cookies = set_cookies or None
            return resp
        patient = None
        if wants_patient:
            if account.kind == PATIENT and account.patient:
                patient = account.patient.split("/", 1)[1]
            elif account.kind == REPRESENTATIVE and account.represented:
                patient = account.represented[0].split("/", 1)[1]
        return self._issue_code(req, pend, account, amr, acr, patient, set_cookies)

    def _issue_code(
        self,
        req: Request,
        pend: dict,
        account: Account,
        amr: list[str],
        acr: str,
        patient: str | None,
        set_cookies: list[str],
    ) -> Response:
        params = pend["params"]
        client = clients.get(self.backend, params["client_id"])
        if client is None or client.revoked:
            return message("Application inconnue", "Cette application n’est plus enregistrée.")
        scope = grantable(
            smart.split(params["scope"]), client.scope, account.kind, patient is not None
        )
        with self.backend.write() as cur:
            cur.execute("DELETE FROM auth_requests WHERE id = ?", (pend["id"],))
        session = self.session(req)
        code = tokens.new_code(
            self.backend,
            client_id=client.client_id,
            account_id=account.id,
            redirect_uri=params["redirect_uri"],
            scope=" ".join(sorted(scope)),
            challenge=params["code_challenge"],
            nonce=params.get("nonce"),
            patient=patient,
            amr=amr,
            acr=acr,
            auth_time=session["auth_time"] if session else int(time.time()),
            ttl=self.layer.settings.code_ttl,
        )
        return redirect(
            _with_query(params["redirect_uri"], code=code, state=params.get("state")),
            set_cookies or None,
        )

    # -- the provider session ------------------------------------------------------------------
    def session(self, req: Request) -> dict[str, Any] | None:
        sid = cookies(req).get(SESSION_COOKIE)
        if not sid:
            return None
        row = self.backend.read_one(
            "SELECT account, amr, acr, csrf, auth_time, expires FROM auth_sessions WHERE id_hash = ?",
            (tokens.digest(sid),),
        )
        if row is None or row[5] < time.time():
            return None
        return {
            "account": row[0],
            "amr": orjson.loads(row[1]),
            "acr": row[2],
            "csrf": row[3],
            "auth_time": row[4],
            "id_hash": tokens.digest(sid),
        }


def _wants_patient(scope: str) -> bool:
    requested = smart.split(scope)
    return "launch/patient" in requested or any(s.startswith("patient/") for s in requested)


def grantable(
    requested: frozenset[str], allowed: frozenset[str], kind: str, has_patient: bool
) -> frozenset[str]:
    """The scopes granted: those asked for that this server supports, that the client is
    registered for (when it lists any), and that fit the caller's kind (no system/ scope for a
    person; patient/ scopes only with a patient in context)."""
    out = set()
    for s in requested:
        if not smart.supported(s) or (allowed and s not in allowed and not _covered(s, allowed)):
            continue
        if s.startswith("system/") and kind != CLIENT:
            continue
        if s.startswith(("user/", "patient/", "launch")) and kind == CLIENT:
            continue
        if s.startswith("patient/") and not has_patient:
            continue
        if s == "launch/patient" and not has_patient:
            continue
        out.add(s)
    return frozenset(out)


def _covered(scope: str, allowed: frozenset[str]) -> bool:
    """A resource scope within one of the client's registered scopes (same context, type or
    wildcard, fewer permissions)."""
    want = smart.parse(scope)
    if want is None:
        return False
    for a in allowed:
        try:
            have = smart.parse(a)
        except smart.ScopeError:
            continue
        if (
            have is not None
            and have.query is None
            and have.context == want.context
            and have.rtype in ("*", want.rtype)
            and want.permissions <= have.permissions
        ):
            return True
    return False


def _client_name(backend: Any, client_id: str) -> str | None:
    c = clients.get(backend, client_id)
    return c.name if c else None


def _with_query(uri: str, **params: str | None) -> str:
    q = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{q}"


__all__ = ["LoginFlow", "grantable", "PRACTITIONER"]
