"""DDL of the search index tables, filled by the Repository on every write (same transaction).

One table per search-parameter type; each row = (resource key `rid`, parameter key `param`,
normalised value(s)). `param` is a signed 64-bit hash of "<ResourceType>.<code>" (see
`hygie.search.index.param_key`). Dates are [low, high) ranges in microseconds since the epoch,
UTC. Rows exist only for current, non-deleted versions.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "postgres"]

# table name -> column names after `rid` (the order of the tuples `index.extract` returns)
INDEX_TABLES: dict[str, tuple[str, ...]] = {
    "idx_string": ("param", "value_norm", "value"),
    "idx_token": ("param", "system", "code", "text_norm"),
    "idx_date": ("param", "low", "high"),
    "idx_number": ("param", "value", "low", "high"),
    "idx_quantity": ("param", "system", "code", "value", "low", "high"),
    "idx_reference": ("param", "target_type", "target_id", "target_version", "url"),
    "idx_uri": ("param", "value"),
    "idx_near": ("param", "lat", "lon"),
    "compartment": ("ctype", "cid"),
}

_TYPES = {
    "param": "BIGINT NOT NULL",
    "value_norm": "TEXT NOT NULL",
    "value": "TEXT",
    "system": "TEXT",
    "code": "TEXT",
    "text_norm": "TEXT",
    "low": "BIGINT",
    "high": "BIGINT",
    "target_type": "TEXT",
    "target_id": "TEXT",
    "target_version": "TEXT",
    "url": "TEXT",
    "ctype": "TEXT NOT NULL",
    "cid": "TEXT NOT NULL",
    "lat": "DOUBLE PRECISION",
    "lon": "DOUBLE PRECISION",
}
# numeric columns of number/quantity tables hold decimals, not epoch integers
_NUMERIC = {"idx_number", "idx_quantity"}

_INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_string_v ON idx_string (param, value_norm, rid)",
    "CREATE INDEX IF NOT EXISTS idx_token_c ON idx_token (param, code, system, rid)",
    "CREATE INDEX IF NOT EXISTS idx_date_v ON idx_date (param, low, high, rid)",
    "CREATE INDEX IF NOT EXISTS idx_date_h ON idx_date (param, high, low, rid)",
    "CREATE INDEX IF NOT EXISTS idx_number_v ON idx_number (param, value, rid)",
    "CREATE INDEX IF NOT EXISTS idx_quantity_v ON idx_quantity (param, code, value, rid)",
    "CREATE INDEX IF NOT EXISTS idx_reference_t ON idx_reference (param, target_id, target_type, rid)",
    "CREATE INDEX IF NOT EXISTS idx_uri_v ON idx_uri (param, value, rid)",
    "CREATE INDEX IF NOT EXISTS idx_near_v ON idx_near (param, lat, lon, rid)",
    "CREATE INDEX IF NOT EXISTS compartment_c ON compartment (ctype, cid, rid)",
]


def index_ddl(dialect: Dialect) -> list[str]:
    stmts = []
    for table, cols in INDEX_TABLES.items():
        defs = ["rid BIGINT NOT NULL"]
        for c in cols:
            t = _TYPES[c]
            if (table in _NUMERIC and c in ("value", "low", "high")) or c in ("lat", "lon"):
                t = "DOUBLE PRECISION" if dialect == "postgres" else "REAL"
            elif t.startswith("TEXT") and dialect == "postgres":
                # byte order, as SQLite's BINARY: prefix ranges and sorts agree on both
                t = t.replace("TEXT", 'TEXT COLLATE "C"', 1)
            defs.append(f"{c} {t}")
        stmts.append(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
        # (rid, param): deletes by rid, and per-resource look-ups (sort keys, includes, _has)
        key = "rid, param" if "param" in cols else "rid"
        stmts.append(f"CREATE INDEX IF NOT EXISTS {table}_rid ON {table} ({key})")
    return stmts + _INDEXES
