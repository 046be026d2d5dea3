"""The harness's own HTTP calls (seeding, probes, token): httpx, with the bearer token.

A bearer token is either given (`--token`, or HYGIE_BENCH_TOKEN) or obtained with the OAuth 2.0
client-credentials grant (RFC 6749 §4.4) from `--token-url`, or from the token endpoint that
the server advertises in /.well-known/smart-configuration (SMART App Launch 2.0 §2.1), or
Hygie's /auth/token. The token is never printed nor written to the results.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

FHIR_JSON = "application/fhir+json"


class FhirClient:
    def __init__(self, base: str, token: str | None = None, verify: bool = True) -> None:
        self.base = base.rstrip("/")
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=120, verify=verify)

    @property
    def path(self) -> str:
        """The base URL's path (/fhir): every request path of a plan starts with it."""
        return urlsplit(self.base).path.rstrip("/")

    def request(
        self, method: str, path: str, body: Any = None, prefer: str | None = None
    ) -> httpx.Response:
        headers = {}
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = FHIR_JSON
        if prefer:
            headers["Prefer"] = prefer
        url = self.base + path if path.startswith("/") or not path else f"{self.base}/{path}"
        return self.http.request(method, url, content=content, headers=headers)

    def close(self) -> None:
        self.http.close()


def client_credentials_token(
    base: str,
    client_id: str,
    client_secret: str,
    token_url: str | None = None,
    scope: str | None = None,
    verify: bool = True,
) -> str:
    """An access token from the client-credentials grant; raises with the server's answer."""
    with httpx.Client(timeout=30, verify=verify) as http:
        url = token_url or discover_token_url(http, base)
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        # RFC 6749 §2.3.1: servers must accept HTTP Basic; some only take the form fields
        r = http.post(url, data=form, auth=(client_id, client_secret))
        if r.status_code in (400, 401):
            r = http.post(
                url, data={**form, "client_id": client_id, "client_secret": client_secret}
            )
        if r.status_code != 200:
            raise RuntimeError(f"token endpoint {url} answered {r.status_code}: {r.text[:300]}")
        token = r.json().get("access_token")
        if not token:
            raise RuntimeError(f"token endpoint {url} returned no access_token")
        return token


def discover_token_url(http: httpx.Client, base: str) -> str:
    try:
        r = http.get(base.rstrip("/") + "/.well-known/smart-configuration")
        if r.status_code == 200 and r.json().get("token_endpoint"):
            return r.json()["token_endpoint"]
    except (httpx.HTTPError, ValueError):
        pass
    u = urlsplit(base)
    return f"{u.scheme}://{u.netloc}/auth/token"
