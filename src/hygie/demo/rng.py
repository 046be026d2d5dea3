"""The random streams of the generator: `random.Random` with faster integer draws.

`randint`, `randrange(n)` and `choice` scale one `random()` float instead of drawing bits in a
loop: three to five times cheaper, which matters at tens of thousands of resources a second.
The bias (at most n / 2**53) is irrelevant for synthetic data; the streams stay deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Stream(random.Random):
    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, n: int) -> int:  # type: ignore[override]  # one-argument form only
        return int(self.random() * n)

    def choice(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]


def stream(key: str) -> Stream:
    """A stream seeded from a key such as `"2026:patient:17"` (hashed with SHA-512 by CPython)."""
    return Stream(key)
