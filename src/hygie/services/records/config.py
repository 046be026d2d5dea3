"""Settings of the shared record: size limits and the accepted document formats."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MB = 1024 * 1024

# Media types the shared record accepts, each checked by `formats.check` (magic numbers, PDF
# trailer, XML well-formedness); others may be added with HYGIE_RECORDS_EXTRA_TYPES.
CHECKED_TYPES = frozenset(
    {
        "application/pdf",
        "text/xml",
        "application/xml",
        "application/hl7-v3+xml",
        "image/png",
        "image/jpeg",
    }
)
DEFAULT_EXTRA_TYPES = frozenset({"text/plain"})


@dataclass
class RecordsSettings:
    max_document: int = 256 * MB  # a streamed upload (raw Binary) over this → 413
    max_inline: int = 32 * MB  # a document inside a JSON Binary / MHD bundle, decoded
    max_json_binary: int = 16 * MB  # GET Binary as FHIR JSON (base64 in memory) up to this size
    extra_types: frozenset[str] = field(default_factory=lambda: DEFAULT_EXTRA_TYPES)
    extra_type_codes: frozenset[str] = frozenset()  # more LOINC type codes to accept

    @classmethod
    def from_env(cls) -> RecordsSettings:
        s = cls()
        if v := os.environ.get("HYGIE_RECORDS_MAX_DOCUMENT"):
            s.max_document = int(v)
        if v := os.environ.get("HYGIE_RECORDS_MAX_INLINE"):
            s.max_inline = int(v)
        if v := os.environ.get("HYGIE_RECORDS_EXTRA_TYPES"):
            s.extra_types = frozenset(t.strip() for t in v.split(",") if t.strip())
        return s

    def accepts(self, media: str) -> bool:
        return media in CHECKED_TYPES or media in self.extra_types
