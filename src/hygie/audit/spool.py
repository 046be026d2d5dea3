"""The audit spool: a read's record is on disk before the response, without waiting for a
database transaction.

Each server process appends the compact records of its reads (and refused attempts) to its own
journal file, one JSON line per record, with a single `write(2)` on an `O_APPEND` descriptor:
once `append` returns, the record survives the death of the process (it is in the kernel's
page cache and the file), which is the durability SQLite gives a commit with
`synchronous=NORMAL` in WAL mode. A shipper thread moves the lines into `audit_event` every
`every` seconds, in one transaction per batch that also stores how far the file was shipped
(`audit_spool`), so a line is shipped exactly once even if the process dies between the COMMIT
and anything after it.

The owner holds an exclusive `flock` on its file for as long as it lives; a file whose lock can
be taken belongs to a process that is gone, and any shipper of the same database adopts it:
ships what is left, then deletes it. One spool directory serves one database (see
`default_spool_dir`).

Records reach `audit_event` (and the hash chain) within `every` seconds; what reads the trail
(`$access-log`, `hygie audit verify`) ships the pending lines of its own process first.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from hygie.store.base import Backend, Cursor

log = logging.getLogger("hygie.audit")

SUFFIX = ".spool"
ROTATE_BYTES = 16 * 1024 * 1024  # a fully shipped journal larger than this is replaced
ROTATE_CHECK_BYTES = 1024 * 1024  # without a shipper thread: how often to look at rotation
READ_CHUNK = 4 * 1024 * 1024  # lines shipped per transaction (at most, in bytes)
TOMBSTONE_SECONDS = 3600  # how long the row of a deleted journal is kept (see _forget)
ADOPT_EVERY = 5.0  # seconds between looks for the journals of dead processes


def spool_ddl(dialect: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS audit_spool (name TEXT PRIMARY KEY, shipped BIGINT NOT NULL)"
    ]


def default_spool_dir(db_url: str) -> Path | None:
    """`HYGIE_AUDIT_SPOOL`, else beside an SQLite file (`<file>-audit`), else
    ./data/audit-spool/<database>-<hash of the URL>; None for an in-memory database."""
    env = os.environ.get("HYGIE_AUDIT_SPOOL")
    if env and env.lower() != "off":
        return Path(env)
    if db_url.startswith("sqlite:"):
        from hygie.store.sqlite import parse_sqlite_url

        path, _ = parse_sqlite_url(db_url)
        if path == ":memory:":
            return None
        return Path(path).with_name(Path(path).name + "-audit")
    tail = db_url.rsplit("/", 1)[-1].split("?", 1)[0] or "default"
    digest = hashlib.sha256(db_url.encode()).hexdigest()[:12]
    return Path("data") / "audit-spool" / f"{tail}-{digest}"


class Spool:
    def __init__(
        self,
        backend: Backend,
        directory: Path,
        insert: Callable[[Cursor, bytes, int], None],
        *,
        every: float | None = None,
        background: bool = True,
        journal: bool = True,
    ) -> None:
        """`background`: this process ships its journal itself (a shipper thread); False when
        a shipper process does it for every process of the node (`hygie audit ship`, started
        by `hygie serve`). `journal`: False for that shipper process, which writes none."""
        self.backend = backend
        self.background = background
        self.directory = directory
        self.insert = insert  # (cursor, JSON array of rows, count): recorder.insert_batch
        # how often the shipper runs (HYGIE_AUDIT_SHIP_EVERY, seconds): the delay before a
        # read's record is in audit_event; longer means larger, cheaper batches
        self.every = every or float(os.environ.get("HYGIE_AUDIT_SHIP_EVERY", "0.2"))
        directory.mkdir(parents=True, exist_ok=True)
        backend.create_schema(spool_ddl(backend.dialect))
        self._lock = threading.Lock()  # appends and rotation
        self._ship_lock = threading.Lock()  # one shipping at a time in this process
        self._fd, self._name = self._open() if journal else (-1, "")
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._adopted_at = 0.0
        self._written = 0  # bytes appended to the current journal (rotation without a thread)
        self._rotation_checked = 0

    # -- writing ------------------------------------------------------------------------------
    def append(self, row: Sequence[Any]) -> None:
        """The record is in the journal when this returns (one write(2), O_APPEND)."""
        line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._fd < 0:
                raise RuntimeError("the audit spool is closed")
            written = os.write(self._fd, line)
            if written != len(line):  # a full disk: never answer with a torn record
                raise OSError(f"audit spool: wrote {written} of {len(line)} bytes")
            self._written += written
        if self.background:
            if self._thread is None:
                self._start()
        elif self._written - self._rotation_checked >= ROTATE_CHECK_BYTES:
            # shipped by the node's shipper process: replace the journal once it is large and
            # fully shipped (looked at every ROTATE_CHECK_BYTES, one small query)
            self._rotation_checked = self._written
            if self._written >= ROTATE_BYTES and self._fully_shipped(self._name):
                self._rotate()

    def _after_fork(self) -> None:
        """A forked child has its own journal and shipper (the inherited descriptor, and its
        lock, are the parent's; the parent's shipper thread did not survive the fork)."""
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._fd, self._name = self._open()
        self._pid = os.getpid()
        self._written = self._rotation_checked = 0
        self._thread = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    def _open(self) -> tuple[int, str]:
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, name

    # -- shipping -----------------------------------------------------------------------------
    def _start(self) -> None:
        with self._ship_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hygie-audit-shipper", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            try:
                self.ship()
            except Exception:  # the lines stay in the journal: the next round retries
                log.exception("audit spool: shipping failed")

    def ship(self) -> int:
        """Move the pending lines of this process (and of dead processes') into the audit
        tables now; returns how many records were shipped."""
        with self._ship_lock:
            count = self._ship_file(self._name, own=True) if self._name else 0
            now = time.monotonic()
            if now - self._adopted_at > ADOPT_EVERY:
                self._adopted_at = now
                count += self._adopt()
            return count

    def ship_all(self) -> int:
        """The node's shipper process: every journal of the directory, live ones included (the
        offset's compare-and-set keeps each line shipped once while their owner may flush
        too); the journals of dead processes are deleted once shipped."""
        count = 0
        with self._ship_lock:
            for path in sorted(self.directory.glob(f"*{SUFFIX}")):
                count += self._ship_file(path.name, own=False)
            self._adopted_at = time.monotonic()
            count += self._adopt()
        return count

    def _adopt(self) -> int:
        count = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path.name == self._name:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and ships it
                if os.fstat(fd).st_nlink == 0:
                    continue  # another process adopted it meanwhile (shipped, then deleted)
                count += self._ship_file(path.name, own=False)
                if self._fully_shipped(path.name):
                    self._forget(path.name)
            finally:
                os.close(fd)
        return count

    def _shipped(self, name: str) -> int:
        row = self.backend.read_one("SELECT shipped FROM audit_spool WHERE name = ?", (name,))
        return int(row[0]) if row else 0

    def _fully_shipped(self, name: str) -> bool:
        try:
            return (self.directory / name).stat().st_size <= self._shipped(name)
        except FileNotFoundError:
            return True

    def _ship_file(self, name: str, *, own: bool) -> int:
        count = 0
        path = self.directory / name
        while True:
            offset = self._shipped(name)
            if offset < 0:  # a tombstone: shipped, then deleted
                return count
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read(READ_CHUNK)
            except FileNotFoundError:
                return count
            end = data.rfind(b"\n") + 1
            if end == 0:
                if own and offset >= ROTATE_BYTES:
                    self._rotate()
                return count
            batch, n = _batch(data[:end], name, offset)
            new = offset + end

            def job(
                cur: Cursor, batch: bytes = batch, n: int = n, new: int = new, offset: int = offset
            ) -> bool:
                # One shipper per journal is the rule (its owner holds the flock; an adopter
                # takes it), and the offset is checked again under the row's lock here: were
                # two shippers ever to race, each line would still be shipped once.
                cur.execute(
                    "INSERT INTO audit_spool (name, shipped) VALUES (?, 0)"
                    " ON CONFLICT (name) DO NOTHING",
                    (name,),
                )
                lock = " FOR UPDATE" if cur.dialect == "postgres" else ""
                row = cur.fetchone(f"SELECT shipped FROM audit_spool WHERE name = ?{lock}", (name,))
                if row is None or int(row[0]) != offset:
                    return False
                if n:
                    self.insert(cur, batch, n)
                cur.execute("UPDATE audit_spool SET shipped = ? WHERE name = ?", (new, name))
                return True

            if self.backend.run_write(job):
                count += n
                if len(data) < READ_CHUNK:
                    # caught up with the journal as it was read: the lines written meanwhile
                    # wait for the next round, in one batch (chasing the writer would ship a
                    # handful of lines per transaction: measured, ~15 per batch under load, and
                    # five times the shipper's CPU per record)
                    if own and new >= ROTATE_BYTES:
                        self._rotate()
                    return count

    def _rotate(self) -> None:
        """A new journal for this process; the old one (fully shipped) is deleted."""
        with self._lock:
            old_fd, old_name = self._fd, self._name
            if self._fully_shipped(old_name):
                self._fd, self._name = self._open()
                self._written = self._rotation_checked = 0
                self._forget(old_name)  # deleted while still locked: never adopted
                os.close(old_fd)

    def _forget(self, name: str) -> None:
        """Delete a fully shipped journal. Its row stays as a tombstone (shipped = minus the
        time of deletion) for TOMBSTONE_SECONDS: a shipper that read the journal before it
        was deleted must not find the offset gone (0) and ship it all again."""
        with contextlib.suppress(FileNotFoundError):
            (self.directory / name).unlink()
        now = int(time.time())

        def job(cur: Cursor) -> None:
            cur.execute(
                "INSERT INTO audit_spool (name, shipped) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET shipped = excluded.shipped",
                (name, -now),
            )
            cur.execute(
                "DELETE FROM audit_spool WHERE shipped < 0 AND shipped > ?",
                (-(now - TOMBSTONE_SECONDS),),
            )

        self.backend.run_write(job)

    def close(self) -> None:
        """Ship everything, delete the journal, stop the shipper (a second call does nothing)."""
        if self._fd < 0:  # closed already, or the shipper process's (no journal of its own)
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.ship()
        except Exception:
            log.exception("audit spool: final shipping failed; the journal is kept")
            with self._lock:
                os.close(self._fd)
                self._fd = -1
            return
        with self._lock:
            fd, self._fd = self._fd, -1
            if self._fully_shipped(self._name):
                self._forget(self._name)  # deleted while still locked: never adopted
            os.close(fd)


def _batch(lines: bytes, name: str, offset: int) -> tuple[bytes, int]:
    """Journal lines as one JSON array of rows, and how many; checked here (orjson, once for
    the batch) so that the database is never handed an unreadable record."""
    batch = b"[" + lines.rstrip(b"\n").replace(b"\n", b",") + b"]"
    try:
        return batch, len(orjson.loads(batch))
    except orjson.JSONDecodeError:  # a torn line (a crash mid-write): skipped, the rest kept
        good = []
        for line in lines.splitlines():
            try:
                orjson.loads(line)
                good.append(line)
            except orjson.JSONDecodeError:
                log.error("audit spool %s: unreadable line after offset %d skipped", name, offset)
        return b"[" + b",".join(good) + b"]", len(good)
