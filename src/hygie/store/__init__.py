"""Storage: the Repository (the only door to health data) over SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from hygie.store.base import Backend, Cursor
from hygie.store.context import Context, Guard
from hygie.store.history import HistoryQuery
from hygie.store.records import Stored, WriteResult


def open_backend(url: str, **kwargs: Any) -> Backend:
    """Pick the backend from the URL scheme: `sqlite:///path` or `postgresql://…`."""
    if url.startswith(("postgresql://", "postgres://")):
        from hygie.store.postgres import PostgresBackend

        return PostgresBackend(url, **kwargs)
    if url.startswith("sqlite:"):
        from hygie.store.sqlite import SQLiteBackend

        return SQLiteBackend(url, **kwargs)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://…")


def open_repository(url: str, **kwargs: Any) -> Repository:
    from hygie.store.repository import Repository

    return Repository(open_backend(url, **kwargs))


from hygie.store.repository import Repository  # noqa: E402

__all__ = [
    "Backend",
    "Context",
    "Cursor",
    "Guard",
    "HistoryQuery",
    "Repository",
    "Stored",
    "WriteResult",
    "open_backend",
    "open_repository",
]
