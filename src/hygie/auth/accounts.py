"""Accounts: professionals, patients, legal representatives (and their login state).

An account points to the FHIR resource that is the user (`fhir_user`: Practitioner/…,
Patient/…, RelatedPerson/…); those resources live in the FHIR store and are created through the
Repository (`identities.py`), never here.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import orjson

from hygie.auth.passwords import hash_password
from hygie.store.base import Backend, Cursor
from hygie.store.context import PATIENT, PRACTITIONER, REPRESENTATIVE

KINDS = (PRACTITIONER, PATIENT, REPRESENTATIVE)

_COLS = (
    "id, username, kind, display, password_hash, totp_secret, totp_last_step, fhir_user, rpps,"
    " adeli, profession, specialty, organization, patient, represented, failed, locked_until,"
    " disabled"
)


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    kind: str
    display: str | None
    password_hash: str | None
    totp_secret: str | None
    totp_last_step: int
    fhir_user: str | None
    rpps: str | None
    adeli: str | None
    profession: str | None
    specialty: str | None
    organization: str | None
    patient: str | None  # Patient/… for a patient account
    represented: tuple[str, ...]  # Patient/… a representative acts for
    failed: int
    locked_until: int
    disabled: bool

    @property
    def requires_second_factor(self) -> bool:
        """Professionals always log in with two factors; others when they enrolled TOTP (or
        a security key: the login checks `webauthn_credentials` too)."""
        return self.kind == PRACTITIONER or self.totp_secret is not None


def _row(row: tuple | None) -> Account | None:
    if row is None:
        return None
    vals = list(row)
    vals[14] = tuple(orjson.loads(vals[14] or "[]"))
    vals[17] = bool(vals[17])
    return Account(*vals)


def by_username(backend: Backend, username: str) -> Account | None:
    return _row(
        backend.read_one(f"SELECT {_COLS} FROM auth_accounts WHERE username = ?", (username,))
    )


def by_id(backend: Backend, account_id: str) -> Account | None:
    return _row(backend.read_one(f"SELECT {_COLS} FROM auth_accounts WHERE id = ?", (account_id,)))


def by_rpps(backend: Backend, rpps: str) -> Account | None:
    return _row(
        backend.read_one(
            f"SELECT {_COLS} FROM auth_accounts WHERE rpps = ? AND kind = ?", (rpps, PRACTITIONER)
        )
    )


def create(
    backend: Backend,
    *,
    username: str,
    kind: str,
    password: str | None,
    display: str | None = None,
    fhir_user: str | None = None,
    totp_secret: str | None = None,
    rpps: str | None = None,
    adeli: str | None = None,
    profession: str | None = None,
    specialty: str | None = None,
    organization: str | None = None,
    patient: str | None = None,
    represented: tuple[str, ...] = (),
) -> Account:
    if kind not in KINDS:
        raise ValueError(f"Unknown account kind '{kind}': one of {', '.join(KINDS)}")
    if by_username(backend, username) is not None:
        raise ValueError(f"An account named '{username}' already exists")
    account_id = secrets.token_hex(8)
    with backend.write() as cur:
        cur.execute(
            "INSERT INTO auth_accounts (id, username, kind, display, password_hash, totp_secret,"
            " fhir_user, rpps, adeli, profession, specialty, organization, patient, represented,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                account_id,
                username,
                kind,
                display,
                hash_password(password) if password else None,
                totp_secret,
                fhir_user,
                rpps,
                adeli,
                profession,
                specialty,
                organization,
                patient,
                orjson.dumps(list(represented)).decode(),
                int(time.time()),
            ),
        )
    found = by_id(backend, account_id)
    assert found is not None
    return found


def set_totp(backend: Backend, account_id: str, secret: str | None) -> None:
    with backend.write() as cur:
        cur.execute(
            "UPDATE auth_accounts SET totp_secret = ?, totp_last_step = 0 WHERE id = ?",
            (secret, account_id),
        )


def use_totp_step(backend: Backend, account_id: str, step: int) -> bool:
    """Record a used TOTP step; False when that step (or a later one) was already used, even by
    a concurrent request (replay protection)."""

    def job(cur: Cursor) -> bool:
        row = cur.fetchone("SELECT totp_last_step FROM auth_accounts WHERE id = ?", (account_id,))
        if row is None or row[0] >= step:
            return False
        cur.execute("UPDATE auth_accounts SET totp_last_step = ? WHERE id = ?", (step, account_id))
        return True

    with backend.write() as cur:
        return job(cur)


def record_failure(backend: Backend, account_id: str, limit: int, lock_seconds: int) -> bool:
    """Count a failed login; lock the account when the limit is reached. True if it locked now."""
    now = int(time.time())
    with backend.write() as cur:
        row = cur.fetchone("SELECT failed FROM auth_accounts WHERE id = ?", (account_id,))
        failed = (row[0] if row else 0) + 1
        locked = failed >= limit
        cur.execute(
            "UPDATE auth_accounts SET failed = ?, locked_until = ? WHERE id = ?",
            (0 if locked else failed, now + lock_seconds if locked else 0, account_id),
        )
    return locked


def record_success(backend: Backend, account_id: str) -> None:
    with backend.write() as cur:
        cur.execute(
            "UPDATE auth_accounts SET failed = 0, locked_until = 0 WHERE id = ? AND failed > 0",
            (account_id,),
        )


def is_locked(account: Account) -> bool:
    return account.locked_until > time.time()


# -- WebAuthn credentials ------------------------------------------------------------------------
def webauthn_credentials(backend: Backend, account_id: str) -> list[tuple[str, str, int]]:
    """(credential id, public key, sign count), both base64url, of an account."""
    with backend.read() as cur:
        rows = cur.fetchall(
            "SELECT credential_id, public_key, sign_count FROM auth_webauthn WHERE account = ?"
            " ORDER BY created",
            (account_id,),
        )
    return [(r[0], r[1], int(r[2])) for r in rows]


def add_webauthn_credential(
    backend: Backend, account_id: str, credential_id: str, public_key: str, sign_count: int
) -> None:
    with backend.write() as cur:
        cur.execute(
            "INSERT INTO auth_webauthn (credential_id, account, public_key, sign_count, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (credential_id, account_id, public_key, sign_count, int(time.time())),
        )


def update_sign_count(backend: Backend, credential_id: str, sign_count: int) -> None:
    with backend.write() as cur:
        cur.execute(
            "UPDATE auth_webauthn SET sign_count = ? WHERE credential_id = ?",
            (sign_count, credential_id),
        )


def verify_password_of(account: Account | None, password: str) -> bool:
    """Check a password; an unknown account costs the same time (no user enumeration)."""
    from hygie.auth.passwords import verify_password

    return verify_password(account.password_hash if account else None, password)


def update(backend: Backend, account_id: str, **values: object) -> None:
    """Set some columns of an account (operator commands: password, disabled, lock, TOTP)."""
    allowed = {
        "password_hash",
        "disabled",
        "failed",
        "locked_until",
        "totp_secret",
        "totp_last_step",
    }
    if not values or set(values) - allowed:
        raise ValueError(f"Cannot update {sorted(set(values) - allowed)}")
    cols = ", ".join(f"{k} = ?" for k in values)
    with backend.write() as cur:
        cur.execute(f"UPDATE auth_accounts SET {cols} WHERE id = ?", (*values.values(), account_id))
        if values.get("disabled") or "password_hash" in values:
            # a disabled account, or a new password, ends its sessions and refresh tokens
            cur.execute("DELETE FROM auth_sessions WHERE account = ?", (account_id,))
            cur.execute(
                "UPDATE auth_refresh SET state = 'revoked' WHERE account = ?", (account_id,)
            )
