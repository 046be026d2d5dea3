"""The token endpoint (RFC 6749 §3.2: authorization_code with PKCE, refresh_token with rotation,
client_credentials), token revocation (RFC 7009) and userinfo (OpenID Connect Core §5.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any

from hygie.access import scopes as smart
from hygie.auth import accounts, client_assertion, clients, events, tokens
from hygie.auth.clients import Client
from hygie.auth.login import grantable
from hygie.auth.webutil import basic_credentials, form, json, oauth_error
from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request, Response
from hygie.store.context import CLIENT, PRACTITIONER

if TYPE_CHECKING:
    from hygie.auth.provider import AuthLayer

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TokenEndpoint:
    def __init__(self, layer: AuthLayer) -> None:
        self.layer = layer
        self.backend = layer.backend

    def _client(self, req: Request, f: dict[str, str]) -> tuple[Client | None, Response | None]:
        """Authenticate the client: client_secret_basic, client_secret_post, private_key_jwt,
        or a public client naming itself (PKCE then protects the code)."""
        if f.get("client_assertion_type") == client_assertion.ASSERTION_TYPE:
            client = client_assertion.verify(
                self.backend, f.get("client_assertion", ""), f"{self.layer.issuer(req)}/auth/token"
            )
            if client is None or (f.get("client_id") and f["client_id"] != client.client_id):
                return None, oauth_error("invalid_client", "Client assertion rejected", 401)
            return client, None
        basic = basic_credentials(req)
        if basic is not None:
            cid, secret = basic
        else:
            cid, secret = f.get("client_id", ""), f.get("client_secret")
        client = clients.authenticate(self.backend, cid, secret) if cid else None
        if client is None:
            headers = {"WWW-Authenticate": 'Basic realm="hygie"'} if basic else {}
            return None, oauth_error("invalid_client", "Client authentication failed", 401, headers)
        return client, None

    def _limited(self, req: Request) -> Response | None:
        wait = self.layer.token_limiter.retry_after(req.client or "?")
        if wait is None:
            return None
        return oauth_error(
            "slow_down", f"Too many requests; retry in {wait} s", 429, {"Retry-After": str(wait)}
        )

    # -- /auth/token -----------------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        if (limited := self._limited(req)) is not None:
            return limited
        f = form(req)
        client, error = self._client(req, f)
        if client is None:
            return error  # type: ignore[return-value]
        grant_type = f.get("grant_type")
        if grant_type == "authorization_code":
            return self._code(req, f, client)
        if grant_type == "refresh_token":
            return self._refresh(req, f, client)
        if grant_type == "client_credentials":
            return self._client_credentials(req, f, client)
        return oauth_error("unsupported_grant_type", f"Unsupported grant_type '{grant_type}'")

    def _code(self, req: Request, f: dict[str, str], client: Client) -> Response:
        rec = tokens.take_code(self.backend, f.get("code", ""))
        if rec is None or rec["client_id"] != client.client_id:
            return oauth_error("invalid_grant", "The code is invalid, expired or already used")
        if f.get("redirect_uri", rec["redirect_uri"]) != rec["redirect_uri"]:
            return oauth_error(
                "invalid_grant", "redirect_uri differs from the authorization request"
            )
        verifier = f.get("code_verifier", "")
        if not (43 <= len(verifier) <= 128) or not hmac.compare_digest(
            s256(verifier), rec["challenge"]
        ):
            return oauth_error("invalid_grant", "PKCE verification failed (code_verifier)")
        account = accounts.by_id(self.backend, rec["account"])
        if account is None or account.disabled:
            return oauth_error("invalid_grant", "The account is no longer active")
        grant = tokens.Grant(
            client.client_id,
            rec["scope"],
            account,
            rec["patient"],
            tuple(rec["amr"]),
            rec["acr"],
            rec["auth_time"],
        )
        return self._issue(req, grant, nonce=rec["nonce"])

    def _refresh(self, req: Request, f: dict[str, str], client: Client) -> Response:
        rec = tokens.rotate_refresh(self.backend, f.get("refresh_token", ""), client.client_id)
        if isinstance(rec, str):
            if rec == "reused":
                self.layer.emit(
                    events.TOKEN_REVOKED,
                    req,
                    client_id=client.client_id,
                    detail={"reason": "refresh-token-reuse"},
                )
            return oauth_error("invalid_grant", "The refresh token is invalid, expired or revoked")
        account = accounts.by_id(self.backend, rec["account"])
        if account is None or account.disabled:
            return oauth_error("invalid_grant", "The account is no longer active")
        scope = rec["scope"]
        if f.get("scope"):  # a narrower scope may be asked for (RFC 6749 §6)
            asked = smart.split(f["scope"])
            if not asked <= smart.split(scope):
                return oauth_error("invalid_scope", "A refresh cannot widen the scope")
            scope = " ".join(sorted(asked))
        grant = tokens.Grant(
            client.client_id,
            scope,
            account,
            rec["patient"],
            tuple(rec["amr"]),
            rec["acr"],
            rec["auth_time"],
        )
        return self._issue(req, grant, family=rec["family"])

    def _client_credentials(self, req: Request, f: dict[str, str], client: Client) -> Response:
        if not client.confidential:
            return oauth_error(
                "unauthorized_client", "client_credentials needs a confidential client"
            )
        asked = smart.split(f.get("scope")) or client.scope
        scope = grantable(asked, client.scope, CLIENT, False)
        if not scope or not all(s in client.scope or _within(s, client) for s in scope):
            return oauth_error("invalid_scope", "No requested scope is granted to this client")
        grant = tokens.Grant(client.client_id, " ".join(sorted(scope)))
        return self._issue(req, grant)

    def _issue(
        self, req: Request, grant: tokens.Grant, nonce: str | None = None, family: str | None = None
    ) -> Response:
        s = self.layer.settings
        issuer, aud = self.layer.issuer(req), self.layer.fhir_base(req)
        claims = tokens.access_claims(grant, issuer, aud, s.access_ttl)
        body: dict[str, Any] = {
            "access_token": self.layer.keys.sign(claims, typ="at+jwt"),
            "token_type": "Bearer",
            "expires_in": s.access_ttl,
            "scope": grant.scope,
        }
        granted = smart.split(grant.scope)
        if grant.account is not None:
            if "openid" in granted:
                body["id_token"] = tokens.id_token(
                    self.layer.keys, grant, issuer, aud, nonce, s.access_ttl
                )
            if granted & {"offline_access", "online_access"}:
                body["refresh_token"] = tokens.new_refresh(
                    self.backend, grant, s.refresh_ttl, family
                )
            if grant.patient:
                body["patient"] = grant.patient
                body["need_patient_banner"] = grant.account.kind == PRACTITIONER
        self.layer.emit(
            events.TOKEN_ISSUED,
            req,
            client_id=grant.client_id,
            user=grant.account.id if grant.account else None,
            actor=grant.account.fhir_user if grant.account else None,
            detail={"jti": claims["jti"], "scope": grant.scope},
        )
        return json(body, 200, NO_STORE)

    # -- /auth/revoke (RFC 7009) ---------------------------------------------------------------
    def revoke(self, req: Request) -> Response:
        if (limited := self._limited(req)) is not None:
            return limited
        f = form(req)
        client, error = self._client(req, f)
        if client is None:
            return error  # type: ignore[return-value]
        token = f.get("token", "")
        hint = f.get("token_type_hint")
        done = False
        if hint != "access_token":
            done = tokens.revoke_refresh(self.backend, token, client.client_id)
        if not done and token.count(".") == 2:
            try:
                claims = self.layer.keys.decode(token)
            except Exception:
                claims = None
            if claims and claims.get("client_id") == client.client_id and "jti" in claims:
                tokens.revoke_jti(
                    self.backend, str(claims["jti"]), int(claims.get("exp", time.time()))
                )
                self.layer.verifier.revoked_now(str(claims["jti"]))
                done = True
        if done:
            self.layer.emit(
                events.TOKEN_REVOKED,
                req,
                client_id=client.client_id,
                detail={"hint": hint or "unknown"},
            )
        # RFC 7009 §2.2: 200 whether or not the token was valid
        return json({}, 200, NO_STORE)

    # -- /auth/userinfo ------------------------------------------------------------------------
    def userinfo(self, req: Request) -> Response:
        try:
            ctx = self.layer.verifier.context(
                req.header("authorization"),
                self.layer.issuer(req),
                self.layer.fhir_base(req),
                req.client,
            )
        except FhirError as exc:
            return Response(401, b"", exc.headers, None)
        if ctx.kind == CLIENT or ctx.user is None:
            return oauth_error("invalid_token", "No user behind this token", 401)
        account = accounts.by_id(self.backend, ctx.user)
        if account is None:
            return oauth_error("invalid_token", "Unknown account", 401)
        info: dict[str, Any] = {"sub": account.id, "name": account.display or account.username}
        if account.fhir_user:
            info["fhirUser"] = f"{self.layer.fhir_base(req)}/{account.fhir_user}"
        if account.rpps:
            # Pro Santé Connect's claim: the national id (IDNPS) is "8" followed by the RPPS
            info["SubjectNameID"] = f"8{account.rpps}"
        if account.profession:
            info["profession"] = account.profession
        return json(info, 200, NO_STORE)


def _within(scope: str, client: Client) -> bool:
    from hygie.auth.login import _covered

    return _covered(scope, client.scope)
