"""Password hashing with Argon2id (argon2-cffi, RFC 9106 parameters by default)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that timing does not tell.
_DUMMY = _hasher.hash("hygie-no-such-user")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("A password has at least 8 characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
