"""OAuth clients: confidential system clients (client credentials, `system/…` scopes) and
SMART apps (authorization code with PKCE; public, or confidential with a secret).

A client secret is shown once at creation and stored as SHA-256 (it is a 256-bit random
value: a slow hash adds nothing); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from hygie.access import scopes as smart
from hygie.store.base import Backend


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_hash: str | None  # None: a public client (PKCE only)
    redirect_uris: tuple[str, ...]
    scope: frozenset[str]  # what the client may be granted at most
    revoked: bool
    created: int
    jwks: dict | None = None  # public keys for private_key_jwt (SMART Backend Services)

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None or self.jwks is not None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    backend: Backend,
    name: str,
    scope: str,
    *,
    redirect_uris: tuple[str, ...] = (),
    public: bool = False,
    client_id: str | None = None,
    secret: str | None = None,
    jwks: dict | None = None,
) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (None for a public client, or for a client
    that authenticates with a signed JWT from its own keys: `jwks`, private_key_jwt)."""
    for s in smart.split(scope):
        if not smart.supported(s):
            raise ValueError(f"Unsupported or malformed scope '{s}'")
    client_id = client_id or f"{_slug(name)}-{secrets.token_hex(6)}"
    if jwks is not None:
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not keys or any("d" in k for k in keys):
            raise ValueError("jwks must be a JWK Set of public keys")
    secret = None if (public or jwks is not None) else (secret or secrets.token_urlsafe(32))
    with backend.write() as cur:
        cur.execute(
            "INSERT INTO auth_clients (client_id, name, secret_hash, redirect_uris, scope, jwks,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                client_id,
                name,
                _hash(secret) if secret else None,
                orjson.dumps(list(redirect_uris)).decode(),
                " ".join(sorted(smart.split(scope))),
                orjson.dumps(jwks).decode() if jwks is not None else None,
                int(time.time()),
            ),
        )
    found = get(backend, client_id)
    assert found is not None
    return found, secret


def _slug(name: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return out[:32] or "client"


def _row(row: tuple | None) -> Client | None:
    if row is None:
        return None
    cid, name, sh, uris, scope, revoked, created, jwks = row
    return Client(
        cid,
        name,
        sh,
        tuple(orjson.loads(uris)),
        smart.split(scope),
        bool(revoked),
        int(created),
        orjson.loads(jwks) if jwks else None,
    )


_COLS = "client_id, name, secret_hash, redirect_uris, scope, revoked, created, jwks"


def get(backend: Backend, client_id: str) -> Client | None:
    return _row(
        backend.read_one(f"SELECT {_COLS} FROM auth_clients WHERE client_id = ?", (client_id,))
    )


def all_clients(backend: Backend) -> list[Client]:
    with backend.read() as cur:
        rows = cur.fetchall(f"SELECT {_COLS} FROM auth_clients ORDER BY created, client_id")
    return [c for c in map(_row, rows) if c is not None]


def revoke(backend: Backend, client_id: str) -> bool:
    with backend.write() as cur:
        found = cur.fetchone("SELECT revoked FROM auth_clients WHERE client_id = ?", (client_id,))
        if found is None:
            return False
        cur.execute("UPDATE auth_clients SET revoked = 1 WHERE client_id = ?", (client_id,))
        cur.execute("UPDATE auth_refresh SET state = 'revoked' WHERE client_id = ?", (client_id,))
    return True


def authenticate(backend: Backend, client_id: str, secret: str | None) -> Client | None:
    """The client when `secret` is right (or the client is public and gives none)."""
    client = get(backend, client_id)
    if client is None or client.revoked:
        return None
    if client.jwks is not None:
        return None  # authenticates with a signed assertion only (token_endpoint.py)
    if client.secret_hash is None:
        return client if secret is None else None
    if secret is None or not hmac.compare_digest(client.secret_hash, _hash(secret)):
        return None
    return client
