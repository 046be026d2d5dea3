"""The hash chain over the audit records, and its verification (`hygie audit verify`).

Writers do not chain: a record gets a number from the audit sequence inside its own
transaction, so concurrent transactions never wait for each other. A sealer (one at a time:
an advisory lock on PostgreSQL, the single writer on SQLite) then walks the committed records
in number order after the last sealed one and appends, for each number, a chain entry:

    hash(n) = HMAC-SHA256(key, hash(n-1) ‖ n ‖ kind ‖ digest(n))

with kind `event` and the digest of the record, or kind `gap` for a number no committed record
holds (a rolled-back transaction) once a later record is older than the grace period (a number
can be taken before a slower transaction commits). Every number up to the head is thus either
a sealed record or a sealed gap: deleting or altering a sealed record, a chain entry, or
inserting a record inside the sealed range is detected. Truncating the tail (the newest
records and their entries together) is detected only against a head noted elsewhere: `verify`
prints the head; keep it (logs, a ticket, WORM storage). `HYGIE_AUDIT_KEY` makes the chain an
HMAC only the server can extend.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from hygie.store.base import Backend, Cursor

GENESIS = bytes(32)
GRACE_US = 30_000_000
_LOCK_KEY = 0x6879_6769_6561_7564  # "hygieaud"
_EVENT_COLS = "seq, recorded, action, outcome, actor, purpose, patients, content"


def chain_key() -> bytes:
    return os.environ.get("HYGIE_AUDIT_KEY", "").encode()


def digest(row: tuple[Any, ...]) -> bytes:
    """Digest of one record (seq, recorded, action, outcome, actor, purpose, patients, content)."""
    values = [int(row[0]), int(row[1]), row[2], int(row[3]), row[4], row[5], row[6], row[7]]
    return hashlib.sha256(orjson.dumps(values)).digest()


def link(key: bytes, previous: bytes, seq: int, kind: str, dig: bytes) -> bytes:
    msg = previous + seq.to_bytes(8, "big") + kind.encode() + dig
    return hmac.digest(key, msg, "sha256")  # the one-shot C implementation


def seal(
    backend: Backend, *, grace_us: int = GRACE_US, limit: int = 5000, key: bytes | None = None
) -> int:
    """Chain the committed records after the head; the number of entries added."""
    key = chain_key() if key is None else key

    def job(cur: Cursor) -> int:
        if cur.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        head = cur.fetchone("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        last, prev = (int(head[0]), bytes(head[1])) if head else (0, GENESIS)
        rows = cur.fetchall(
            f"SELECT {_EVENT_COLS} FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?",
            (last, limit),
        )
        now = time.time_ns() // 1000
        entries = []
        expected = last + 1
        for row in rows:
            seq = int(row[0])
            if seq > expected and now - int(row[1]) < grace_us:
                break  # a missing number may still be committed by a slower transaction
            for gap in range(expected, seq):
                prev = link(key, prev, gap, "gap", GENESIS)
                entries.append((gap, "gap", GENESIS, prev))
            dig = digest(row)
            prev = link(key, prev, seq, "event", dig)
            entries.append((seq, "event", dig, prev))
            expected = seq + 1
        if entries:
            cur.executemany(
                "INSERT INTO audit_chain (seq, kind, digest, hash) VALUES (?, ?, ?, ?)", entries
            )
        return len(entries)

    return backend.run_write(job)


def seal_all(backend: Backend, **kwargs: Any) -> int:
    total = 0
    while n := seal(backend, **kwargs):
        total += n
    return total


@dataclass
class Report:
    checked: int = 0
    head: int = 0
    head_hash: str = ""
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    backend: Backend,
    *,
    key: bytes | None = None,
    chunk: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Walk the whole chain and every record; report what was deleted, altered or inserted."""
    key = chain_key() if key is None else key
    report = Report()
    total_row = backend.read_one("SELECT COUNT(*) FROM audit_chain")
    total = int(total_row[0]) if total_row else 0
    prev, last = GENESIS, 0
    while True:
        with backend.read() as cur:
            rows = cur.fetchall(
                "SELECT c.seq, c.kind, c.digest, c.hash, e.seq, e.recorded, e.action, e.outcome,"
                " e.actor, e.purpose, e.patients, e.content FROM audit_chain c"
                " LEFT JOIN audit_event e ON e.seq = c.seq WHERE c.seq > ? ORDER BY c.seq LIMIT ?",
                (last, chunk),
            )
        if not rows:
            break
        for row in rows:
            seq, kind, dig, stored_hash = int(row[0]), row[1], bytes(row[2]), bytes(row[3])
            if seq != last + 1:
                report.problems.append(f"chain entries {last + 1}..{seq - 1} are missing")
            expected = link(key, prev, seq, kind, dig)
            if expected != stored_hash:
                report.problems.append(f"chain entry {seq} was altered (hash mismatch)")
            event = row[4:]
            if kind == "event":
                if event[0] is None:
                    report.problems.append(f"audit record {seq} was deleted")
                elif digest(event) != dig:
                    report.problems.append(f"audit record {seq} was altered")
            elif event[0] is not None:
                report.problems.append(f"audit record {seq} appeared after it was sealed as a gap")
            prev, last = stored_hash, seq
            report.checked += 1
        if progress is not None:
            progress(report.checked, total)
    report.head, report.head_hash = last, prev.hex()
    with backend.read() as cur:
        inserted = cur.fetchall(
            "SELECT e.seq FROM audit_event e LEFT JOIN audit_chain c ON c.seq = e.seq"
            " WHERE c.seq IS NULL AND e.seq <= ? ORDER BY e.seq LIMIT 100",
            (last,),
        )
        for (seq,) in inserted:
            report.problems.append(f"audit record {seq} is inside the sealed range but not sealed")
        row = cur.fetchone("SELECT COUNT(*) FROM audit_event WHERE seq > ?", (last,))
        report.unsealed = int(row[0]) if row else 0
    return report
