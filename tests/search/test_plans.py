"""The main search shapes must use their index (SQLite EXPLAIN QUERY PLAN, no full scans)."""

from __future__ import annotations

import sqlite3

import pytest

from hygie.search import index_ddl, parse
from hygie.search.sql import page_select

CORE = """CREATE TABLE resources (rid INTEGER PRIMARY KEY, rtype TEXT NOT NULL, id TEXT NOT NULL,
version INTEGER, last_updated BIGINT, deleted INTEGER, hash BLOB, content TEXT, UNIQUE (rtype, id))"""


@pytest.fixture(scope="module")
def conn():
    c = sqlite3.connect(":memory:")
    for stmt in [CORE, *index_ddl("sqlite")]:
        c.execute(stmt)
    return c


@pytest.mark.parametrize(
    ("rtype", "query", "index"),
    [
        ("Patient", "name=hel", "idx_string_v"),
        ("Observation", "code=http://loinc.org|1234", "idx_token_c"),
        ("Observation", "date=ge2024", "idx_date"),
        ("Observation", "subject=Patient/1", "idx_reference_t"),
        ("Observation", "subject:Patient.name=x", "idx_string_v"),
        ("Patient", "_has:Observation:subject:code=x", "idx_token_c"),
        ("Observation", "code=x&_sort=-date", "idx_date_rid"),
    ],
)
def test_main_shapes_use_their_index(conn, rtype, query, index):
    q = parse(rtype, [tuple(p.split("=", 1)) for p in query.split("&")])
    sql, args = page_select(q, None, "sqlite", None, 21)
    plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]
    assert not [line for line in plan if line.startswith("SCAN")], plan
    assert any(index in line for line in plan), plan
    assert not any("USING INDEX sqlite_autoindex_resources_1 (rtype=?)" in p for p in plan), plan
