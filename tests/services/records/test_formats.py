"""Format checks of document bytes (PDF magic and trailer, XML well-formed without DTD, PNG
and JPEG signatures), run on the stored blob."""

from __future__ import annotations

import pytest

from hygie.services.records import formats
from hygie.store.blobs import FileBlobStore


def chunks(data: bytes, size: int = 5):
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize(
    "media, data, ok",
    [
        ("application/pdf", b"%PDF-1.7\n...\n%%EOF\n", True),
        ("application/pdf", b"%PDF-1.7\n... truncated", False),
        ("application/pdf", b"GIF89a", False),
        (
            "text/xml",
            b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>CR</title></ClinicalDocument>",
            True,
        ),
        ("text/xml", b"<ClinicalDocument><title>CR</ClinicalDocument>", False),
        ("text/xml", b'<!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>', False),  # entities refused
        ("application/hl7-v3+xml", b"<?xml version='1.0'?><a/>", True),
        ("image/png", b"\x89PNG\r\n\x1a\n....", True),
        ("image/png", b"\xff\xd8\xff....", False),
        ("image/jpeg", b"\xff\xd8\xff\xe0....\xff\xd9", True),
        ("image/jpeg", b"\xff\xd8\xff\xe0....", False),
        ("text/plain", b"anything", True),
        ("application/pdf", b"", False),
    ],
)
def test_format_checks(tmp_path, media, data, ok):
    store = FileBlobStore(tmp_path)
    info = store.put([data])
    found = formats.problem(media, info, chunks(data))
    assert (found is None) == ok, found


def test_binary_data_is_strict_base64():
    """Binary.data: the base64 alphabet with correct padding, whitespace between quartets
    allowed (R4 base64Binary); anything else is a 400 naming the element; over the limit 413."""
    import base64 as b64

    import pytest

    from hygie.fhir.outcome import FhirError
    from hygie.services.records.binary import decode_data

    content = bytes(range(256)) * 40
    text = b64.b64encode(content).decode()
    assert decode_data(text, 1 << 20, "Binary") == content
    spaced = " ".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert decode_data(spaced, 1 << 20, "Binary") == content
    for bad in (text[:-1], text[:10] + "*" + text[11:], "ab=c", "abcd===="):
        with pytest.raises(FhirError) as refused:
            decode_data(bad, 1 << 20, "Binary")
        assert refused.value.status == 400 and "Binary.data" in str(refused.value)
    with pytest.raises(FhirError) as big:
        decode_data(text, 1000, "Binary")
    assert big.value.status == 413
