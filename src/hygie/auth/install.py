"""Attach the authentication layer to a FhirApp (called by `rest.app.create_app` unless the
server is explicitly open)."""

from __future__ import annotations

from typing import Any

from hygie.auth.provider import AuthLayer
from hygie.auth.schema import ensure_schema
from hygie.auth.settings import AuthSettings


def install_auth(app: Any, settings: AuthSettings | None = None) -> AuthLayer:
    ensure_schema(app.repo.backend)
    layer = AuthLayer(app.repo, settings or AuthSettings.from_env(), app.settings.public_base)
    app.auth = layer
    return layer


def prepare(db_url: str) -> None:
    """Create the tables and the first signing key once, before server workers start."""
    from hygie.auth.keys import KeyRing
    from hygie.store import open_backend

    backend = open_backend(db_url)
    try:
        ensure_schema(backend)
        KeyRing(backend)
    finally:
        backend.close()
