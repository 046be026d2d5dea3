"""The hash chain over the audit records, and its verification (`hygie audit verify`).

Writers do not chain: a record gets a number from the audit sequence inside its own
transaction, so concurrent transactions never wait for each other. A sealer (one at a time:
an advisory lock on PostgreSQL, the single writer on SQLite) then takes the committed records
in number order after the last sealed one and appends ONE chain entry for the block of numbers
`first..last` it covers:

    digests = d(first) ‖ … ‖ d(last)      d(n) = SHA-256 of record n, or 32 zero bytes when no
                                          committed record holds n (a rolled-back transaction)
    hash    = HMAC-SHA256(key, previous hash ‖ last ‖ "block" ‖ first ‖ SHA-256(digests))

A missing number becomes a gap only once a later record is older than the grace period (a
number can be taken before a slower transaction commits). Every number up to the head is thus
either a sealed record or a sealed gap: deleting or altering a sealed record, a chain entry, or
inserting a record inside the sealed range is detected, and named (the per-number digests are
kept). Sealing costs one hash per record and one row per block, so the chain keeps up with
thousands of reads a second. Truncating the tail (the newest records and their entries
together) is detected only against a head noted elsewhere: `verify` prints the head; keep it
(logs, a ticket, WORM storage). `HYGIE_AUDIT_KEY` makes the chain an HMAC only the server can
extend. Entries of kind `event` and `gap` (one number each) come from earlier versions and are
verified as they were written.
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


def digest(row: Any) -> bytes:
    """Digest of one record (seq, recorded, action, outcome, actor, purpose, patients, content)."""
    values = [int(row[0]), int(row[1]), row[2], int(row[3]), row[4], row[5], row[6], row[7]]
    return hashlib.sha256(orjson.dumps(values)).digest()


def link(key: bytes, previous: bytes, seq: int, kind: str, dig: bytes) -> bytes:
    """The hash of a one-number entry (kinds `event` and `gap`, earlier versions)."""
    msg = previous + seq.to_bytes(8, "big") + kind.encode() + dig
    return hmac.digest(key, msg, "sha256")  # the one-shot C implementation


def link_block(key: bytes, previous: bytes, first: int, last: int, digests: bytes) -> bytes:
    msg = (
        previous
        + last.to_bytes(8, "big")
        + b"block"
        + first.to_bytes(8, "big")
        + hashlib.sha256(digests).digest()
    )
    return hmac.digest(key, msg, "sha256")


def records_after(cur: Cursor, after: int, limit: int) -> list[list[Any]]:
    """Up to `limit` records numbered after `after`, in number order, each as the list digest()
    takes, fetched as ONE JSON value (one step of one statement, not a row at a time)."""
    if cur.dialect == "postgres":
        sql = (
            f"SELECT json_agg(json_build_array({_EVENT_COLS}) ORDER BY seq)::text FROM"
            f" (SELECT {_EVENT_COLS} FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?) e"
        )
    else:
        sql = (
            f"SELECT json_group_array(json_array({_EVENT_COLS})) FROM"
            f" (SELECT {_EVENT_COLS} FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?)"
        )
    row = cur.fetchone(sql, (after, limit))
    rows: list[list[Any]] = orjson.loads(row[0]) if row and row[0] else []
    rows.sort(key=lambda r: r[0])  # SQLite's aggregate follows its subquery's order; be sure
    return rows


def seal(
    backend: Backend, *, grace_us: int = GRACE_US, limit: int = 5000, key: bytes | None = None
) -> int:
    """Chain the committed records after the head as one block; the numbers sealed."""
    key = chain_key() if key is None else key

    def job(cur: Cursor) -> int:
        if cur.dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        head = cur.fetchone("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        last, prev = (int(head[0]), bytes(head[1])) if head else (0, GENESIS)
        now = time.time_ns() // 1000
        digests: list[bytes] = []
        expected = last + 1
        for row in records_after(cur, last, limit):
            seq = int(row[0])
            if seq > expected and now - int(row[1]) < grace_us:
                break  # a missing number may still be committed by a slower transaction
            if seq - expected >= limit:  # a long gap: sealed over several blocks
                digests.extend([GENESIS] * limit)
                expected += limit
                break
            digests.extend([GENESIS] * (seq - expected))
            digests.append(digest(row))
            expected = seq + 1
        if not digests:
            return 0
        blob = b"".join(digests)
        first, end = last + 1, expected - 1
        cur.execute(
            "INSERT INTO audit_chain (seq, kind, digest, hash, first_seq) VALUES (?, ?, ?, ?, ?)",
            (end, "block", blob, link_block(key, prev, first, end, blob), first),
        )
        return len(digests)

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
    total_row = backend.read_one("SELECT COALESCE(MAX(seq), 0) FROM audit_chain")
    total = int(total_row[0]) if total_row else 0
    records = _Records(backend, chunk)
    prev, last = GENESIS, 0
    unsealed_inside = 0
    for seq, kind, stored, stored_hash, first in _entries(backend):
        first = seq if first is None else int(first)
        if first != last + 1:
            report.problems.append(f"chain entries {last + 1}..{first - 1} are missing")
        if kind == "block":
            expected = link_block(key, prev, first, seq, stored)
            digests = [stored[i : i + 32] for i in range(0, len(stored), 32)]
        else:
            expected = link(key, prev, seq, kind, stored)
            digests = [stored if kind == "event" else GENESIS]
        if expected != stored_hash or len(digests) != seq - first + 1:
            report.problems.append(f"chain entry {seq} was altered (hash mismatch)")
        for n, row in records.upto(seq):
            if n < first:  # in numbers no entry covers (missing entries, reported above)
                unsealed_inside += 1
                if unsealed_inside <= 100:
                    report.problems.append(
                        f"audit record {n} is inside the sealed range but not sealed"
                    )
                continue
            if n - first < len(digests) and digests[n - first] == GENESIS:
                report.problems.append(f"audit record {n} appeared after it was sealed as a gap")
            elif n - first < len(digests) and digest(row) != digests[n - first]:
                report.problems.append(f"audit record {n} was altered")
            records.seen.add(n)
        for offset, dig in enumerate(digests):
            n = first + offset
            if dig != GENESIS and n not in records.seen:
                report.problems.append(f"audit record {n} was deleted")
        records.seen.clear()
        prev, last = stored_hash, seq
        report.checked += seq - first + 1
        if progress is not None:
            progress(last, total)
    report.head, report.head_hash = last, prev.hex()
    row = backend.read_one("SELECT COUNT(*) FROM audit_event WHERE seq > ?", (last,))
    report.unsealed = int(row[0]) if row else 0
    return report


def _entries(backend: Backend, page: int = 64) -> Any:
    """The chain entries in number order: (last seq, kind, digest(s), hash, first seq)."""
    after = -1
    while True:
        with backend.read() as cur:
            rows = cur.fetchall(
                "SELECT seq, kind, digest, hash, first_seq FROM audit_chain WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (after, page),
            )
        if not rows:
            return
        for r in rows:
            yield int(r[0]), r[1], bytes(r[2]), bytes(r[3]), r[4]
        after = int(rows[-1][0])


class _Records:
    """The records in number order, read a page at a time, handed out up to a number."""

    def __init__(self, backend: Backend, page: int) -> None:
        self.backend = backend
        self.page = page
        self.after = 0
        self.buffer: list[list[Any]] = []
        self.done = False
        self.seen: set[int] = set()

    def upto(self, seq: int) -> Any:
        while True:
            if not self.buffer and not self.done:
                with self.backend.read() as cur:
                    self.buffer = records_after(cur, self.after, self.page)[::-1]
                self.done = not self.buffer
                if self.buffer:
                    self.after = int(self.buffer[0][0])
            if not self.buffer or int(self.buffer[-1][0]) > seq:
                return
            row = self.buffer.pop()
            yield int(row[0]), row
