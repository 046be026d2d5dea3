"""The authentication tables, beside the FHIR data on the same database (SQLite or PostgreSQL).
Only `hygie.auth` reads or writes them; the core's resource tables are never touched here (the
FHIR resources that accounts point to are created through the Repository).

Times are integer epoch seconds; secrets are stored hashed (passwords with argon2; client
secrets, refresh tokens, codes and session ids with SHA-256: they are random, high-entropy).
"""

from __future__ import annotations

from hygie.store.base import Backend

DDL = [
    """CREATE TABLE IF NOT EXISTS auth_accounts (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        display TEXT,
        password_hash TEXT,
        totp_secret TEXT,
        totp_last_step BIGINT NOT NULL DEFAULT 0,
        fhir_user TEXT,
        rpps TEXT,
        adeli TEXT,
        profession TEXT,
        specialty TEXT,
        organization TEXT,
        patient TEXT,
        represented TEXT NOT NULL DEFAULT '[]',
        failed BIGINT NOT NULL DEFAULT 0,
        locked_until BIGINT NOT NULL DEFAULT 0,
        disabled BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS auth_accounts_rpps ON auth_accounts (rpps)",
    """CREATE TABLE IF NOT EXISTS auth_webauthn (
        credential_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        public_key TEXT NOT NULL,
        sign_count BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS auth_webauthn_account ON auth_webauthn (account)",
    """CREATE TABLE IF NOT EXISTS auth_clients (
        client_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash TEXT,
        redirect_uris TEXT NOT NULL DEFAULT '[]',
        scope TEXT NOT NULL DEFAULT '',
        jwks TEXT,
        revoked BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS auth_requests (
        id TEXT PRIMARY KEY,
        params TEXT NOT NULL,
        csrf TEXT NOT NULL,
        binding TEXT NOT NULL,
        account TEXT,
        stage TEXT NOT NULL DEFAULT 'login',
        challenge TEXT,
        fed_state TEXT,
        fed_verifier TEXT,
        fed_nonce TEXT,
        expires BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS auth_requests_fed ON auth_requests (fed_state)",
    """CREATE TABLE IF NOT EXISTS auth_sessions (
        id_hash TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        amr TEXT NOT NULL,
        acr TEXT NOT NULL,
        csrf TEXT NOT NULL,
        auth_time BIGINT NOT NULL,
        expires BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS auth_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        account TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        scope TEXT NOT NULL,
        challenge TEXT NOT NULL,
        nonce TEXT,
        patient TEXT,
        amr TEXT NOT NULL,
        acr TEXT NOT NULL,
        auth_time BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        used BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS auth_refresh (
        token_hash TEXT PRIMARY KEY,
        family TEXT NOT NULL,
        client_id TEXT NOT NULL,
        account TEXT NOT NULL,
        scope TEXT NOT NULL,
        patient TEXT,
        amr TEXT NOT NULL,
        acr TEXT NOT NULL,
        auth_time BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        state TEXT NOT NULL DEFAULT 'active'
    )""",
    "CREATE INDEX IF NOT EXISTS auth_refresh_family ON auth_refresh (family)",
    """CREATE TABLE IF NOT EXISTS auth_revoked (
        jti TEXT PRIMARY KEY,
        expires BIGINT NOT NULL,
        revoked_at BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS auth_revoked_at ON auth_revoked (revoked_at)",
    """CREATE TABLE IF NOT EXISTS auth_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        created BIGINT NOT NULL,
        retired BIGINT
    )""",
    # rate limits shared by every worker of the database (ratelimit.py): attempts per
    # (endpoint, address, window number)
    """CREATE TABLE IF NOT EXISTS auth_rate (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        win BIGINT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (bucket, key, win)
    )""",
]


def ensure_schema(backend: Backend) -> None:
    backend.create_schema(DDL)
