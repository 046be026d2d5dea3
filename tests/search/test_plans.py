"""The main search shapes must use their index: SQLite EXPLAIN QUERY PLAN without full scans,
and PostgreSQL EXPLAIN (with sequential scans priced out) naming the index."""

from __future__ import annotations

import sqlite3

import pytest

from hygie.search import index_ddl, param_key, parse
from hygie.search.paging import Cursor
from hygie.search.sorting import (
    _driver,
    _rid_ordered,
    chunk_select,
    driven_select,
    index_page_select,
    window_select,
)
from hygie.search.sql import page_select

CORE = """CREATE TABLE resources (rid INTEGER PRIMARY KEY, rtype TEXT NOT NULL, id TEXT NOT NULL,
version INTEGER, last_updated BIGINT, deleted INTEGER, hash BLOB, content TEXT, UNIQUE (rtype, id))"""
PG_CORE = """CREATE TABLE IF NOT EXISTS resources (rid BIGSERIAL PRIMARY KEY, rtype TEXT NOT NULL,
id TEXT NOT NULL, version INTEGER, last_updated BIGINT, deleted SMALLINT, hash BYTEA, content TEXT,
UNIQUE (rtype, id))"""
TYPE_UPDATED = (
    "CREATE INDEX IF NOT EXISTS resources_type_updated ON resources (rtype, last_updated)"
)

SHAPES = [
    ("Patient", "name=hel", "idx_string_v"),
    ("Observation", "code=http://loinc.org|1234", "idx_token_c"),
    ("Observation", "date=ge2024", "idx_date"),
    ("Observation", "subject=Patient/1", "idx_reference_t"),
    ("Observation", "subject:Patient.name=x", "idx_string_v"),
    ("Patient", "_has:Observation:subject:code=x", "idx_token_c"),
    ("Observation", "code=x&_sort=-date", "idx_date_rid"),
    ("Observation", "component-code-value-quantity=8480-6$gt140", "idx_quantity_v"),
    ("Location", "near=47.2|-1.5|10|km", "idx_near_v"),
]
# sorted searches over large result sets: the sort index drives (sorting.py)
DRIVEN = [
    ("Observation", "_sort=date", "idx_date_v"),
    ("Observation", "_sort=-date", "idx_date_h"),
    ("Patient", "_sort=family", "idx_string_v"),
    ("Patient", "gender=male&_sort=-family", "idx_string_v"),
]


def _query(rtype, query):
    return parse(rtype, [tuple(p.split("=", 1)) for p in query.split("&")])


def _shape_sql(rtype, query):
    return page_select(_query(rtype, query), None, "sqlite", None, 21)


def _driven_sql(rtype, query, dialect, cursor):
    q = _query(rtype, query)
    drv = _driver(q)
    assert drv is not None
    keyed = Cursor(["8" if drv.table == "idx_string" else 15_000_000], 7) if cursor else None
    if dialect == "postgres" and len(q.sort) == 1:
        return chunk_select(q, None, drv, keyed, False, 50)  # what sorting._driven runs there
    return driven_select(q, None, dialect, drv, keyed, False, 21)


@pytest.fixture(scope="module")
def conn():
    c = sqlite3.connect(":memory:")
    for stmt in [CORE, TYPE_UPDATED, *index_ddl("sqlite")]:
        c.execute(stmt)
    return c


def _sqlite_plan(conn, sql, args):
    return [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]


@pytest.mark.parametrize(("rtype", "query", "index"), SHAPES)
def test_main_shapes_use_their_index(conn, rtype, query, index):
    plan = _sqlite_plan(conn, *_shape_sql(rtype, query))
    assert not [line for line in plan if line.startswith("SCAN")], plan
    assert any(index in line for line in plan), plan
    assert not any("USING INDEX sqlite_autoindex_resources_1 (rtype=?)" in p for p in plan), plan


@pytest.mark.parametrize("cursor", [False, True])
@pytest.mark.parametrize(("rtype", "query", "index"), DRIVEN)
def test_sorted_pages_are_driven_by_the_sort_index(conn, rtype, query, index, cursor):
    plan = _sqlite_plan(conn, *_driven_sql(rtype, query, "sqlite", cursor))
    assert not [line for line in plan if line.startswith("SCAN")], plan
    assert index in plan[0] and plan[0].startswith("SEARCH s"), plan


