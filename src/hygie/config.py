"""Runtime configuration, from CLI options or HYGIE_* environment variables (workers of the
ASGI server are separate processes: they read the environment the CLI sets)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DB = "sqlite:///./data/hygie.db"


@dataclass(frozen=True)
class Config:
    db: str = DEFAULT_DB
    max_body: int = 16 * 1024 * 1024
    public_base: str | None = None

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            db=os.environ.get("HYGIE_DB", DEFAULT_DB),
            max_body=int(os.environ.get("HYGIE_MAX_BODY", 16 * 1024 * 1024)),
            public_base=os.environ.get("HYGIE_PUBLIC_BASE") or None,
        )

    def to_env(self) -> dict[str, str]:
        env = {"HYGIE_DB": self.db, "HYGIE_MAX_BODY": str(self.max_body)}
        if self.public_base:
            env["HYGIE_PUBLIC_BASE"] = self.public_base
        return env
