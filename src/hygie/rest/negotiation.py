"""Content negotiation (http.html#mime-type): `_format`, `Accept`, `Content-Type`, `_pretty`.

Only JSON is served for now; asking for XML or anything else answers 406 (or 415 for a body),
always with an OperationOutcome.
"""

from __future__ import annotations

from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request

_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}
_XML_FORMATS = {
    "xml",
    "text/xml",
    "application/xml",
    "application/fhir+xml",
    "application/xml+fhir",
}
_ACCEPTABLE = (
    "application/fhir+json",
    "application/json",
    "application/json+fhir",
    "*/*",
    "application/*",
    "text/*",
    "text/plain",
    "text/html",
)
PATCH_JSON = "application/json-patch+json"


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def response_format(req: Request) -> None:
    """Raise 406 unless the client accepts FHIR JSON."""
    fmt = req.param("_format")
    if fmt is not None:
        media = _media(fmt.replace(" ", "+"))
        if media in _JSON_FORMATS:
            return
        raise FhirError(
            406,
            f"_format '{fmt}' is not supported; this server speaks application/fhir+json",
            "not-supported",
        )
    accept = req.header("accept")
    if not accept:
        return
    ranges = [_media(part) for part in accept.split(",") if part.strip()]
    if any(r in _ACCEPTABLE or r.endswith("+json") for r in ranges):
        return
    raise FhirError(
        406,
        f"Cannot produce any of '{accept}'; this server speaks application/fhir+json",
        "not-supported",
    )


def request_format(req: Request, *, patch: bool = False) -> None:
    """Raise 415 unless the body is FHIR JSON (or a JSON Patch for PATCH)."""
    ctype = req.header("content-type")
    if ctype is None:
        if req.body:
            raise FhirError(415, "Content-Type is required for a request body", "not-supported")
        return
    media = _media(ctype)
    if patch:
        if media in (PATCH_JSON,):
            return
        raise FhirError(
            415, f"PATCH supports Content-Type {PATCH_JSON}, not '{ctype}'", "not-supported"
        )
    if media in _JSON_FORMATS:
        return
    if media in _XML_FORMATS:
        raise FhirError(
            415, "XML is not supported yet; send application/fhir+json", "not-supported"
        )
    raise FhirError(415, f"Unsupported Content-Type '{ctype}'", "not-supported")


def pretty(req: Request) -> bool:
    return (req.param("_pretty") or "").lower() == "true"
