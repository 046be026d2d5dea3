"""Rate limits of the login and token endpoints: a sliding window of attempts per key (the
caller's address), in memory, per worker process. Over the limit → 429 with Retry-After."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from hygie.fhir.outcome import FhirError


class RateLimiter:
    def __init__(self, limit: int, window: int, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Count one attempt; the seconds to wait when over the limit (the attempt is then not
        counted), else None."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._hits.clear()  # a flood of addresses: start over rather than grow
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return None

    def check(self, key: str) -> None:
        wait = self.retry_after(key)
        if wait is not None:
            raise FhirError(
                429,
                f"Too many requests; retry in {wait} s",
                "throttled",
                headers={"Retry-After": str(wait)},
            )
