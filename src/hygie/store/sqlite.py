"""SQLite backend: the embedded default.

WAL journal, one writer at a time: write jobs go through a queue to one writer thread that
commits concurrent jobs together (`_group_commit.py`); other processes wait on SQLite's busy
timeout. Any number of readers on per-thread connections. WAL checkpoints run in the background
(`_checkpoint.py`), off the commit path. `synchronous=NORMAL` in WAL mode loses no committed
transaction when the process is killed (the WAL is in the OS page cache);
`sqlite:///path.db?synchronous=full` also survives a power loss, at the cost of an fsync per
commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hygie.store._checkpoint import Checkpointer
from hygie.store._group_commit import GroupCommitWriter
from hygie.store.base import Backend, Cursor, T


class SQLiteCursor(Cursor):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, args)

    def fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, args).fetchone()

    def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, args).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def insert_returning_id(self, sql: str, args: Sequence[Any]) -> int:
        return self.conn.execute(sql, args).fetchone()[0]


class SQLiteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, url: str, *, synchronous: str | None = None) -> None:
        self.url = url
        self.path, options = parse_sqlite_url(url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = (synchronous or options.get("synchronous", "NORMAL")).upper()
        if self.synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be normal, full or extra, not {self.synchronous!r}")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self._write_lock:
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
        self._writer: GroupCommitWriter | None = None
        self._writer_lock = threading.Lock()
        self._checkpointer = (
            Checkpointer(self.path, self._connect) if self.path != ":memory:" else None
        )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA mmap_size=268435456")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see _checkpoint.py
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def run_write(self, job: Callable[[Cursor], T]) -> T:
        if self._conn().in_transaction:  # already inside a write on this thread
            return job(SQLiteCursor(self._conn()))
        if threading.current_thread().name == "hygie-sqlite-writer":
            raise RuntimeError("nested run_write from inside a write job")
        with self._writer_lock:
            if self._writer is None:
                self._writer = GroupCommitWriter(self._conn, self._write_lock, SQLiteCursor)
        return self._writer.submit(job)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        conn = self._conn()
        if conn.in_transaction:  # nested inside a write on this thread: same snapshot
            yield SQLiteCursor(conn)
            return
        conn.execute("BEGIN")
        try:
            yield SQLiteCursor(conn)
        finally:
            conn.execute("COMMIT")

    def read_one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self._conn().execute(sql, args).fetchone()

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            self._local.writing = True
            try:
                yield SQLiteCursor(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._local.writing = False
            conn.execute("COMMIT")

    def current_write(self) -> Cursor | None:
        conn = getattr(self._local, "conn", None)
        if conn is None or not conn.in_transaction:
            return None
        writer = self._writer
        on_writer = writer is not None and writer.thread is threading.current_thread()
        if on_writer or getattr(self._local, "writing", False):
            return SQLiteCursor(conn)
        return None  # a read transaction

    def create_schema(self, ddl: Sequence[str]) -> None:
        with self.write() as cur:
            for stmt in ddl:
                cur.execute(stmt)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


def parse_sqlite_url(url: str) -> tuple[str, dict[str, str]]:
    """`sqlite:///./data/hygie.db?synchronous=full` -> (`./data/hygie.db`, {"synchronous": "full"});
    `sqlite:////abs/x.db` -> `/abs/x.db`."""
    from urllib.parse import parse_qsl

    url, _, query = url.partition("?")
    options = dict(parse_qsl(query))
    if url in ("sqlite://", "sqlite:///:memory:"):
        return ":memory:", options
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return url[len("sqlite:///") :], options
