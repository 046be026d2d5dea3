"""PostgreSQL backend: a connection pool, statements prepared on first use.

Core SQL uses `?` placeholders; they are translated to psycopg's `%s` once per statement text.
Write transactions run at READ COMMITTED with explicit row locks (`FOR UPDATE`) taken by the
Repository where version order matters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from hygie.store.base import Backend, Cursor


@lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """Translate `?` placeholders to `%s` (core SQL never holds a literal `?` or `%`)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresCursor(Cursor):
    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.cur = conn.cursor()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.cur.execute(to_pyformat(sql), args)

    def fetchone(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.cur.execute(to_pyformat(sql), args).fetchone()

    def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.cur.execute(to_pyformat(sql), args).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(to_pyformat(sql), rows)

    def insert_returning_id(self, sql: str, args: Sequence[Any]) -> int:
        row = self.cur.execute(to_pyformat(sql), args).fetchone()
        assert row is not None
        return row[0]

    def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk load with COPY (the fast path for imports)."""
        with self.cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)


class PostgresBackend(Backend):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": False, "prepare_threshold": 1},
            open=True,
            name="hygie",
        )
        self.pool.wait(timeout=30)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self.pool.connection() as conn:
            yield PostgresCursor(conn)
            conn.rollback()

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        # pool.connection() commits on normal exit and rolls back on an exception.
        with self.pool.connection() as conn:
            yield PostgresCursor(conn)

    def create_schema(self, ddl: Sequence[str]) -> None:
        with self.pool.connection() as conn:
            # one schema creation at a time across processes (several workers start together)
            conn.execute("SELECT pg_advisory_xact_lock(4242)")
            for stmt in ddl:
                conn.execute(stmt)

    def close(self) -> None:
        self.pool.close()
