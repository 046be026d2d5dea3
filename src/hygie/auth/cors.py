"""Cross-origin access for browser SMART apps (Fetch standard, CORS protocol): off unless
`HYGIE_CORS_ORIGINS` lists the allowed origins (comma-separated, or `*`).

Bearer tokens travel in a header, not in cookies, so no credentials mode is ever allowed: the
provider's own pages (cookies) are not opened to other origins by this, only the API, the token,
revocation and userinfo endpoints, and the discovery documents."""

from __future__ import annotations

from hygie.rest.http import Request, Response

ALLOW_HEADERS = (
    "authorization, content-type, accept, prefer, if-match, if-none-match, if-none-exist,"
    " if-modified-since, x-requested-with"
)
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
EXPOSE_HEADERS = "location, etag, last-modified, content-location, www-authenticate, retry-after"
# the paths of the provider other origins may call (never the login pages)
OPEN_SITE_PATHS = (
    "/.well-known/openid-configuration",
    "/auth/jwks",
    "/auth/token",
    "/auth/revoke",
    "/auth/userinfo",
)


class Cors:
    def __init__(self, origins: str | None) -> None:
        items = {o.strip().rstrip("/") for o in (origins or "").split(",") if o.strip()}
        self.any = "*" in items
        self.origins = frozenset(items - {"*"})

    @property
    def enabled(self) -> bool:
        return self.any or bool(self.origins)

    def _allowed(self, req: Request, fhir: bool) -> str | None:
        origin = req.header("origin")
        if not origin or not self.enabled:
            return None
        if not fhir and "/" + "/".join(req.segments) not in OPEN_SITE_PATHS:
            return None
        if self.any:
            return "*"
        return origin if origin.rstrip("/") in self.origins else None

    def preflight(self, req: Request, fhir: bool) -> Response | None:
        """The answer to an OPTIONS preflight from an allowed origin, else None."""
        if req.method != "OPTIONS" or not req.header("access-control-request-method"):
            return None
        allowed = self._allowed(req, fhir)
        if allowed is None:
            return None
        headers = {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }
        return Response(204, b"", headers, None)

    def decorate(self, req: Request, resp: Response, fhir: bool) -> None:
        allowed = self._allowed(req, fhir)
        if allowed is not None:
            resp.headers["Access-Control-Allow-Origin"] = allowed
            resp.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            resp.headers["Vary"] = "Origin"