@pytest.mark.parametrize("back", [False, True])
@pytest.mark.parametrize(
    "query",
    [
        "code=8867-4",  # no system: a seek by code would read every Observation with it
        "code=http://loinc.org|8867-4",
        "date=ge2024",
        "status=final&subject=Patient/1",
        "value-quantity=gt5",
        "code:not=x",
    ],
)
def test_unsorted_broad_searches_probe_each_row_by_rid_on_sqlite(conn, query, back):
    """Without `_sort`, a broad filter is checked on a window of rids, each condition by the
    row's own (rid, param) index entries (never a value-index range per row)."""
    q = _query("Observation", query)
    assert _rid_ordered(q, None)
    plan = _sqlite_plan(conn, *window_select(q, 1000, 744 if back else 1256, 21))
    assert plan[0] == "SEARCH r USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", plan
    probes = [line for line in plan if line.startswith("SEARCH idx_")]
    assert probes and all("_rid (rid=? AND param=?)" in line for line in probes), plan
    assert not [line for line in plan if line.startswith("SCAN")], plan


@pytest.fixture(scope="module")
def pg(request):
    try:
        import psycopg

        server = request.getfixturevalue("postgres_server")
    except Exception as exc:  # no PostgreSQL binaries on this machine
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    name = server.create_database()
    conn = psycopg.connect(server.url(name), autocommit=True)
    for stmt in [PG_CORE, TYPE_UPDATED, *index_ddl("postgres")]:
        conn.execute(stmt)
    _seed(conn)
    yield conn
    conn.close()
    server.drop_database(name)


def _seed(conn, n=20_000):
    """Enough rows, analysed, for the planner to cost the shapes as at scale."""
    half = n // 2
    conn.execute(
        "INSERT INTO resources (rid, rtype, id, version, last_updated, deleted, method, content)"
        " SELECT g, CASE WHEN g <= %s THEN 'Patient' ELSE 'Observation' END, 'r' || g, 1, g, 0, 'POST',"
        " '{}' FROM generate_series(1, %s::int) g",
        (half, n),
    )
    keys = {
        code: param_key(t, code)
        for t, code in [
            ("Patient", "family"),
            ("Observation", "date"),
            ("Patient", "gender"),
            ("Patient", "name"),
        ]
    }
    conn.execute(
        "INSERT INTO idx_string (rid, param, value_norm, value) SELECT g, k, md5(g::text),"
        " md5(g::text) FROM generate_series(1, %s::int) g, unnest(ARRAY[%s, %s]) k",
        (half, keys["family"], keys["name"]),
    )
    # given names: 5 values over 10,000 patients, runs of 2,000 equal sort values
    conn.execute(
        "INSERT INTO idx_string (rid, param, value_norm, value) SELECT g, %s, 'given' || (g %% 5),"
        " 'Given' FROM generate_series(1, %s::int) g",
        (param_key("Patient", "given"), half),
    )
    conn.execute(
        "INSERT INTO idx_token (rid, param, system, code) SELECT g, %s, 'x',"
        " CASE WHEN g %% 2 = 0 THEN 'male' ELSE 'female' END FROM generate_series(1, %s::int) g",
        (keys["gender"], half),
    )
    conn.execute(
        "INSERT INTO idx_date (rid, param, low, high) SELECT g, %s, g * 1000, g * 1000 + 999"
        " FROM generate_series(%s::int, %s::int) g",
        (keys["date"], half + 1, n),
    )
    conn.execute(
        "INSERT INTO idx_quantity (rid, param, system, code, value, low, high) SELECT g, g %% 97,"
        " 'u', 'kg', g, g, g FROM generate_series(%s::int, %s::int) g",
        (half + 1, n),
    )
    conn.execute(
        "INSERT INTO resources (rid, rtype, id, version, last_updated, deleted, method, content)"
        " SELECT g, 'Location', 'r' || g, 1, g, 0, 'POST', '{}'"
        " FROM generate_series(%s::int, %s::int) g",
        (n + 1, 2 * n),
    )
    conn.execute(
        "INSERT INTO idx_near (rid, param, lat, lon) SELECT g, %s, 40 + (g %% 1000) / 100.0,"
        " (g %% 700) / 100.0 FROM generate_series(%s::int, %s::int) g",
        (param_key("Location", "near"), n + 1, 2 * n),
    )
    conn.execute("ANALYZE")


def _pg_plan(pg, sql, args):
    rows = pg.execute("EXPLAIN " + sql.replace("?", "%s"), list(args)).fetchall()
    return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize(("rtype", "query", "index"), SHAPES)
