"""The content-addressed blob store: names, deduplication, atomic writes, limits, refusal
before naming, garbage collection."""

from __future__ import annotations

import hashlib
import os

import pytest

from hygie.store.blobs import BlobTooLarge, FileBlobStore


def chunks(data: bytes, size: int = 7):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_put_names_by_sha256_and_keeps_one_copy(tmp_path):
    store = FileBlobStore(tmp_path)
    data = b"%PDF-1.4 some bytes %%EOF"
    info = store.put(chunks(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert store.exists(info.sha256)
    assert b"".join(store.open(info.sha256)) == data
    again = store.put(chunks(data, 3))
    assert again == info
    assert len(list(tmp_path.glob("??/??/*"))) == 1
    assert not list((tmp_path / "tmp").iterdir())  # no stray temporary file


def test_limit_and_refusal_store_nothing(tmp_path):
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobTooLarge):
        store.put(chunks(b"x" * 100), limit=50)

    def refuse(info, reopen):
        assert b"".join(reopen()) == b"not a pdf"
        raise ValueError("refused")

    with pytest.raises(ValueError):
        store.put([b"not a pdf"], verify=refuse)
    assert not list(tmp_path.glob("??/??/*"))
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.anyio
async def test_put_async(tmp_path):
    store = FileBlobStore(tmp_path)

    async def body():
        for part in (b"a" * 3_000_000, b"b" * 10):
            yield part

    info = await store.put_async(body())
    assert info.size == 3_000_010
    assert hashlib.sha256(b"".join(store.open(info.sha256))).hexdigest() == info.sha256


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_garbage_collection_keeps_referenced_and_recent_blobs(tmp_path):
    store = FileBlobStore(tmp_path)
    keep = store.put([b"referenced"]).sha256
    drop = store.put([b"orphan"]).sha256
    recent = store.put([b"orphan but recent"]).sha256
    old = 1_000_000_000
    for name in (keep, drop):
        os.utime(store.path(name), (old, old))
    removed = store.collect_garbage(lambda name: name == keep, grace_seconds=60)
    assert removed == 1
    assert store.exists(keep) and store.exists(recent) and not store.exists(drop)


def test_missing_or_malformed_names(tmp_path):
    store = FileBlobStore(tmp_path)
    assert not store.exists("0" * 64) and not store.exists("../etc/passwd")
    with pytest.raises(FileNotFoundError):
        store.open("../../etc/passwd")
