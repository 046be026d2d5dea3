"""The provider's signing keys (ES256, P-256), stored in the database so that every worker
process and every restart signs and verifies with the same keys.

A key is generated once, on first use. `rotate()` adds a new key that signs from then on; the
older ones stay in the JWKS and keep verifying until retired (`retire_before`), so tokens signed
before a rotation remain valid for their lifetime.
"""

from __future__ import annotations

import secrets
import threading
import time

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from hygie.store.base import Backend

ALG = "ES256"


class KeyRing:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._signing: ECKey | None = None
        self._keys: KeySet = KeySet([])
        self._loaded_at = 0.0
        self.load()
        if self._signing is None:
            self.rotate()

    def load(self) -> None:
        with self.backend.read() as cur:
            rows = cur.fetchall(
                "SELECT kid, private_jwk FROM auth_keys WHERE retired IS NULL ORDER BY created, kid"
            )
        keys = [ECKey.import_key(orjson.loads(jwk)) for _, jwk in rows]
        with self._lock:
            self._keys = KeySet(keys)
            self._signing = keys[-1] if keys else None
            self._loaded_at = time.monotonic()

    def rotate(self) -> str:
        """Add a new signing key (`created` in microseconds: the newest signs); returns its kid."""
        kid = f"{int(time.time())}-{secrets.token_hex(4)}"
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": "sig", "alg": ALG})
        with self.backend.write() as cur:
            cur.execute(
                "INSERT INTO auth_keys (kid, alg, private_jwk, created) VALUES (?, ?, ?, ?)",
                (
                    kid,
                    ALG,
                    orjson.dumps(key.as_dict(private=True)).decode(),
                    time.time_ns() // 1000,
                ),
            )
        self.load()
        return kid

    def retire_before(self, kid: str) -> None:
        """Stop trusting every key older than `kid` (after their tokens have expired)."""
        with self.backend.write() as cur:
            cur.execute(
                "UPDATE auth_keys SET retired = ? WHERE retired IS NULL AND kid <> ? AND created <= "
                "(SELECT created FROM auth_keys WHERE kid = ?)",
                (int(time.time()), kid, kid),
            )
        self.load()

    def jwks(self) -> dict:
        return self._keys.as_dict(private=False)

    def sign(self, claims: dict, typ: str = "JWT") -> str:
        key = self._signing
        assert key is not None
        return jwt.encode({"alg": ALG, "kid": key.kid, "typ": typ}, claims, key, algorithms=[ALG])

    def decode(self, token: str) -> dict:
        """The claims of a token signed by one of our keys (signature only: the caller checks
        the claims). Raises JoseError (or ValueError) when it is not ours or malformed."""
        try:
            return jwt.decode(token, self._keys, algorithms=[ALG]).claims
        except JoseError:
            # maybe signed with a key another worker generated since we loaded ours
            if time.monotonic() - self._loaded_at < 5:
                raise
            self.load()
            return jwt.decode(token, self._keys, algorithms=[ALG]).claims
