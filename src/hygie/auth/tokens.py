"""What the provider hands out: access tokens (signed JWTs), ID tokens, authorization codes,
refresh tokens (rotated, reuse detected), and the revocation list.

Access token claims (RFC 9068 shape, plus SMART's): iss, sub, aud (the FHIR base URL), iat, nbf,
exp, jti, client_id, scope, fhirUser, patient (the launch context, a Patient id), acr, amr,
auth_time, and `hygie` — the caller's identity attributes (kind, RPPS, profession, specialty,
organisation, represented patients), signed with the rest so that verifying a token needs no
database read.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.auth.accounts import Account
from hygie.auth.keys import KeyRing
from hygie.store.base import Backend, Cursor
from hygie.store.context import AUTH_MFA, AUTH_PASSWORD, CLIENT

# Our own `acr` values (the level of the login), and the amr (RFC 8176) that make them.
ACR_MFA = "urn:hygie:acr:mfa"
ACR_PASSWORD = "urn:hygie:acr:password"
ACR_CLIENT = "urn:hygie:acr:client-secret"
ACR_LEVELS = {ACR_MFA: AUTH_MFA, ACR_PASSWORD: AUTH_PASSWORD, ACR_CLIENT: AUTH_PASSWORD}
SECOND_FACTORS = frozenset({"otp", "hwk", "swk", "sc", "mfa"})


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def acr_for(amr: list[str]) -> str:
    return ACR_MFA if SECOND_FACTORS & set(amr) else ACR_PASSWORD


@dataclass(frozen=True)
class Grant:
    """What a token is issued for: an account through a client, or a client alone."""

    client_id: str
    scope: str
    account: Account | None = None
    patient: str | None = None  # Patient id in context
    amr: tuple[str, ...] = ()
    acr: str = ACR_CLIENT
    auth_time: int | None = None


def access_claims(grant: Grant, issuer: str, audience: str, ttl: int) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
        "client_id": grant.client_id,
        "scope": grant.scope,
        "acr": grant.acr,
        "amr": list(grant.amr),
    }
    acc = grant.account
    if acc is None:
        claims["sub"] = grant.client_id
        claims["hygie"] = {"kind": CLIENT}
    else:
        claims["sub"] = acc.id
        if grant.auth_time:
            claims["auth_time"] = grant.auth_time
        if acc.fhir_user:
            claims["fhirUser"] = f"{audience}/{acc.fhir_user}"
        ident = {
            "kind": acc.kind,
            "display": acc.display,
            "rpps": acc.rpps,
            "adeli": acc.adeli,
            "profession": acc.profession,
            "specialty": acc.specialty,
            "organization": acc.organization,
            "represented": list(acc.represented) or None,
        }
        claims["hygie"] = {k: v for k, v in ident.items() if v is not None}
    if grant.patient:
        claims["patient"] = grant.patient
    return claims


def id_token(
    keys: KeyRing, grant: Grant, issuer: str, audience_fhir: str, nonce: str | None, ttl: int
) -> str:
    acc = grant.account
    assert acc is not None
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": acc.id,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + ttl,
        "auth_time": grant.auth_time or now,
        "acr": grant.acr,
        "amr": list(grant.amr),
    }
    if acc.display:
        claims["name"] = acc.display
    if acc.fhir_user:
        claims["fhirUser"] = f"{audience_fhir}/{acc.fhir_user}"
    if nonce:
        claims["nonce"] = nonce
    return keys.sign(claims)


# -- authorization codes -------------------------------------------------------------------------
def new_code(
    backend: Backend,
    *,
    client_id: str,
    account_id: str,
    redirect_uri: str,
    scope: str,
    challenge: str,
    nonce: str | None,
    patient: str | None,
    amr: list[str],
    acr: str,
    auth_time: int,
    ttl: int,
) -> str:
    code = secrets.token_urlsafe(32)
    with backend.write() as cur:
        cur.execute("DELETE FROM auth_codes WHERE expires < ?", (int(time.time()) - 60,))
        cur.execute(
            "INSERT INTO auth_codes (code_hash, client_id, account, redirect_uri, scope, challenge,"
            " nonce, patient, amr, acr, auth_time, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                digest(code),
                client_id,
                account_id,
                redirect_uri,
                scope,
                challenge,
                nonce,
                patient,
                orjson.dumps(amr).decode(),
                acr,
                auth_time,
                int(time.time()) + ttl,
            ),
        )
    return code


def take_code(backend: Backend, code: str) -> dict[str, Any] | None:
    """The code's record, once: a code is single-use (a second use finds nothing)."""
    with backend.write() as cur:
        row = cur.fetchone(
            "SELECT client_id, account, redirect_uri, scope, challenge, nonce, patient, amr, acr,"
            " auth_time, expires, used FROM auth_codes WHERE code_hash = ?",
            (digest(code),),
        )
        if row is None or row[11] or row[10] < time.time():
            return None
        cur.execute("UPDATE auth_codes SET used = 1 WHERE code_hash = ?", (digest(code),))
    keys = ("client_id", "account", "redirect_uri", "scope", "challenge", "nonce", "patient")
    rec = dict(zip(keys, row[:7], strict=True))
    rec["amr"] = orjson.loads(row[7])
    rec["acr"] = row[8]
    rec["auth_time"] = row[9]
    return rec


