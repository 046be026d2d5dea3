"""Runtime configuration, from CLI options or HYGIE_* environment variables (workers of the
ASGI server are separate processes: they read the environment the CLI sets)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DB = "sqlite:///./data/hygie.db"

# Resource types whose access requires a second factor (`Context.auth_level == "mfa"`): the
# shared record (DocumentReference, Binary) and prescriptions (MedicationRequest,
# MedicationDispense). Override with HYGIE_MFA_REQUIRED (comma-separated; empty for none).
# The access policy enforces it (`hygie.access.config.AccessConfig.sensitive`, which the
# access JSON file may also set); `hygie.auth` only reports the level truthfully.
DEFAULT_MFA_REQUIRED = frozenset(
    {"DocumentReference", "Binary", "MedicationRequest", "MedicationDispense"}
)


def mfa_required_types() -> frozenset[str]:
    """The resource types that require two-factor authentication (from the environment)."""
    raw = os.environ.get("HYGIE_MFA_REQUIRED")
    if raw is None:
        return DEFAULT_MFA_REQUIRED
    return frozenset(t.strip() for t in raw.split(",") if t.strip())


@dataclass(frozen=True)
class Config:
    db: str = DEFAULT_DB
    max_body: int = 16 * 1024 * 1024
    public_base: str | None = None
    open: bool = False  # no authentication at all: for benchmarks and development only

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            db=os.environ.get("HYGIE_DB", DEFAULT_DB),
            max_body=int(os.environ.get("HYGIE_MAX_BODY", 16 * 1024 * 1024)),
            public_base=os.environ.get("HYGIE_PUBLIC_BASE") or None,
            open=os.environ.get("HYGIE_OPEN", "") in ("1", "true", "yes"),
        )

    def to_env(self) -> dict[str, str]:
        env = {"HYGIE_DB": self.db, "HYGIE_MAX_BODY": str(self.max_body)}
        if self.public_base:
            env["HYGIE_PUBLIC_BASE"] = self.public_base
        env["HYGIE_OPEN"] = "1" if self.open else "0"
        return env
