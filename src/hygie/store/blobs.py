"""Content-addressed blob storage for document bytes, kept out of the resource tables.

A blob is named by the SHA-256 of its bytes, so storing the same document twice keeps one copy
(deduplication) and a name can never point at other bytes. `BlobStore` is the interface; the
filesystem implementation below is the default. An S3-compatible object store implements the
same methods: `put` streams to a multipart upload under a temporary key and, once the hash
is known, copies it to `sha256/<hash>` (or uploads under the final key when the client
supplied the hash) — object stores make a completed PUT atomic, which stands in for the
temp + fsync + rename of the filesystem; `open` is a ranged/streamed GET; `exists` a HEAD;
`delete` a DELETE; `names` a paginated LIST of the prefix.

Blobs are written before the database transaction that references them commits, so a failed
or rolled-back write can leave an unreferenced blob behind: `collect_garbage` deletes the
blobs older than a grace period that no stored resource references.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024  # bytes per read/write while streaming


class BlobTooLarge(Exception):
    """The stream went past the size limit given to `put`; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob over the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What `put` learnt of the bytes while streaming them."""

    sha256: str  # hex: the blob's name
    size: int
    sha1_b64: str  # base64 SHA-1, the form of FHIR R4 Attachment.hash
    head: bytes  # the first bytes (format detection)
    tail: bytes  # the last bytes (PDF trailer)


class _Digest:
    """Hashes, size, head and tail of a stream, updated chunk by chunk."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1()  # noqa: S324 - FHIR R4 Attachment.hash is SHA-1 by definition
        self.size = 0
        self.head = b""
        self.tail = b""

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.sha1.update(chunk)
        self.size += len(chunk)
        if len(self.head) < 1024:
            self.head += chunk[: 1024 - len(self.head)]
        self.tail = (self.tail + chunk)[-1024:]

    def info(self) -> BlobInfo:
        return BlobInfo(
            self.sha256.hexdigest(),
            self.size,
            base64.b64encode(self.sha1.digest()).decode(),
            self.head,
            self.tail,
        )


# Checks the bytes before they are stored under their name: called with what `put` learnt and
# a way to read the bytes again; raises to refuse them (nothing is then stored).
Verify = Callable[[BlobInfo, Callable[[], Iterator[bytes]]], None]


class BlobStore(ABC):
    """Where document bytes live, by SHA-256 name."""

    @abstractmethod
    def put(
        self, chunks: Iterable[bytes], *, limit: int | None = None, verify: Verify | None = None
    ) -> BlobInfo:
        """Store a stream; raises BlobTooLarge (nothing stored) past `limit` bytes."""

    async def put_async(
        self,
        chunks: AsyncIterable[bytes],
        *,
        limit: int | None = None,
        verify: Verify | None = None,
    ) -> BlobInfo:
        """`put` from an asynchronous stream (an HTTP request body)."""
        raise NotImplementedError

    @abstractmethod
    def open(self, sha256: str) -> Iterator[bytes]:
        """The bytes, in chunks of at most CHUNK; FileNotFoundError when absent."""

    def local_path(self, sha256: str) -> str | None:
        """A local file holding the blob, when there is one (the server can then send it
        without Python touching the bytes); None for remote stores."""
        return None

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def names(self, older_than: float) -> Iterator[str]:
        """Names of the blobs stored before the epoch time `older_than`."""

    def read_all(self, sha256: str, limit: int) -> bytes:
        """The whole blob in memory, for callers that must (base64 in a JSON Binary)."""
        out = bytearray()
        for chunk in self.open(sha256):
            out += chunk
            if len(out) > limit:
                raise BlobTooLarge(limit)
        return bytes(out)

    def collect_garbage(
        self, referenced: Callable[[str], bool], *, grace_seconds: float = 3600
    ) -> int:
        """Delete blobs older than the grace period that nothing references; their count."""
        removed = 0
        for name in list(self.names(time.time() - grace_seconds)):
            if not referenced(name):
                self.delete(name)
                removed += 1
        return removed


