"""SMART Backend Services: a system client authenticates with a JWT signed by its own key
(private_key_jwt, RFC 7523), registered with `hygie client create --jwks FILE`."""

from __future__ import annotations

import subprocess
import time
import uuid

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import VENV_BIN

ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_backend_services_client(db_url, tmp_path, secure_live_server) -> None:
    key = ECKey.generate_key("P-384", parameters={"kid": "k1"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes(orjson.dumps({"keys": [key.as_dict(private=False)]}))
    run = subprocess.run(
        [
            str(VENV_BIN / "hygie"),
            "client",
            "create",
            "Backend",
            "--scope",
            "system/*.rs",
            "--jwks",
            str(jwks_file),
            "--db",
            db_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    created = orjson.loads(run.stdout)
    cid = created["client_id"]
    assert created["client_secret"] is None

    base = secure_live_server()
    iss = base.removesuffix("/fhir")
    token_url = f"{iss}/auth/token"
    smart = httpx.get(f"{base}/.well-known/smart-configuration").json()
    assert "private_key_jwt" in smart["token_endpoint_auth_methods_supported"]
    assert "client-confidential-asymmetric" in smart["capabilities"]

    def assertion(signing=key, **changes) -> str:
        now = int(time.time())
        claims = {
            "iss": cid,
            "sub": cid,
            "aud": token_url,
            "exp": now + 240,
            "jti": str(uuid.uuid4()),
            **changes,
        }
        return jwt.encode(
            {"alg": "ES384", "kid": "k1", "typ": "JWT"}, claims, signing, algorithms=["ES384"]
        )

    def ask(a: str) -> httpx.Response:
        return httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                "client_assertion_type": ASSERTION,
                "client_assertion": a,
            },
        )

    good = assertion()
    r = ask(good)
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]
    assert (
        httpx.get(f"{base}/Patient", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    )
    # replay, wrong audience, too long-lived, expired, another key, iss ≠ sub: all refused
    assert ask(good).status_code == 401
    assert ask(assertion(aud=f"{iss}/other")).status_code == 401
    assert ask(assertion(exp=int(time.time()) + 3600)).status_code == 401
    assert ask(assertion(exp=int(time.time()) - 120)).status_code == 401
    assert (
        ask(assertion(signing=ECKey.generate_key("P-384", parameters={"kid": "k1"}))).status_code
        == 401
    )
    assert ask(assertion(sub="someone-else")).status_code == 401
    # no secret to fall back on
    assert (
        httpx.post(token_url, data={"grant_type": "client_credentials"}, auth=(cid, "")).status_code
        == 401
    )
