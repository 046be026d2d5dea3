"""Binary resources whose bytes live in the blob store.

A stored Binary keeps only its metadata: `contentType`, `securityContext` (the
DocumentReference that governs access to it, so the access policy decides for the Binary what
it decides for its document) and, in `meta.extension`, the blob's SHA-256 name, size and the
base64 SHA-1 that FHIR R4 `Attachment.hash` uses. `Binary` is a Resource, not a
DomainResource: it has no `extension` of its own, hence `meta.extension`.

`BinaryWriteHook` keeps every Binary write in that shape: inline `data` (a JSON Binary, a
Binary in a transaction) is moved to the blob store and replaced by the metadata; blob
metadata written by a client without the data is refused (a client must not point a Binary at
bytes it has not sent).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import pybase64

from hygie.fhir.outcome import FhirError
from hygie.services.records import formats
from hygie.services.records.config import RecordsSettings
from hygie.store import Context, Stored
from hygie.store.blobs import BlobInfo, BlobStore, BlobTooLarge

BLOB_URL = "https://hygie.health/fhir/StructureDefinition/binary-blob"
# Set in Context.attributes by the records service when it wrote the blob itself.
BLOB_TRUSTED = "hygie.records.blob-trusted"


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int
    sha1_b64: str


def blob_extension(info: BlobInfo | BlobRef) -> dict[str, Any]:
    return {
        "url": BLOB_URL,
        "extension": [
            {"url": "sha256", "valueString": info.sha256},
            {"url": "size", "valueInteger": info.size},
            {"url": "sha1", "valueBase64Binary": info.sha1_b64},
        ],
    }


def blob_ref(binary: dict[str, Any]) -> BlobRef | None:
    for ext in (binary.get("meta") or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == BLOB_URL:
            parts = {
                e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
                for e in ext.get("extension") or []
                if isinstance(e, dict)
            }
            if isinstance(parts.get("sha256"), str) and isinstance(parts.get("size"), int):
                return BlobRef(parts["sha256"], parts["size"], str(parts.get("sha1") or ""))
    return None


def with_blob(binary: dict[str, Any], info: BlobInfo | BlobRef) -> dict[str, Any]:
    """The Binary without `data`, its blob metadata in `meta.extension`."""
    out = {k: v for k, v in binary.items() if k != "data"}
    meta = dict(out.get("meta") or {})
    others = [
        e
        for e in meta.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == BLOB_URL)
    ]
    meta["extension"] = [*others, blob_extension(info)]
    out["meta"] = meta
    return out


def media_type(value: Any) -> str:
    return str(value or "").split(";", 1)[0].strip().lower()


def decode_data(data: Any, limit: int, where: str) -> bytes:
    if not isinstance(data, str):
        raise FhirError(
            400, f"{where}.data must be base64 text", "structure", expression=f"{where}.data"
        )
    if len(data) * 3 // 4 > limit + 3:
        raise FhirError(
            413, f"{where}: the document is over the limit of {limit} bytes", "too-costly"
        )
    raw = data.encode("ascii", "replace")
    try:
        # validated (only the base64 alphabet, correct padding) by pybase64's SIMD decoder:
        # ~20 µs for a 200 KB document where binascii took ~1 ms on this machine; the
        # whitespace R4 allows between quartets is removed first
        return pybase64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return pybase64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FhirError(400, f"{where}.data is not valid base64", "structure") from exc


def store_bytes(
    blobs: BlobStore, content: bytes, media: str, settings: RecordsSettings, where: str
) -> BlobInfo:
    """Put document bytes in the blob store after checking their format; 422 otherwise."""
    from hygie.store.blobs import CHUNK

    try:
        return blobs.put(
            (content[i : i + CHUNK] for i in range(0, len(content), CHUNK)),
            limit=settings.max_inline,
            verify=format_check(media, where),
        )
    except BlobTooLarge as exc:
        raise FhirError(
            413, f"{where}: the document is over the limit of {exc.limit} bytes", "too-costly"
        ) from None


def format_check(media: str, where: str) -> Any:
    """A blob-store `verify` refusing bytes that are not a valid `media` document (422)."""

    def verify(info: BlobInfo, reopen: Any) -> None:
        found = formats.problem(media, info, reopen())
        if found:
            raise FhirError(422, f"{where}: {found} (contentType {media})", "invalid")

    return verify


class BinaryWriteHook:
    """Registered on the Repository: keeps Binary bytes out of the resource tables."""

    resource_types = frozenset({"Binary"})

    def __init__(self, blobs: BlobStore, settings: RecordsSettings) -> None:
        self.blobs = blobs
        self.settings = settings

    def __call__(self, ctx: Context, binary: dict[str, Any], previous: Stored | None) -> None:
        if "data" in binary:
            content = decode_data(binary["data"], self.settings.max_inline, "Binary")
            info = store_bytes(
                self.blobs, content, media_type(binary.get("contentType")), self.settings, "Binary"
            )
            replaced = with_blob(binary, info)
            binary.clear()
            binary.update(replaced)
            return
        ref = blob_ref(binary)
        if ref is None:
            return  # a Binary without content (allowed by R4: data 0..1)
        if not ctx.attributes.get(BLOB_TRUSTED):
            if previous is not None and blob_ref(previous.resource()) == ref:
                return  # metadata-only update that keeps the same bytes
            raise FhirError(
                422,
                "Binary blob metadata is set by the server: send the content in Binary.data or"
                " as a raw upload (POST Binary with the document's Content-Type)",
                "business-rule",
                expression="Binary.meta.extension",
            )
        if not self.blobs.exists(ref.sha256):
            raise FhirError(422, "Binary refers to content that is not stored", "not-found")
