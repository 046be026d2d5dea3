"""Parameter keys: the signed 64-bit hash stored in every index row's `param` column."""

from __future__ import annotations

from functools import lru_cache
from hashlib import blake2b


@lru_cache(maxsize=8192)
def param_key(rtype: str, code: str) -> int:
    """Stable key of "<ResourceType>.<code>" (blake2b, 8 bytes, signed big-endian)."""
    digest = blake2b(f"{rtype}.{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=8192)
def contained_key(reference_key: int, inner_key: int) -> int:
    """Key of the rows a contained resource's parameter `inner_key` gives its container,
    through the container's reference parameter `reference_key` (index.contained_rows)."""
    digest = blake2b(f"contained:{reference_key}:{inner_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
