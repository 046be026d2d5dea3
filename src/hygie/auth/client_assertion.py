"""private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9), as SMART
Backend Services use it: the client signs a short-lived JWT with its own private key; we verify
it with the public keys registered for the client (`hygie client create --jwks FILE`).

Checks: signature (ES384, RS384 — the SMART algorithms — or ES256, RS256), `iss` = `sub` = the
client id, `aud` = our token endpoint, `exp` at most 5 minutes ahead and not past, and `jti`
used once (kept until the assertion expires)."""

from __future__ import annotations

import time

import orjson
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from hygie.auth import clients
from hygie.auth.clients import Client
from hygie.store.base import Backend

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256"]
MAX_LIFETIME = 300
LEEWAY = 30


def verify(backend: Backend, assertion: str, token_endpoint: str) -> Client | None:
    """The client the assertion authenticates, or None."""
    try:
        unverified = orjson.loads(extract_compact(assertion.encode()).payload)
        client = clients.get(backend, str(unverified.get("iss", "")))
        if client is None or client.revoked or client.jwks is None:
            return None
        claims = jwt.decode(
            assertion, KeySet.import_key_set(client.jwks), algorithms=ALGORITHMS
        ).claims
    except Exception:
        return None
    now = time.time()
    aud = claims.get("aud")
    try:
        exp = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return None
    if (
        claims.get("iss") != client.client_id
        or claims.get("sub") != client.client_id
        or not (aud == token_endpoint or (isinstance(aud, list) and token_endpoint in aud))
        or exp < now - LEEWAY
        or exp > now + MAX_LIFETIME + LEEWAY
        or not claims.get("jti")
    ):
        return None
    return client if _first_use(backend, client.client_id, str(claims["jti"]), int(exp)) else None


def _first_use(backend: Backend, client_id: str, jti: str, exp: int) -> bool:
    key = f"assertion:{client_id}:{jti}"
    with backend.write() as cur:
        cur.execute("DELETE FROM auth_revoked WHERE expires < ?", (int(time.time()) - 60,))
        if cur.fetchone("SELECT 1 FROM auth_revoked WHERE jti = ?", (key,)) is not None:
            return False
        cur.execute(
            "INSERT INTO auth_revoked (jti, expires, revoked_at) VALUES (?, ?, ?)",
            (key, exp + LEEWAY, int(time.time())),
        )
    return True
