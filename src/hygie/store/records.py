"""Value types the Repository returns, and the time and id helpers of the write path."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from functools import lru_cache
from typing import Any

import orjson


@dataclass(slots=True)
class Stored:
    """One version of a resource as stored. `content` is compact JSON (None when deleted)."""

    rtype: str
    id: str
    version: int
    last_updated: int  # microseconds since the epoch, UTC
    deleted: bool
    method: str
    content: bytes | None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def instant(self) -> str:
        return format_instant(self.last_updated)

    @property
    def http_date(self) -> str:
        return http_date(self.last_updated // 1_000_000)

    def resource(self) -> dict[str, Any]:
        if self.content is None:
            raise ValueError("a deleted version has no content")
        return orjson.loads(self.content)


@dataclass(slots=True)
class WriteResult:
    """What a write did: `status` is the HTTP status a REST client would get (200/201/204)."""

    stored: Stored | None
    status: int
    outcome: dict[str, Any] | None = None


@lru_cache(maxsize=4096)
def http_date(seconds: int) -> str:
    """RFC 9110 IMF-fixdate, for Last-Modified."""
    return formatdate(seconds, usegmt=True)


def format_instant(us: int) -> str:
    """FHIR instant with millisecond precision, UTC ("2026-11-26T14:30:00.123Z")."""
    dt = datetime.fromtimestamp(us // 1000 / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(us // 1000) % 1000:03d}Z"


class Clock:
    """Millisecond timestamps (stored as µs) that never go backwards within the process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self, after: int = 0) -> int:
        with self._lock:
            t = time.time_ns() // 1_000_000 * 1000
            t = max(t, self._last, after + 1000)
            self._last = t
            return t


def new_id() -> str:
    """A time-ordered UUID (version 7 layout) so new rows land at the end of indexes."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))
