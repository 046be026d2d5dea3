"""A real SQLite database with the core tables and the search index, behind a tiny Cursor.

The query tests only use the `cursor` and `load` fixtures, so they can be re-run against
PostgreSQL by overriding these two fixtures with the store's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from hygie.search import INDEX_TABLES, extract, index_ddl
from hygie.store.base import Cursor
from hygie.store.postgres import PostgresCursor
from hygie.store.sqlite import SQLiteCursor

CORE_DDL = [
    """CREATE TABLE resources (rid INTEGER PRIMARY KEY, rtype TEXT NOT NULL, id TEXT NOT NULL,
    version INTEGER NOT NULL, last_updated BIGINT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    hash BLOB, content TEXT NOT NULL, UNIQUE (rtype, id))""",
]
BASE = "http://test/fhir"


# the store's own cursors, over connections these fixtures open themselves
SqliteCursor = SQLiteCursor


PG_CORE_DDL = [
    """CREATE TABLE resources (rid BIGSERIAL PRIMARY KEY, rtype TEXT NOT NULL, id TEXT NOT NULL,
    version INTEGER NOT NULL, last_updated BIGINT NOT NULL, deleted SMALLINT NOT NULL DEFAULT 0,
    hash BYTEA, content TEXT NOT NULL, UNIQUE (rtype, id))""",
]


@pytest.fixture(scope="session")
def _search_pg(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A PostgreSQL database with the search schema (from the shared server fixtures)."""
    try:
        import psycopg

        start = request.getfixturevalue("postgres_factory")
        server = start(fsync=False)
    except Exception as exc:  # no PostgreSQL binaries on this machine
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    with server.admin() as admin:
        admin.execute("CREATE DATABASE search_tests")
    conn = psycopg.connect(server.url("search_tests"), autocommit=True)
    for stmt in PG_CORE_DDL + index_ddl("postgres"):
        conn.execute(stmt)
    yield conn
    conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def cursor(request: pytest.FixtureRequest) -> Iterator[Cursor]:
    if request.param == "postgres":
        conn = request.getfixturevalue("_search_pg")
        conn.execute("TRUNCATE resources, " + ", ".join(INDEX_TABLES) + " RESTART IDENTITY")
        yield PostgresCursor(conn)
        return
    conn = sqlite3.connect(":memory:")
    for stmt in CORE_DDL + index_ddl("sqlite"):
        conn.execute(stmt)
    yield SqliteCursor(conn)
    conn.close()


def insert(cur: Cursor, resource: dict[str, Any], last_updated: int, deleted: bool = False) -> int:
    rid = cur.insert_returning_id(
        "INSERT INTO resources (rtype, id, version, last_updated, deleted, content)"
        " VALUES (?, ?, 1, ?, ?, ?) RETURNING rid",
        [
            resource["resourceType"],
            resource["id"],
            last_updated,
            int(deleted),
            orjson.dumps(resource).decode(),
        ],
    )
    if not deleted:
        for table, rows in extract(resource).items():
            if rows:
                cols = ", ".join(("rid", *INDEX_TABLES[table]))
                marks = ", ".join("?" * (len(INDEX_TABLES[table]) + 1))
                cur.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks})", [(rid, *r) for r in rows]
                )
    return rid


@pytest.fixture
def load(cursor: Cursor) -> Callable[..., None]:
    """Insert resources (with their index rows); last_updated grows by one second each."""
    state = {"t": 1_700_000_000_000_000}

    def _load(*resources: dict[str, Any], deleted: bool = False) -> None:
        for r in resources:
            state["t"] += 1_000_000
            insert(cursor, r, state["t"], deleted)

    return _load
