"""Bearer token → Context: the one place where a FHIR request's token is verified.

Checks: the JWS signature (one of our keys, ES256 only), `exp` and `nbf` (30 s leeway for
clock skew), `iss` (this provider), `aud` (this FHIR base URL), and revocation. A verified
token is cached (the whole token as the key) until it expires (bounded: the oldest entries go first), so
a read-by-id pays one dictionary look-up, not an ECDSA verification. Revocations made in this
process apply at once; those made by another worker within `revocation_refresh` seconds (the
revocation list is reloaded that often, one small query).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from hygie.auth import tokens
from hygie.auth.keys import KeyRing
from hygie.auth.settings import AuthSettings
from hygie.fhir.outcome import FhirError
from hygie.store.base import Backend
from hygie.store.context import (
    AUTH_NONE,
    CLIENT,
    PATIENT,
    PRACTITIONER,
    REPRESENTATIVE,
    Context,
)

LEEWAY = 30
TOKEN_KINDS = frozenset({CLIENT, PRACTITIONER, PATIENT, REPRESENTATIVE})


def unauthorized(description: str, *, error: bool = True) -> FhirError:
    """401 with the RFC 6750 challenge: `error="invalid_token"` when a token was presented."""
    challenge = 'Bearer realm="hygie"'
    if error:
        challenge += f', error="invalid_token", error_description="{description}"'
    return FhirError(401, description, "login", headers={"WWW-Authenticate": challenge})


class TokenVerifier:
    def __init__(self, backend: Backend, keys: KeyRing, settings: AuthSettings) -> None:
        self.backend = backend
        self.keys = keys
        self.settings = settings
        self._cache: OrderedDict[str, tuple[int, str, Context]] = OrderedDict()
        self._lock = threading.Lock()
        self._revoked: set[str] = set()
        self._revoked_at = 0.0

    def context(
        self, authorization: str | None, issuer: str, audience: str, source: str | None
    ) -> Context:
        if not authorization:
            raise unauthorized("This server requires a bearer access token", error=False)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("The Authorization header is not a bearer token")
        now = time.time()
        self._refresh_revocations(now)
        # keyed by the whole token, never by its signature alone: a valid signature spliced
        # onto other claims must miss the cache and fail verification
        hit = self._cache.get(token)
        if hit is not None:
            exp, jti, ctx = hit
            if exp + LEEWAY < now:
                raise unauthorized("The access token has expired")
            if jti in self._revoked:
                raise unauthorized("The access token has been revoked")
            if ctx.attributes.get("aud") != audience:
                raise unauthorized("The access token is not for this server (audience)")
            return ctx if ctx.source == source else replace(ctx, source=source)
        claims = self._verify(token, issuer, audience, now)
        ctx = build_context(claims, source)
        with self._lock:
            self._cache[token] = (int(claims["exp"]), str(claims["jti"]), ctx)
            while len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)
        return ctx

    def _verify(self, token: str, issuer: str, audience: str, now: float) -> dict[str, Any]:
        try:
            claims = self.keys.decode(token)
        except Exception:  # malformed, foreign key, bad signature: all the same to the client
            raise unauthorized(
                "The access token is malformed or its signature is invalid"
            ) from None
        for name in ("exp", "jti", "iss", "aud", "sub"):
            if name not in claims:
                raise unauthorized(f"The access token lacks the '{name}' claim")
        try:
            exp, nbf = float(claims["exp"]), float(claims.get("nbf", 0))
        except (TypeError, ValueError):
            raise unauthorized("The access token's exp or nbf is not a number") from None
        if exp + LEEWAY < now:
            raise unauthorized("The access token has expired")
        if nbf - LEEWAY > now:
            raise unauthorized("The access token is not valid yet")
        if claims["iss"] != issuer:
            raise unauthorized("The access token was issued by another provider")
        aud = claims["aud"]
        if aud != audience and not (isinstance(aud, list) and audience in aud):
            raise unauthorized("The access token is not for this server (audience)")
        if claims["jti"] in self._revoked:
            raise unauthorized("The access token has been revoked")
        kind = (claims.get("hygie") or {}).get("kind", CLIENT)
        if kind not in TOKEN_KINDS:  # never the server's own power ("system") from a token
            raise unauthorized("The access token names no valid kind of caller")
        claims["aud"] = audience
        return claims

    def revoked_now(self, jti: str) -> None:
        """A revocation made in this process: effective at once here."""
        self._revoked.add(jti)

    def _refresh_revocations(self, now: float) -> None:
        if now - self._revoked_at < self.settings.revocation_refresh:
            return
        self._revoked_at = now
        # our own revocations are written to the database before `revoked_now`: reloading
        # keeps them
        self._revoked = tokens.revoked_jtis(self.backend)


def build_context(claims: dict[str, Any], source: str | None) -> Context:
    """The Context of a verified access token's claims."""
    ident = claims.get("hygie") or {}
    kind = ident.get("kind", CLIENT)
    fhir_user = claims.get("fhirUser")
    if fhir_user:
        actor = "/".join(str(fhir_user).rstrip("/").split("/")[-2:])  # Practitioner/123
    elif kind == CLIENT:
        actor = f"Device/{claims.get('client_id') or claims['sub']}"
    else:
        actor = f"urn:hygie:account:{claims['sub']}"
    patient = claims.get("patient")
    return Context(
        actor=actor,
        kind=kind,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        attributes={"aud": claims["aud"], "acr": claims.get("acr"), "amr": claims.get("amr")},
        display=ident.get("display"),
        user=str(claims["sub"]),
        client_id=claims.get("client_id"),
        auth_level=auth_level(claims),
        profession=ident.get("profession"),
        specialty=ident.get("specialty"),
        rpps=ident.get("rpps"),
        organization=ident.get("organization"),
        patient=f"Patient/{patient}" if patient else None,
        represented=frozenset(ident.get("represented") or ()),
        session=str(claims["jti"]),
        source=source,
    )


def auth_level(claims: dict[str, Any]) -> str:
    """From `acr` (our own values, or a federated level already mapped at login) and `amr`."""
    level = tokens.ACR_LEVELS.get(str(claims.get("acr")))
    if level is not None:
        if level == tokens.AUTH_MFA or tokens.SECOND_FACTORS & set(claims.get("amr") or ()):
            return tokens.AUTH_MFA
        return level
    return AUTH_NONE