def valid_name(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


class FileBlobStore(BlobStore):
    """Blobs as files `root/ab/cd/<sha256>`: written to a temporary file in `root/tmp`, fsynced,
    then renamed into place (atomic on POSIX), so a reader never sees a partial blob and a crash
    leaves at most a stray temporary file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._dirs: set[Path] = set()  # fan-out directories known to exist
        self._names = itertools.count()
        self._prefix = f"put-{os.getpid()}-{os.urandom(4).hex()}-"

    def path(self, sha256: str) -> Path:
        if not valid_name(sha256):
            raise FileNotFoundError(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _temp(self) -> tuple[int, str]:
        # a unique name without mkstemp's random retries: process, instance and counter
        name = str(self.tmp / f"{self._prefix}{next(self._names)}")
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name

    def _commit(self, fd: int, tmp: str, digest: _Digest, verify: Verify | None) -> BlobInfo:
        os.fsync(fd)
        os.close(fd)
        info = digest.info()
        if verify is not None:
            try:
                verify(info, lambda: _file_chunks(tmp, eager=False))
            except BaseException:
                os.unlink(tmp)
                raise
        final = self.path(info.sha256)
        if final.exists():  # the same bytes are already stored: keep one copy
            os.unlink(tmp)
            return info
        if final.parent not in self._dirs:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(final.parent)
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
        return info

    def put(
        self, chunks: Iterable[bytes], *, limit: int | None = None, verify: Verify | None = None
    ) -> BlobInfo:
        fd, tmp = self._temp()
        digest = _Digest()
        try:
            for chunk in chunks:
                digest.update(chunk)
                if limit is not None and digest.size > limit:
                    raise BlobTooLarge(limit)
                _write_all(fd, chunk)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return self._commit(fd, tmp, digest, verify)

    async def put_async(
        self,
        chunks: AsyncIterable[bytes],
        *,
        limit: int | None = None,
        verify: Verify | None = None,
    ) -> BlobInfo:
        import asyncio

        loop = asyncio.get_running_loop()
        fd, tmp = self._temp()
        digest = _Digest()
        try:
            async for chunk in chunks:
                digest.update(chunk)
                if limit is not None and digest.size > limit:
                    raise BlobTooLarge(limit)
                # into the page cache, on the event loop: a thread hop per chunk costs more,
                # and a quick consumer keeps the server from buffering the request body
                _write_all(fd, chunk)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return await loop.run_in_executor(None, self._commit, fd, tmp, digest, verify)

    def open(self, sha256: str) -> Iterator[bytes]:
        return _file_chunks(str(self.path(sha256)))

    def local_path(self, sha256: str) -> str | None:
        return str(self.path(sha256)) if self.exists(sha256) else None

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except FileNotFoundError:
            return False

    def delete(self, sha256: str) -> None:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            pass

    def names(self, older_than: float) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if valid_name(path.name) and path.stat().st_mtime < older_than:
                yield path.name


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _file_chunks(path: str, *, eager: bool = True) -> Iterator[bytes]:
    """The file's chunks; `eager` opens it now (a missing file fails here, not when read)."""
    f = open(path, "rb") if eager else None  # noqa: SIM115 - closed by the generator

    def chunks() -> Iterator[bytes]:
        with f or open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    return chunks()


def default_blob_dir(db_url: str) -> Path:
    """`HYGIE_BLOB_DIR`, else beside an SQLite file (`<file>-blobs`), else ./data/blobs/<db>."""
    env = os.environ.get("HYGIE_BLOB_DIR")
    if env:
        return Path(env)
    if db_url.startswith("sqlite:///"):
        from hygie.store.sqlite import parse_sqlite_url

        path, _ = parse_sqlite_url(db_url)
        if path != ":memory:":
            return Path(path).with_name(Path(path).name + "-blobs")
    tail = db_url.rsplit("/", 1)[-1].split("?", 1)[0] or "default"
    return Path("data") / "blobs" / tail


__all__ = [
    "CHUNK",
    "BlobInfo",
    "BlobStore",
    "BlobTooLarge",
    "FileBlobStore",
    "default_blob_dir",
    "valid_name",
]
