"""Parameter keys: the signed 64-bit hash stored in every index row's `param` column."""

from __future__ import annotations

from functools import lru_cache
from hashlib import blake2b


@lru_cache(maxsize=8192)
def param_key(rtype: str, code: str) -> int:
    """Stable key of "<ResourceType>.<code>" (blake2b, 8 bytes, signed big-endian)."""
    digest = blake2b(f"{rtype}.{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
