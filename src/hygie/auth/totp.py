"""Time-based one-time passwords (RFC 6238) with pyotp: 6 digits, 30-second steps, one step of
clock drift accepted each way, and no code accepted twice (the last used step is stored)."""

from __future__ import annotations

import time

import pyotp

DIGITS = 6
STEP = 30
DRIFT = 1  # steps accepted before and after the current one


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str = "Hygie") -> str:
    """The otpauth:// URI an authenticator app enrols from (often shown as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def matching_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step the code belongs to, if valid and newer than `last_step` (replay
    protection: a code, or an older one, is never accepted twice); else None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != DIGITS:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    t = time.time() if now is None else now
    current = int(t // STEP)
    for step in range(current - DRIFT, current + DRIFT + 1):
        if step > last_step and pyotp.utils.strings_equal(totp.at(step * STEP), code):
            return step
    return None
