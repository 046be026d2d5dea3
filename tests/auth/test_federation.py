"""Federated login in the style of Pro Santé Connect, with a SECOND instance of the built-in
provider playing the external one: two live servers, two databases.

The external instance answers on http://localhost:PORT and ours on http://127.0.0.1:PORT, so
that the browser's cookies of the two (same host name would share them: cookies ignore ports)
stay apart."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import KeySet

from hygie.auth import clients
from hygie.auth.schema import ensure_schema
from hygie.store import open_repository
from tests.auth.browser import Browser, exchange, fresh_totp, hidden, pkce
from tests.auth.conftest import APP_REDIRECT, PASSWORD, make_app, make_practitioner
from tests.conftest import fresh_database

RPPS = "19999970026"


def test_login_through_an_external_provider(
    backend, db_url, auth_repo, tmp_path, request, live_server_factory
) -> None:
    (tmp_path / "ext").mkdir()
    with fresh_database(backend, tmp_path / "ext", request) as ext_db:
        ext_repo = open_repository(ext_db)
        ensure_schema(ext_repo.backend)
        try:
            # the national directory's view of the professional, and one we do not know
            psc_user = make_practitioner(ext_repo, "psc.user", rpps=RPPS)
            stranger = make_practitioner(ext_repo, "psc.stranger", rpps="19999970034")
            ext = live_server_factory(ext_db, secure=True)
            ext_iss = f"http://localhost:{ext.port}"
            # our side: the same professional (by RPPS), an app
            local = make_practitioner(auth_repo, "dr.local", rpps=RPPS)
            app = make_app(auth_repo)
            ours = live_server_factory(
                db_url,
                secure=True,
                env={
                    "HYGIE_PSC_ISSUER": ext_iss,
                    "HYGIE_PSC_CLIENT_ID": "hygie-federated",
                    "HYGIE_PSC_CLIENT_SECRET": "a-long-federation-secret-0123456789",
                    "HYGIE_PSC_SCOPE": "openid",
                    "HYGIE_PSC_ACR_LEVELS": orjson.dumps({"urn:hygie:acr:mfa": "mfa"}).decode(),
                },
            )
            base = ours.base
            iss = base.removesuffix("/fhir")
            clients.create(
                ext_repo.backend,
                "Hygie (fédération)",
                "",
                client_id="hygie-federated",
                secret="a-long-federation-secret-0123456789",
                redirect_uris=(f"{iss}/auth/federation/callback",),
            )

            def federated_login(user, browser: Browser):
                verifier, challenge = pkce()
                r = browser.http.get(
                    browser.authorize_url(
                        app, APP_REDIRECT, "openid user/*.rs", base, challenge, "st"
                    )
                )
                assert "Se connecter avec Pro Santé Connect" in r.text
                out = browser.http.post(
                    f"{iss}/auth/federation/start",
                    data={"rid": hidden(r.text, "rid"), "csrf": hidden(r.text, "csrf")},
                )
                assert out.status_code == 303
                to_ext = out.headers["location"]
                q = parse_qs(urlsplit(to_ext).query)
                assert to_ext.startswith(f"{ext_iss}/auth/authorize?")
                assert q["code_challenge_method"] == ["S256"] and q["nonce"] and q["state"]
                page = browser.http.get(to_ext)  # the external provider's login page
                page = browser.http.post(
                    f"{ext_iss}/auth/login",
                    data={
                        "rid": hidden(page.text, "rid"),
                        "csrf": hidden(page.text, "csrf"),
                        "username": user.username,
                        "password": PASSWORD,
                    },
                )
                back = browser.http.post(
                    f"{ext_iss}/auth/totp",
                    data={
                        "rid": hidden(page.text, "rid"),
                        "csrf": hidden(page.text, "csrf"),
                        "code": fresh_totp(user.totp_secret),
                    },
                )
                assert back.status_code == 303
                assert back.headers["location"].startswith(f"{iss}/auth/federation/callback?")
                return browser.http.get(back.headers["location"]), verifier

            b = Browser(iss)
            done, verifier = federated_login(psc_user, b)
            auth = Browser.finish(done, APP_REDIRECT, verifier, "st")
            tok = exchange(iss, app, APP_REDIRECT, auth)
            assert tok.status_code == 200, tok.text
            claims = jwt.decode(
                tok.json()["access_token"],
                KeySet.import_key_set(httpx.get(f"{iss}/auth/jwks").json()),
            ).claims
            # our account, found by the RPPS in the external SubjectNameID; the external acr mapped
            assert claims["sub"] == local.id and claims["fhirUser"] == f"{base}/{local.fhir_user}"
            assert claims["amr"] == ["fed", "mfa"] and claims["acr"] == "urn:hygie:acr:mfa"
            me = httpx.get(
                f"{base}/{local.fhir_user}",
                headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
            )
            assert me.status_code == 200
            b.close()

            # an external identity with no local account is refused
            b = Browser(iss)
            refused, _ = federated_login(stranger, b)
            assert refused.status_code == 403 and "Aucun compte Hygie" in refused.text
            # a forged callback (unknown state) is refused too
            forged = b.http.get(
                f"{iss}/auth/federation/callback", params={"code": "x", "state": "y"}
            )
            assert forged.status_code == 400
            b.close()
        finally:
            ext_repo.close()
