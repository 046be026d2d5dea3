"""Bearer tokens at the FHIR API over real HTTP: client credentials (basic and post), the
`hygie client` commands, and every way a token can be wrong (→ 401 with an RFC 6750 challenge
and an OperationOutcome), plus discovery documents."""

from __future__ import annotations

import base64
import subprocess
import time

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from hygie.auth.keys import KeyRing
from tests.conftest import VENV_BIN


def _issuer(base: str) -> str:
    return base.removesuffix("/fhir")


def _cc(
    iss: str, cid: str, secret: str, scope: str = "system/*.rs", basic: bool = True
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": scope}
    if basic:
        return httpx.post(f"{iss}/auth/token", data=data, auth=(cid, secret))
    return httpx.post(f"{iss}/auth/token", data={**data, "client_id": cid, "client_secret": secret})


def _assert_401(r: httpx.Response, error: bool = True) -> None:
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) is error
    assert r.json()["resourceType"] == "OperationOutcome"


def test_client_credentials_cli_and_bad_tokens(db_url, auth_repo, secure_live_server) -> None:
    # `hygie client create` prints exactly one JSON object on stdout
    run = subprocess.run(
        [
            str(VENV_BIN / "hygie"),
            "client",
            "create",
            "Labo test",
            "--scope",
            "system/*.rs",
            "--db",
            db_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    created = orjson.loads(run.stdout)
    assert set(created) == {"client_id", "client_secret"} and run.stdout.count("\n") == 1
    cid, secret = created["client_id"], created["client_secret"]

    base = secure_live_server()
    iss = _issuer(base)
    # client_secret_basic and client_secret_post
    for basic in (True, False):
        r = _cc(iss, cid, secret, basic=basic)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "system/*.rs" and "refresh_token" not in r.json()
    tok = r.json()["access_token"]
    ok = httpx.get(f"{base}/Patient", headers={"Authorization": f"Bearer {tok}"})
    assert ok.status_code == 200, ok.text
    # a scope beyond the registration is not granted; a wrong secret is invalid_client
    assert _cc(iss, cid, secret, scope="system/*.cruds").json()["error"] == "invalid_scope"
    bad = _cc(iss, cid, "wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.headers["www-authenticate"].startswith("Basic")

    # the list shows it without the secret; revoke stops new tokens
    listed = subprocess.run(
        [str(VENV_BIN / "hygie"), "client", "list", "--db", db_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert cid in listed and secret not in listed
    subprocess.run(
        [str(VENV_BIN / "hygie"), "client", "revoke", cid, "--db", db_url],
        capture_output=True,
        check=True,
    )
    assert _cc(iss, cid, secret).status_code == 401

    # every wrong token → 401
    keys = KeyRing(auth_repo.backend)
    claims = jwt.decode(tok, keys._keys).claims
    now = int(time.time())

    def forged(**changes) -> str:
        return keys.sign({**claims, "jti": f"t-{time.monotonic_ns()}", **changes})

    url = f"{base}/Patient"
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged()}"}).status_code == 200
    # no token: a challenge without an error code (RFC 6750 §3.1)
    _assert_401(httpx.get(url), error=False)
    _assert_401(
        httpx.get(
            url,
            headers={
                "Authorization": f"Bearer {forged(exp=now - 120, iat=now - 1000, nbf=now - 1000)}"
            },
        )
    )
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {forged(nbf=now + 600)}"}))
    _assert_401(
        httpx.get(
            url, headers={"Authorization": f"Bearer {forged(aud='http://other.example/fhir')}"}
        )
    )
    _assert_401(
        httpx.get(url, headers={"Authorization": f"Bearer {forged(iss='http://other.example')}"})
    )
    # a token cannot claim the server's own power
    system_kind = forged(hygie={"kind": "system"})
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {system_kind}"}))
    # signed by a key that is not ours, even under our key id
    kid = jwt.decode(tok, keys._keys).header["kid"]
    foreign = ECKey.generate_key("P-256", parameters={"kid": kid})
    fake = jwt.encode({"alg": "ES256", "kid": kid}, {**claims, "jti": "x"}, foreign)
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {fake}"}))
    # the signature of a valid token spliced onto other claims
    head, _, sig = tok.split(".")
    body = jwt.encode(
        {"alg": "ES256", "kid": kid}, {**claims, "scope": "system/*.cruds"}, foreign
    ).split(".")[1]
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {head}.{body}.{sig}"}))
    # alg none is refused
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{none_head}.{tok.split('.')[1]}."
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {unsigned}"}))
    for junk in ("abc", "a.b.c", "Bearer", "x" * 5000):
        _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {junk}"}))
    _assert_401(httpx.get(url, headers={"Authorization": f"Basic {tok}"}))
    # a revoked token (RFC 7009), and the cache does not keep it alive
    good = forged()
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    from hygie.auth import tokens

    tokens.revoke_jti(auth_repo.backend, jwt.decode(good, keys._keys).claims["jti"], now + 900)
    time.sleep(1.5)  # another process revoked it: seen within the refresh interval
    _assert_401(httpx.get(url, headers={"Authorization": f"Bearer {good}"}))


def test_discovery_documents(secure_live_server) -> None:
    base = secure_live_server(HYGIE_CORS_ORIGINS="http://app.example")
    iss = _issuer(base)
    smart = httpx.get(f"{base}/.well-known/smart-configuration")
    assert smart.status_code == 200
    doc = smart.json()
    assert doc["issuer"] == iss and doc["token_endpoint"] == f"{iss}/auth/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    for cap in (
        "launch-standalone",
        "context-standalone-patient",
        "permission-v2",
        "client-confidential-symmetric",
    ):
        assert cap in doc["capabilities"]
    oidc = httpx.get(f"{iss}/.well-known/openid-configuration").json()
    assert oidc["issuer"] == iss and oidc["jwks_uri"] == f"{iss}/auth/jwks"
    assert "client_credentials" in oidc["grant_types_supported"]
    jwks = httpx.get(oidc["jwks_uri"]).json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])  # never the private part
    # the CapabilityStatement stays public; data does not
    assert httpx.get(f"{base}/metadata").status_code == 200
    assert httpx.get(f"{base}/Patient").status_code == 401

    # CORS for browser SMART apps of the configured origins: the API and the token endpoint,
    # never the login pages; other origins get no CORS headers
    app_origin = {"Origin": "http://app.example"}
    pre = httpx.request(
        "OPTIONS",
        f"{base}/Patient",
        headers={
            **app_origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "http://app.example"
    assert "authorization" in pre.headers["access-control-allow-headers"]
    denied = httpx.get(f"{base}/Patient", headers=app_origin)
    assert (
        denied.status_code == 401
        and denied.headers["access-control-allow-origin"] == "http://app.example"
    )
    assert "www-authenticate" in denied.headers["access-control-expose-headers"]
    tok_pre = httpx.request(
        "OPTIONS",
        f"{iss}/auth/token",
        headers={**app_origin, "Access-Control-Request-Method": "POST"},
    )
    assert tok_pre.status_code == 204
    evil = {"Origin": "http://evil.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{base}/metadata", headers=evil).headers
    login = httpx.get(f"{iss}/auth/authorize", headers=app_origin)
    assert "access-control-allow-origin" not in login.headers


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_open_mode_is_explicit(db_url, live_server_factory) -> None:
    open_base = live_server_factory(db_url).base  # the fixtures start `hygie serve --open`
    assert httpx.get(f"{open_base}/Patient").status_code == 200
    assert (
        httpx.get(f"{open_base.removesuffix('/fhir')}/.well-known/openid-configuration").status_code
        == 404
    )
