"""Small HTTP helpers of the provider's pages and endpoints: forms, cookies, HTML (Jinja2, with
autoescaping) and JSON responses with the security headers every page carries."""

from __future__ import annotations

import base64
from functools import lru_cache
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hygie.rest.http import Request, Response

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def page(
    name: str, status: int = 200, cookies: list[str] | None = None, **context: Any
) -> Response:
    body = _env().get_template(name).render(**context).encode()
    return Response(status, body, dict(SECURITY_HEADERS), "text/html", cookies=cookies)


def message(heading: str, text: str, status: int = 400) -> Response:
    return page("message.html", status, heading=heading, message=text)


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, orjson.dumps(data), {**SECURITY_HEADERS, **(headers or {})}, "application/json"
    )


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    """An OAuth 2.0 error response (RFC 6749 §5.2)."""
    return json({"error": error, "error_description": description}, status, headers)


def redirect(location: str, cookies: list[str] | None = None) -> Response:
    return Response(303, b"", {**SECURITY_HEADERS, "Location": location}, None, cookies=cookies)


def form(req: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (a repeated field keeps its first value)."""
    out: dict[str, str] = {}
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    if req.body and ctype in ("application/x-www-form-urlencoded", ""):
        for k, v in parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(k, v)
    return out


def json_body(req: Request) -> dict[str, Any]:
    try:
        data = orjson.loads(req.body or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def query(req: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in req.query:
        out.setdefault(k, v)
    return out


def cookies(req: Request) -> dict[str, str]:
    raw = req.header("cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return {}
    return {k: m.value for k, m in jar.items()}


def set_cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    """HttpOnly, SameSite=Lax (the federation callback is a top-level cross-site GET), Path=/auth,
    and Secure whenever the provider is served over HTTPS."""
    parts = [f"{name}={value}", "Path=/auth", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def basic_credentials(req: Request) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic)."""
    auth = req.header("authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except Exception:
        return None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(cid.replace("+", " ")), unquote(secret.replace("+", " "))


def static_file(name: str) -> Response | None:
    types = {".js": "text/javascript", ".css": "text/css"}
    path = HERE / "static" / name
    if "/" in name or path.suffix not in types or not path.is_file():
        return None
    return Response(
        200,
        path.read_bytes(),
        {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        types[path.suffix],
    )
