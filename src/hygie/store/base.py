"""The storage backend interface, one implementation per database (sqlite.py, postgres.py).

A backend knows SQL and connections, nothing of FHIR semantics: those live in the Repository
(`repository.py`), the only door to health data. All SQL in the core is written with `?`
placeholders; the PostgreSQL backend translates them once per statement text (cached).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

Dialect = Literal["sqlite", "postgres"]
T = TypeVar("T")


class Cursor(ABC):
    """A connection inside an open transaction (or an autocommit read)."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    @abstractmethod
    def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def new_rid(self) -> int | None:
        """A fresh `resources.rid` allocated client-side, or None to let the INSERT pick it."""
        return None

    @abstractmethod
    def insert_returning_id(self, sql: str, args: Sequence[Any]) -> int:
        """Run an INSERT whose SQL ends with `RETURNING <integer column>`; return that value."""


class Backend(ABC):
    dialect: Dialect
    url: str

    @abstractmethod
    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A cursor for reads (a consistent snapshot for the duration of the block)."""

    def read_one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """One row from one statement (a single statement is its own consistent snapshot)."""
        with self.read() as cur:
            return cur.fetchone(sql, args)

    async_reads = False  # True when `aread_one` avoids a thread (an asynchronous driver)

    async def aread_one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.read_one(sql, args)

    @abstractmethod
    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """A write transaction: commits when the block exits normally, rolls back on error."""

    def run_write(self, job: Callable[[Cursor], T]) -> T:
        """Run `job(cursor)` in a write transaction and return its result once committed.

        Backends may commit several concurrent jobs together (group commit); a job that raises
        is rolled back alone and its exception re-raised to its caller.
        """
        with self.write() as cur:
            return job(cur)

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load (PostgreSQL: ANALYZE). Without
        them, right after an import and until autovacuum runs, PostgreSQL may pick plans that
        read a whole index per row. SQLite keeps no statistics: its plans are fixed by the
        queries themselves (INDEXED BY where it matters)."""
        return None

    def current_write(self) -> Cursor | None:
        """The cursor of the write transaction this thread is running, if any.

        What is recorded during a write (an audit record of a read made by a write hook, say)
        joins that transaction instead of waiting for another one: with SQLite's single writer,
        waiting would deadlock.
        """
        return None

    @abstractmethod
    def create_schema(self, ddl: Sequence[str]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # Placeholder conversion helpers --------------------------------------------------------
    @staticmethod
    def like_escape(text: str) -> str:
        """Escape LIKE wildcards in a user value; use with `ESCAPE '\\'`."""
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
