"""Format checks of document bytes, on the stored blob (streamed, never all in memory).

- PDF: starts with `%PDF-` and ends with the `%%EOF` trailer (ISO 32000-1 §7.5.5), allowing
  trailing whitespace;
- CDA and other XML: well-formed, parsed incrementally with the standard library's expat and
  no DTD at all (no entity expansion, no external entities: the "billion laughs" and XXE
  attacks need a DOCTYPE); a CDA (`text/xml`, `application/hl7-v3+xml` with a root
  `ClinicalDocument` in urn:hl7-org:v3) is recognised by its root;
- PNG and JPEG: their signatures (PNG 89 50 4E 47 0D 0A 1A 0A; JPEG FF D8 FF ... FF D9);
- other media types: accepted when in the configured allow-list, not inspected.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.parsers import expat

from hygie.store.blobs import BlobInfo

PNG = b"\x89PNG\r\n\x1a\n"
XML_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})


class _NoDoctype(Exception):
    pass


def _xml_problem(chunks: Iterable[bytes]) -> str | None:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> None:
        raise _NoDoctype

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _NoDoctype:
        return "XML documents with a DOCTYPE (DTD, entities) are refused"
    except expat.ExpatError as exc:
        return f"the XML is not well-formed: {expat.ErrorString(exc.code)} at line {exc.lineno}"
    return None


def problem(media: str, info: BlobInfo, chunks: Iterable[bytes]) -> str | None:
    """Why the bytes are not a valid `media` document; None when they are."""
    if info.size == 0:
        return "the document is empty"
    if media == "application/pdf":
        if not info.head.startswith(b"%PDF-"):
            return "not a PDF: the file does not start with %PDF-"
        if not info.tail.rstrip(b"\r\n\t \x00").endswith(b"%%EOF"):
            return "truncated PDF: no %%EOF trailer at the end"
        return None
    if media in XML_TYPES:
        return _xml_problem(chunks)
    if media == "image/png":
        return None if info.head.startswith(PNG) else "not a PNG image (bad signature)"
    if media == "image/jpeg":
        if not info.head.startswith(b"\xff\xd8\xff"):
            return "not a JPEG image (no SOI marker)"
        if not info.tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return "truncated JPEG image (no EOI marker)"
        return None
    return None
