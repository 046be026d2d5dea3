"""A 100 MB document through a real `hygie serve`: uploaded as a raw stream, published over
ITI-65 by reference, retrieved over ITI-68 — the server's memory stays far below its size."""

from __future__ import annotations

import base64
import hashlib
import uuid

import httpx
import psutil
import pytest

from hygie.store import open_repository
from tests.services.records.conftest import add_patient, document_reference, provide_bundle

SIZE = 100 * 1024 * 1024
CHUNK = 1024 * 1024


def server_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def big_pdf_chunks():
    yield b"%PDF-1.4\n% a large scanned document\n"
    block = hashlib.sha256(b"page").digest() * (CHUNK // 32)
    sent = 36
    tail = b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    while sent + CHUNK + len(tail) <= SIZE:
        yield block
        sent += CHUNK
    yield b"x" * (SIZE - sent - len(tail))
    yield tail


@pytest.mark.slow
def test_100_mb_document_is_streamed_in_and_out(db_url, live_server_factory):
    repo = open_repository(db_url)
    try:
        patient = add_patient(repo)
    finally:
        repo.close()
    live = live_server_factory(db_url)
    sha1, size = hashlib.sha1(), 0
    for chunk in big_pdf_chunks():
        sha1.update(chunk)
        size += len(chunk)
    assert size == SIZE
    with httpx.Client(timeout=120) as http:
        http.get(f"{live.base}/metadata")  # warm the server up before measuring
        rss_before = server_rss(live.proc.pid)
        up = http.post(
            f"{live.base}/Binary",
            content=big_pdf_chunks(),
            headers={"Content-Type": "application/pdf"},
        )
        assert up.status_code == 201, up.text
        bid = up.json()["id"]
        assert "data" not in up.json()
        rss_upload = server_rss(live.proc.pid)

        # ITI-65 publishes the uploaded Binary by reference: size and hash checked against it
        bundle = provide_bundle(patient, [b"%PDF-1.4\n%%EOF\n"])
        doc_entry = bundle["entry"][1]
        del bundle["entry"][2]  # no Binary in the bundle: the one on the server
        doc = document_reference(patient, b"", f"Binary/{bid}")
        doc["content"][0]["attachment"].update(
            size=SIZE, hash=base64.b64encode(sha1.digest()).decode()
        )
        doc_entry["resource"] = doc
        r = http.post(live.base, json=bundle, headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 200, r.text
        doc_id = r.json()["entry"][1]["response"]["location"].split("/")[1]
        binary = http.get(
            f"{live.base}/Binary/{bid}",
            params={"_summary": "false"},
            headers={"Accept": "application/fhir+json"},
        )
        assert binary.status_code == 422  # too large for base64 in JSON: told to ask for its type
        digest, got = hashlib.sha1(), 0
        with http.stream(
            "GET", f"{live.base}/Binary/{bid}", headers={"Accept": "application/pdf"}
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "application/pdf"
            assert int(resp.headers["content-length"]) == SIZE
            for chunk in resp.iter_bytes():
                digest.update(chunk)
                got += len(chunk)
        rss_download = server_rss(live.proc.pid)
    assert got == SIZE and digest.digest() == sha1.digest()
    # the document is 100 MB; the server grew by far less (buffers of about 1 MiB; granian sends the blob file itself)
    # (uploads: granian reads ahead into its own buffers on a busy machine, about 25 MB seen)
    assert rss_upload - rss_before < 50 * 1024 * 1024, (rss_before, rss_upload)
    assert rss_download - rss_upload < 20 * 1024 * 1024, (rss_upload, rss_download)
    repo = open_repository(db_url)
    try:
        from hygie.store import Context

        stored = repo.read(Context.system(), "Binary", bid).resource()
        assert stored["securityContext"]["reference"] == f"DocumentReference/{doc_id}"
    finally:
        repo.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_upload_over_the_limit_is_413_and_stores_nothing(db_url, live_server_factory, blob_dir):
    live = live_server_factory(db_url, env={"HYGIE_RECORDS_MAX_DOCUMENT": str(4 * CHUNK)})
    with httpx.Client(timeout=60) as http:
        r = http.post(
            f"{live.base}/Binary",
            content=(b"%PDF-" + b"x" * CHUNK for _ in range(8)),
            headers={"Content-Type": "application/pdf"},
        )
        assert r.status_code == 413
        assert r.json()["resourceType"] == "OperationOutcome"
        bad = http.post(
            f"{live.base}/Binary",
            content=b"MZ not a pdf",
            headers={"Content-Type": "application/pdf"},
        )
        assert bad.status_code == 422 and "PDF" in bad.text
        exe = http.post(
            f"{live.base}/Binary",
            content=b"MZ",
            headers={"Content-Type": "application/x-msdownload"},
        )
        assert exe.status_code == 415
        count = http.get(
            f"{live.base}/Binary",
            params={"_summary": "count"},
            headers={"Accept": "application/fhir+json"},
        ).json()
    assert count["total"] == 0
    assert not [p for p in blob_dir.glob("??/??/*")]
    _ = uuid
