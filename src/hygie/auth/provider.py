"""The OpenID Connect / SMART on FHIR provider inside `hygie serve`, and the token check of the
FHIR API. `install.install_auth` attaches one `AuthLayer` to the FhirApp:

- `owns(path)`: the non-FHIR paths served here (/.well-known/…, /auth/…);
- `public(req)`: FHIR paths open without a token (SMART discovery);
- `context(req)`: bearer token → Context, for every other FHIR request (401 otherwise);
- `site(req)`: the provider's endpoints and login pages (run on the thread pool).

Endpoints: /.well-known/openid-configuration, /auth/jwks, /auth/authorize (login pages:
password, then TOTP or WebAuthn), /auth/token (authorization_code + PKCE S256, refresh_token with
rotation, client_credentials), /auth/revoke (RFC 7009), /auth/userinfo, /auth/account (WebAuthn
enrolment), /auth/federation/… (Pro Santé Connect style), and
/fhir/.well-known/smart-configuration.
"""

from __future__ import annotations

import logging
from typing import Any

from hygie.auth import client_assertion, events, keys, tokens
from hygie.auth.cors import Cors
from hygie.auth.login import LoginFlow
from hygie.auth.ratelimit import RateLimiter
from hygie.auth.settings import AuthSettings
from hygie.auth.token_endpoint import TokenEndpoint
from hygie.auth.verify import TokenVerifier
from hygie.auth.webutil import json, static_file
from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request, Response
from hygie.store import Repository
from hygie.store.context import Context

log = logging.getLogger("hygie.auth")

FHIR_MOUNT = "/fhir"
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "profile",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
]


class AuthLayer:
    def __init__(self, repo: Repository, settings: AuthSettings, public_base: str | None) -> None:
        self.repo = repo
        self.backend = repo.backend
        self.settings = settings
        self.public_base = public_base.rstrip("/") if public_base else None
        self.keys = keys.KeyRing(self.backend)
        self.verifier = TokenVerifier(self.backend, self.keys, settings)
        self.login_limiter = RateLimiter(self.backend, "login", *settings.login_rate)
        self.token_limiter = RateLimiter(self.backend, "token", *settings.token_rate)
        self.login = LoginFlow(self)
        self.token = TokenEndpoint(self)
        self.cors = Cors(settings.cors_origins)

    # -- URLs --------------------------------------------------------------------------------
    def issuer(self, req: Request) -> str:
        """The provider's URL: configured, or derived from the public FHIR base, or from the
        request (the site's requests are parsed with an empty mount)."""
        if self.settings.issuer:
            return self.settings.issuer
        if self.public_base and self.public_base.endswith(FHIR_MOUNT):
            return self.public_base[: -len(FHIR_MOUNT)]
        base = req.base
        return base[: -len(FHIR_MOUNT)] if base.endswith(FHIR_MOUNT) else base

    def fhir_base(self, req: Request) -> str:
        if self.public_base:
            return self.public_base
        base = req.base
        return base if base.endswith(FHIR_MOUNT) else base + FHIR_MOUNT

    def secure_cookies(self, req: Request) -> bool:
        return self.issuer(req).startswith("https://")

    # -- the FhirApp hooks -------------------------------------------------------------------
    @staticmethod
    def owns(path: str) -> bool:
        return path.startswith(("/auth/", "/.well-known/"))

    def preflight(self, req: Request, fhir: bool) -> Response | None:
        """A CORS preflight (OPTIONS) from an allowed origin: answered before anything else."""
        return self.cors.preflight(req, fhir)

    def decorate(self, req: Request, resp: Response, fhir: bool) -> None:
        """CORS headers on a response to an allowed origin."""
        self.cors.decorate(req, resp, fhir)

    def public(self, req: Request) -> Response | None:
        seg = req.segments
        if seg == [".well-known", "smart-configuration"] and req.method in ("GET", "HEAD"):
            return json(self.smart_configuration(req))
        return None

    def context(self, req: Request) -> Context:
        if req.segments == ["metadata"]:
            # the CapabilityStatement is public (clients discover the server before login)
            return Context.system()
        return self.verifier.context(
            req.header("authorization"), self.issuer(req), self.fhir_base(req), req.client
        )

    def site(self, req: Request) -> Response:
        path = "/" + "/".join(req.segments)
        m = req.method
        if path == "/.well-known/openid-configuration" and m in ("GET", "HEAD"):
            return json(self.openid_configuration(req))
        if path == "/auth/jwks" and m in ("GET", "HEAD"):
            return json(self.keys.jwks())
        if path.startswith("/auth/static/") and m in ("GET", "HEAD"):
            found = static_file(path[len("/auth/static/") :])
            if found is not None:
                return found
        if path == "/auth/token" and m == "POST":
            return self.token.token(req)
        if path == "/auth/revoke" and m == "POST":
            return self.token.revoke(req)
        if path == "/auth/userinfo" and m in ("GET", "POST"):
            return self.token.userinfo(req)
        handler = self.login.route(m, path)
        if handler is not None:
            return handler(req)
        raise FhirError(404, f"Nothing at '{path}'", "not-found")

    # -- discovery -----------------------------------------------------------------------------
    def openid_configuration(self, req: Request) -> dict[str, Any]:
        iss = self.issuer(req)
        return {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/auth/authorize",
            "token_endpoint": f"{iss}/auth/token",
            "userinfo_endpoint": f"{iss}/auth/userinfo",
            "revocation_endpoint": f"{iss}/auth/revoke",
            "jwks_uri": f"{iss}/auth/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [keys.ALG],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "token_endpoint_auth_signing_alg_values_supported": client_assertion.ALGORITHMS,
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES_SUPPORTED,
            "claims_supported": ["sub", "name", "fhirUser", "acr", "amr", "auth_time", "nonce"],
            "acr_values_supported": [tokens.ACR_PASSWORD, tokens.ACR_MFA],
            "ui_locales_supported": ["fr-FR"],
        }

    def smart_configuration(self, req: Request) -> dict[str, Any]:
        """SMART App Launch v2 discovery (conformance/well-known, STU 2.2)."""
        iss = self.issuer(req)
        return {
            "issuer": iss,
            "jwks_uri": f"{iss}/auth/jwks",
            "authorization_endpoint": f"{iss}/auth/authorize",
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint": f"{iss}/auth/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": client_assertion.ALGORITHMS,
            "revocation_endpoint": f"{iss}/auth/revoke",
            "userinfo_endpoint": f"{iss}/auth/userinfo",
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "client-confidential-asymmetric",
                "sso-openid-connect",
                "context-standalone-patient",
                "permission-offline",
                "permission-online",
                "permission-patient",
                "permission-user",
                "permission-v1",
                "permission-v2",
                "authorize-post",
            ],
        }

    def emit(self, kind: str, req: Request, **fields: Any) -> None:
        events.emit(events.AuthEvent(kind, source=req.client, **fields))
