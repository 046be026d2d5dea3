"""Settings of the authentication layer, from HYGIE_* environment variables (server workers are
separate processes: they read the environment `hygie serve` sets)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import orjson


def _pair(name: str, default: tuple[int, int]) -> tuple[int, int]:
    """'COUNT/SECONDS' → (count, seconds)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    return int(count), int(seconds or 60)


@dataclass(frozen=True)
class Federation:
    """An external OpenID provider in the style of Pro Santé Connect."""

    issuer: str  # e.g. https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet
    client_id: str
    client_secret: str
    scope: str = "openid scope_all"
    label: str = "Se connecter avec Pro Santé Connect"
    # the claim holding the national professional id (IDNPS: "8" + RPPS), read from the
    # ID token or, when absent there, from userinfo
    subject_claim: str = "SubjectNameID"
    # the external `acr` → our auth level (PSC: eidas1 is a CPS card or e-CPS: two factors)
    acr_levels: dict[str, str] = field(
        default_factory=lambda: {"eidas1": "mfa", "eidas2": "mfa", "eidas3": "mfa", "mfa": "mfa"}
    )


@dataclass(frozen=True)
class AuthSettings:
    issuer: str | None = None  # the public URL of the provider (default: from the request)
    access_ttl: int = 900  # seconds
    refresh_ttl: int = 8 * 3600
    code_ttl: int = 60
    session_ttl: int = 8 * 3600  # the login session (cookie) of the provider
    lockout: tuple[int, int] = (5, 900)  # failures before lockout, lockout seconds
    login_rate: tuple[int, int] = (20, 60)  # login attempts per address per window (seconds)
    token_rate: tuple[int, int] = (60, 60)  # token requests per address per window
    cache_size: int = 10_000  # verified access tokens kept in memory
    revocation_refresh: float = 1.0  # seconds between reloads of the revocation list
    federation: Federation | None = None
    cors_origins: str | None = None  # comma-separated origins of browser SMART apps, or "*"

    @classmethod
    def from_env(cls) -> AuthSettings:
        fed = None
        if os.environ.get("HYGIE_PSC_ISSUER"):
            acr = os.environ.get("HYGIE_PSC_ACR_LEVELS")
            fed = Federation(
                issuer=os.environ["HYGIE_PSC_ISSUER"].rstrip("/"),
                client_id=os.environ.get("HYGIE_PSC_CLIENT_ID", ""),
                client_secret=os.environ.get("HYGIE_PSC_CLIENT_SECRET", ""),
                scope=os.environ.get("HYGIE_PSC_SCOPE", "openid scope_all"),
                subject_claim=os.environ.get("HYGIE_PSC_SUBJECT_CLAIM", "SubjectNameID"),
                **({"acr_levels": orjson.loads(acr)} if acr else {}),
            )
        return cls(
            issuer=(os.environ.get("HYGIE_ISSUER") or "").rstrip("/") or None,
            access_ttl=int(os.environ.get("HYGIE_ACCESS_TTL", 900)),
            refresh_ttl=int(os.environ.get("HYGIE_REFRESH_TTL", 8 * 3600)),
            lockout=_pair("HYGIE_LOCKOUT", (5, 900)),
            login_rate=_pair("HYGIE_LOGIN_RATE", (20, 60)),
            token_rate=_pair("HYGIE_TOKEN_RATE", (60, 60)),
            federation=fed,
            cors_origins=os.environ.get("HYGIE_CORS_ORIGINS") or None,
        )
