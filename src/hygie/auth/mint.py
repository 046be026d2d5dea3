"""Mint an access token directly, without the login pages: for benchmarks and tests that need
real tokens of a given account (the same claims and signing key as the provider's). Anyone
able to call this can read the database, so it opens nothing new; it is not exposed over HTTP.

    token = mint_access_token(db_url, "http://127.0.0.1:8080", username="dr.martin",
                              scope="user/*.rs", amr=("pwd", "otp"))
"""

from __future__ import annotations

from hygie.auth import accounts, tokens
from hygie.auth.keys import KeyRing
from hygie.auth.schema import ensure_schema
from hygie.store import open_backend


def mint_access_token(
    db_url: str,
    issuer: str,
    *,
    username: str | None = None,
    client_id: str = "hygie-mint",
    scope: str = "user/*.rs",
    patient: str | None = None,
    amr: tuple[str, ...] = ("pwd", "otp"),
    ttl: int = 3600,
    audience: str | None = None,
) -> str:
    """An access token for the account `username` (or for the client `client_id` alone when no
    username is given), valid at `audience` (default: issuer + /fhir)."""
    backend = open_backend(db_url)
    try:
        ensure_schema(backend)
        keys = KeyRing(backend)
        account = None
        if username is not None:
            account = accounts.by_username(backend, username)
            if account is None:
                raise ValueError(f"No account '{username}'")
        acr = tokens.acr_for(list(amr)) if account is not None else tokens.ACR_CLIENT
        grant = tokens.Grant(client_id, scope, account, patient, tuple(amr) if account else (), acr)
        issuer = issuer.rstrip("/")
        claims = tokens.access_claims(grant, issuer, audience or f"{issuer}/fhir", ttl)
        return keys.sign(claims, typ="at+jwt")
    finally:
        backend.close()