def test_main_shapes_use_their_index_on_postgres(pg, rtype, query, index):
    q = _query(rtype, query)
    pg.execute("SET enable_seqscan = off")  # the tables hold no rows for most shapes
    try:
        plan = _pg_plan(pg, *page_select(q, None, "postgres", None, 21))
    finally:
        pg.execute("SET enable_seqscan = on")
    assert "Seq Scan" not in plan, plan
    assert index.rstrip("_") in plan or index in plan, plan


# with a filter, PostgreSQL weighs both plans by its statistics: see bench/search at scale
@pytest.mark.parametrize(("rtype", "query", "index"), DRIVEN[:3])
def test_sorted_pages_are_driven_on_postgres(pg, rtype, query, index):
    plan = _pg_plan(pg, *_driven_sql(rtype, query, "postgres", True))
    assert "Seq Scan" not in plan, plan
    assert index in plan, plan
    # no sort of the whole result: an incremental sort of ties at most
    assert not [ln for ln in plan.split("\n") if ln.strip().lstrip("-> ").startswith("Sort  ")], (
        plan
    )


def _numbered(sql):
    n = 0

    def next_mark(_):
        nonlocal n
        n += 1
        return f"${n}"

    import re

    return re.sub(r"\?", next_mark, sql)


@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize(
    ("query", "cursor", "index"),
    [
        # deep inside a run of 2,000 equal values: PostgreSQL used to estimate a few rows after
        # the seek, fetch all the rest through a bitmap scan and sort them (page 50 of
        # `_sort=family` cost 50x page 1)
        ("_sort=given", Cursor(["given2"], 6_002), "idx_string_v"),
        ("_sort=-given", Cursor(["given2"], 6_002), "idx_string_v"),
        ("_sort=family", Cursor(["8"], 7), "idx_string_v"),
        ("_sort=-date", Cursor([15_000_000], 7), "idx_date_h"),
        ("gender=male&_sort=given", Cursor(["given1"], 3_001), "idx_string_v"),
    ],
)
def test_sorted_keyset_page_reads_its_index_in_order_on_postgres(pg, query, cursor, index, generic):
    """The page after a keyset cursor reads the sort index in order from the cursor, whatever
    the planner estimates: with the cursor values (custom plan) and without them (the generic
    plan of a prepared statement, which the store's connections use after a few executions)."""
    rtype = "Observation" if "date" in query else "Patient"
    q = _query(rtype, query)
    drv = _driver(q)
    sql, args = chunk_select(q, None, drv, cursor, False, 50)
    if generic:
        types = ["bigint" if isinstance(a, int) else "text" for a in args]
        pg.execute("DEALLOCATE ALL")
        pg.execute(f"PREPARE page ({', '.join(types)}) AS {_numbered(sql)}")
        pg.execute("SET plan_cache_mode = force_generic_plan")
        try:
            from psycopg import sql as pgsql

            values = ", ".join(pgsql.Literal(a).as_string(pg) for a in args)
            rows = pg.execute(f"EXPLAIN EXECUTE page ({values})").fetchall()
        finally:
            pg.execute("RESET plan_cache_mode")
            pg.execute("DEALLOCATE page")
        plan = "\n".join(r[0] for r in rows)
    else:
        plan = _pg_plan(pg, sql, args)
    lines = [ln.strip().lstrip("-> ").strip() for ln in plan.split("\n") if "(cost=" in ln]
    scan = next(i for i, ln in enumerate(lines) if index in ln)
    assert lines[scan].startswith(("Index Only Scan", "Index Scan")), plan
    assert lines[scan - 1].startswith(("Limit", "Incremental Sort")), plan
    assert not [ln for ln in lines if ln.startswith("Sort  ")], plan  # no sort of all the rest
    driving = f" on {drv.table} s "
    assert not [ln for ln in lines if driving in ln and not ln.startswith("Index")], plan


@pytest.mark.parametrize("query", ["family=c4", "gender=female"])
def test_one_condition_pages_from_the_index_alone_on_postgres(pg, query):
    """No sort, one condition: the page's rids from the value index (an index-only scan and
    a top-N of rids), then only those resources by primary key; no scan of resources."""
    q = _query("Patient", query)
    built = index_page_select(q, None, None, 21, "postgres")
    assert built is not None
    plan = _pg_plan(pg, *built)
    assert "Seq Scan" not in plan, plan
    assert "resources_pkey" in plan, plan
    assert ("idx_string_v" in plan) if query.startswith("family") else ("idx_token" in plan), plan
