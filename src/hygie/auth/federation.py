"""Federated login in the style of Pro Santé Connect (PSC), the national OpenID provider of
French health professionals: the login page offers "Se connecter avec Pro Santé Connect"; the
browser goes through the external provider (authorization code with PKCE S256, nonce), and the
callback maps the external identity onto a local professional account:

- the subject claim (`SubjectNameID` by default, from the ID token or userinfo) holds the
  national id IDNPS, "8" + RPPS for an RPPS professional → the account with that RPPS;
- the external `acr` (eidas1… at PSC) → our auth level (settings `acr_levels`).

No account is created on the fly: an operator provisions professional accounts (`hygie user
create`), as a directory import would. PKCE and the authorization URL come from Authlib; the
back-channel calls (token, JWKS, userinfo) are plain httpx requests.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from hygie.auth import accounts, events, tokens
from hygie.auth.webutil import form, message, query, redirect
from hygie.rest.http import Request, Response
from hygie.store.context import AUTH_MFA

if TYPE_CHECKING:
    from hygie.auth.login import LoginFlow
    from hygie.auth.provider import AuthLayer

TIMEOUT = 10.0
DISCOVERY_TTL = 3600


class FederationFlow:
    def __init__(self, layer: AuthLayer, flow: LoginFlow) -> None:
        self.layer = layer
        self.flow = flow
        self.backend = layer.backend
        self._discovery: tuple[float, dict[str, Any]] | None = None

    def discovery(self) -> dict[str, Any]:
        fed = self.layer.settings.federation
        assert fed is not None
        if self._discovery is None or self._discovery[0] < time.monotonic():
            r = httpx.get(f"{fed.issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
            r.raise_for_status()
            meta = r.json()
            if meta.get("issuer", "").rstrip("/") != fed.issuer:
                raise ValueError("the external provider's discovery names another issuer")
            self._discovery = (time.monotonic() + DISCOVERY_TTL, meta)
        return self._discovery[1]

    def _redirect_uri(self, req: Request) -> str:
        return f"{self.layer.issuer(req)}/auth/federation/callback"

    def start(self, req: Request) -> Response:
        """POST from the login page: off to the external provider."""
        if self.layer.settings.federation is None:
            return message("Indisponible", "La connexion fédérée n’est pas configurée.", 404)
        f = form(req)
        pend = self.flow.pending(req, f.get("rid"), f.get("csrf"))
        if pend is None:
            return self.flow._expired()
        try:
            meta = self.discovery()
        except Exception:
            return message(
                "Service indisponible",
                "Pro Santé Connect ne répond pas ; réessayez plus tard.",
                502,
            )
        state, verifier, nonce = (secrets.token_urlsafe(32) for _ in range(3))
        self.flow._update_request(
            pend["id"], fed_state=tokens.digest(state), fed_verifier=verifier, fed_nonce=nonce
        )
        fed = self.layer.settings.federation
        uri = add_params_to_uri(
            meta["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", fed.client_id),
                ("redirect_uri", self._redirect_uri(req)),
                ("scope", fed.scope),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", create_s256_code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return redirect(uri)

    def callback(self, req: Request) -> Response:
        fed = self.layer.settings.federation
        if fed is None:
            return message("Indisponible", "La connexion fédérée n’est pas configurée.", 404)
        q = query(req)
        row = self.backend.read_one(
            "SELECT id, csrf FROM auth_requests WHERE fed_state = ?",
            (tokens.digest(q.get("state", "")),),
        )
        pend = self.flow.pending(req, row[0], row[1]) if row else None
        if pend is None:
            return self.flow._expired()
        self.flow._update_request(pend["id"], fed_state=None)  # a state is used once
        if "error" in q or "code" not in q:
            self.layer.emit(
                events.LOGIN_FAILURE,
                req,
                detail={"reason": "federation-" + q.get("error", "no-code")},
            )
            return message(
                "Connexion refusée", "Pro Santé Connect n’a pas authentifié l’utilisateur.", 401
            )
        try:
            meta = self.discovery()
            r = httpx.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": q["code"],
                    "redirect_uri": self._redirect_uri(req),
                    "code_verifier": pend["fed_verifier"],
                },
                auth=(fed.client_id, fed.client_secret),  # client_secret_basic
                timeout=TIMEOUT,
            )
            r.raise_for_status()
            token = r.json()
            claims = self._id_token_claims(meta, str(token.get("id_token", "")), pend["fed_nonce"])
            subject = claims.get(fed.subject_claim)
            if subject is None and meta.get("userinfo_endpoint"):
                r = httpx.get(
                    meta["userinfo_endpoint"],
                    headers={"Authorization": f"Bearer {token['access_token']}"},
                    timeout=TIMEOUT,
                )
                r.raise_for_status()
                info = r.json()
                if info.get("sub") != claims.get("sub"):
                    raise ValueError("userinfo is about another subject")
                subject = info.get(fed.subject_claim)
        except Exception:
            self.layer.emit(events.LOGIN_FAILURE, req, detail={"reason": "federation-exchange"})
            return message(
                "Connexion refusée", "La réponse de Pro Santé Connect n’est pas valide.", 401
            )
        rpps = _rpps_of(str(subject or ""))
        account = accounts.by_rpps(self.backend, rpps) if rpps else None
        if account is None or account.disabled:
            self.layer.emit(
                events.LOGIN_FAILURE,
                req,
                detail={"reason": "federation-no-account", "idnps": subject},
            )
            return message(
                "Compte inconnu",
                "Aucun compte Hygie n’est associé à cette identité professionnelle.",
                403,
            )
        level = fed.acr_levels.get(str(claims.get("acr")), "password")
        mfa = level == AUTH_MFA
        amr = ["fed", "mfa"] if mfa else ["fed"]
        return self.flow.complete(
            req, pend["id"], account, amr, tokens.ACR_MFA if mfa else tokens.ACR_PASSWORD
        )

    def _id_token_claims(
        self, meta: dict[str, Any], id_token: str, nonce: str | None
    ) -> dict[str, Any]:
        fed = self.layer.settings.federation
        assert fed is not None
        jwks = httpx.get(meta["jwks_uri"], timeout=TIMEOUT).json()
        claims = jwt.decode(
            id_token, KeySet.import_key_set(jwks), algorithms=["ES256", "RS256", "PS256"]
        ).claims
        now = time.time()
        aud = claims.get("aud")
        if claims.get("iss", "").rstrip("/") != fed.issuer:
            raise ValueError("id_token from another issuer")
        if aud != fed.client_id and not (isinstance(aud, list) and fed.client_id in aud):
            raise ValueError("id_token for another client")
        if float(claims.get("exp", 0)) < now - 30:
            raise ValueError("id_token expired")
        if nonce and claims.get("nonce") != nonce:
            raise ValueError("id_token nonce mismatch")
        return claims


def _rpps_of(idnps: str) -> str | None:
    """IDNPS "8" + RPPS (11 digits) → the RPPS; other national ids are not mapped."""
    if len(idnps) == 12 and idnps.startswith("8") and idnps[1:].isdigit():
        return idnps[1:]
    return None
