"""Rate limits of the login and token endpoints, per caller address, shared by every worker
process of the database (a limit per process would multiply with the workers). Over the limit
→ 429 with Retry-After.

A sliding-window counter: the attempts of the current fixed window plus those of the previous
one weighted by how much of it the sliding window still covers (the estimate Cloudflare and
others use: within a few percent of a true sliding log, two rows per key). One short write
transaction per attempt, in `auth_rate`; rows older than the previous window are dropped as
new windows begin.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from hygie.fhir.outcome import FhirError
from hygie.store.base import Backend, Cursor

SWEEP_CHANCE = 0.01  # share of new windows that also sweep the other addresses' old rows


class RateLimiter:
    def __init__(
        self,
        backend: Backend,
        bucket: str,
        limit: int,
        window: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.bucket = bucket
        self.limit = limit
        self.window = window
        self.clock = clock

    def retry_after(self, key: str) -> int | None:
        """Count one attempt; the seconds to wait when over the limit (the attempt is then not
        counted), else None."""
        now = self.clock()
        win = int(now // self.window)
        into = (now - win * self.window) / self.window  # how far into the current window

        def job(cur: Cursor) -> int | None:
            rows = dict(
                cur.fetchall(
                    "SELECT win, hits FROM auth_rate WHERE bucket = ? AND key = ? AND win >= ?",
                    (self.bucket, key, win - 1),
                )
            )
            current, previous = int(rows.get(win, 0)), int(rows.get(win - 1, 0))
            if current + previous * (1 - into) >= self.limit:
                # when the previous window's weight has fallen enough (or the window ends)
                needed = 1 - (self.limit - current) / previous if previous else 1.0
                if needed < 1:  # `into` at which the estimate fits under the limit again
                    return max(1, math.ceil((needed - into) * self.window))
                return max(1, math.ceil((1 - into) * self.window))
            if not rows.get(win):  # a new window for this address: drop its older ones,
                # and now and then those of every address (addresses that never came back)
                every = random.random() < SWEEP_CHANCE
                cur.execute(
                    "DELETE FROM auth_rate WHERE bucket = ? AND win < ?"
                    + ("" if every else " AND key = ?"),
                    (self.bucket, win - 1) if every else (self.bucket, win - 1, key),
                )
            cur.execute(
                "INSERT INTO auth_rate (bucket, key, win, hits) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (bucket, key, win) DO UPDATE SET hits = auth_rate.hits + 1",
                (self.bucket, key, win),
            )
            return None

        return self.backend.run_write(job)

    def check(self, key: str) -> None:
        wait = self.retry_after(key)
        if wait is not None:
            raise FhirError(
                429,
                f"Too many requests; retry in {wait} s",
                "throttled",
                headers={"Retry-After": str(wait)},
            )