# -- refresh tokens ------------------------------------------------------------------------------
def new_refresh(backend: Backend, grant: Grant, ttl: int, family: str | None = None) -> str:
    assert grant.account is not None
    token = secrets.token_urlsafe(32)
    with backend.write() as cur:
        cur.execute("DELETE FROM auth_refresh WHERE expires < ?", (int(time.time()) - 60,))
        _insert_refresh(cur, token, family or secrets.token_hex(8), grant, ttl)
    return token


def _insert_refresh(cur: Cursor, token: str, family: str, grant: Grant, ttl: int) -> None:
    assert grant.account is not None
    cur.execute(
        "INSERT INTO auth_refresh (token_hash, family, client_id, account, scope, patient, amr,"
        " acr, auth_time, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            digest(token),
            family,
            grant.client_id,
            grant.account.id,
            grant.scope,
            grant.patient,
            orjson.dumps(list(grant.amr)).decode(),
            grant.acr,
            grant.auth_time or int(time.time()),
            int(time.time()) + ttl,
        ),
    )


def rotate_refresh(backend: Backend, token: str, client_id: str) -> dict[str, Any] | str:
    """Use a refresh token: its record, or an error code. A token used twice means it leaked:
    its whole family (every token rotated from the same login) is revoked."""
    with backend.write() as cur:
        row = cur.fetchone(
            "SELECT family, client_id, account, scope, patient, amr, acr, auth_time, expires, state"
            " FROM auth_refresh WHERE token_hash = ?",
            (digest(token),),
        )
        if row is None:
            return "unknown"
        family, cid, account, scope, patient, amr, acr, auth_time, expires, state = row
        if cid != client_id:
            return "wrong-client"
        if state == "rotated":
            cur.execute("UPDATE auth_refresh SET state = 'revoked' WHERE family = ?", (family,))
            return "reused"
        if state != "active" or expires < time.time():
            return "inactive"
        cur.execute(
            "UPDATE auth_refresh SET state = 'rotated' WHERE token_hash = ?", (digest(token),)
        )
    return {
        "family": family,
        "account": account,
        "scope": scope,
        "patient": patient,
        "amr": orjson.loads(amr),
        "acr": acr,
        "auth_time": auth_time,
    }


def revoke_refresh(backend: Backend, token: str, client_id: str) -> bool:
    """RFC 7009: revoke a refresh token and the family it belongs to."""
    with backend.write() as cur:
        row = cur.fetchone(
            "SELECT family, client_id FROM auth_refresh WHERE token_hash = ?", (digest(token),)
        )
        if row is None or row[1] != client_id:
            return False
        cur.execute("UPDATE auth_refresh SET state = 'revoked' WHERE family = ?", (row[0],))
    return True


# -- revoked access tokens -----------------------------------------------------------------------
def revoke_jti(backend: Backend, jti: str, expires: int) -> None:
    with backend.write() as cur:
        cur.execute("DELETE FROM auth_revoked WHERE expires < ?", (int(time.time()) - 60,))
        cur.execute(
            "INSERT INTO auth_revoked (jti, expires, revoked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (jti) DO NOTHING",
            (jti, expires, int(time.time())),
        )


def revoked_jtis(backend: Backend) -> set[str]:
    """The revoked access tokens not yet expired (expired ones fail on `exp` anyway)."""
    with backend.read() as cur:
        rows = cur.fetchall("SELECT jti FROM auth_revoked WHERE expires > ?", (int(time.time()),))
    return {r[0] for r in rows}
