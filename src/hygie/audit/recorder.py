"""The audit recorder: each access becomes an `audit_event` row.

* A write's record is inserted with the write's own cursor: in its transaction; so is the
  record of a read made inside a write transaction (a write hook resolving a reference).
* A read's record is on disk before the response. By default it is appended to the process's
  audit spool (spool.py: one write(2) to a journal file, shipped into `audit_event` within a
  fraction of a second, exactly once). With `spool=None` (HYGIE_AUDIT_SPOOL=off, or an
  in-memory database) it is committed before the response instead: `record` (threads) and
  `arecord` (the event loop) wait for it; concurrent records are committed together by one
  flusher thread (through the backend's write path, so SQLite's group-commit writer batches
  them further).
* A refused attempt (`note`) never waits: the caller may hold the write lock.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson

from hygie.audit.events import compact, patients_of
from hygie.audit.schema import audit_ddl, upgrade
from hygie.audit.spool import Spool
from hygie.store.base import Backend, Cursor
from hygie.store.context import Access

log = logging.getLogger("hygie.audit")
Row = tuple[int, str, int, str, str | None, str, str, list[str]]
_STOP = object()


class MicroClock:
    """Microsecond timestamps, strictly increasing within the process: the records of one
    process sort in the order of the accesses, whenever they were shipped (spool.py)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            t = max(time.time_ns() // 1000, self._last + 1)
            self._last = t
            return t


class AuditRecorder:
    def __init__(
        self,
        backend: Backend,
        *,
        batch: int = 1000,
        flushers: int | None = None,
        spool: Path | None = None,
        ship_in_process: bool = True,
    ) -> None:
        self.backend = backend
        self.batch = batch
        # PostgreSQL: several transactions in flight overlap their COMMITs (the WAL flush is
        # shared); SQLite has one writer, one flusher feeds it
        self.flushers = flushers or (4 if backend.dialect == "postgres" else 1)
        self.clock = MicroClock()
        backend.create_schema(audit_ddl(backend.dialect))
        upgrade(backend)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.spool = (
            Spool(backend, spool, insert_batch, background=ship_in_process)
            if spool is not None
            else None
        )

    # -- the Recorder protocol ----------------------------------------------------------------
    def record(self, access: Access, cur: Cursor | None = None) -> None:
        row = self.row(access)
        if cur is None:  # a read made inside a write (a write hook's): joins its transaction
            cur = self.backend.current_write()
        if cur is not None:
            insert_rows(cur, [row])
            return
        if self.spool is not None:
            self.spool.append(row)
            return
        done: Future[None] = Future()
        self._put((row, done))
        done.result()

    async def arecord(self, access: Access) -> None:
        if self.spool is not None:
            self.spool.append(self.row(access))
            return
        done: Future[None] = Future()
        self._put((self.row(access), done))
        await asyncio.wrap_future(done)

    def note(self, access: Access) -> None:
        if self.spool is not None:
            self.spool.append(self.row(access))
            return
        self._put((self.row(access), None))

    def flush(self) -> None:
        """The spooled records of this process (and of dead processes) into the tables now."""
        if self.spool is not None:
            self.spool.ship()

    # -- internals ----------------------------------------------------------------------------
    def row(self, access: Access) -> Row:
        """The compact record (the AuditEvent is rendered from it when read: events.render)."""
        recorded = self.clock.now()
        patients = patients_of(access)
        ctx = access.ctx
        return (
            recorded,
            access.action,
            access.status,
            ctx.actor,
            ctx.purpose,
            " ".join(patients),
            orjson.dumps(compact(access)).decode(),
            patients,
        )

    def _put(self, item: Any) -> None:
        if not self._threads:
            with self._lock:
                if not self._threads:
                    for n in range(self.flushers):
                        t = threading.Thread(
                            target=self._flush_forever, name=f"hygie-audit-{n}", daemon=True
                        )
                        t.start()
                        self._threads.append(t)
        self._queue.put(item)

    def _flush_forever(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self.batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stops = sum(1 for i in items if i is _STOP)
            items = [i for i in items if i is not _STOP]
            if items:
                self._flush(items)
            if stops:
                for _ in range(stops - 1):  # the others' stop signals
                    self._queue.put(_STOP)
                return

    def _flush(self, items: list[tuple[Row, Future[None] | None]]) -> None:
        try:
            self.backend.run_write(lambda cur: insert_rows(cur, [r for r, _ in items]))
        except Exception as exc:  # every waiting request fails rather than answer unaudited
            log.exception("audit records could not be written")
            for _, done in items:
                if done is not None:
                    done.set_exception(exc)
            return
        for _, done in items:
            if done is not None:
                done.set_result(None)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(_STOP)
        for t in threads:
            t.join(timeout=10)


def _next_seqs(cur: Cursor, count: int) -> list[int]:
    """The next `count` numbers of the audit sequence, for records inserted by this transaction
    (PostgreSQL: taken in one round trip; a rolled-back transaction leaves a gap the sealer
    records)."""
    if cur.dialect == "postgres":
        return [
            int(r[0])
            for r in cur.fetchall(
                "SELECT nextval(pg_get_serial_sequence('audit_event', 'seq'))"
                " FROM generate_series(1, ?)",
                (count,),
            )
        ]
    # the single writer holds the lock: the next numbers are ours (AUTOINCREMENT's counter,
    # which never goes back even if the newest record was deleted)
    top = cur.fetchone(
        "SELECT MAX(n) FROM (SELECT seq AS n FROM sqlite_sequence WHERE name = 'audit_event'"
        " UNION ALL SELECT MAX(seq) FROM audit_event)"
    )
    first = int(top[0] or 0) + 1 if top else 1
    return list(range(first, first + count))


def insert_rows(cur: Cursor, rows: list[Row]) -> None:
    """Insert records (Python tuples: a write's own record); each gets the next number."""
    seqs = _next_seqs(cur, len(rows))
    cur.executemany(
        "INSERT INTO audit_event (seq, recorded, action, outcome, actor, purpose, patients,"
        " content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(seq, *row[:7]) for seq, row in zip(seqs, rows, strict=True)],
    )
    links = []
    for seq, row in zip(seqs, rows, strict=True):
        links.extend((p, seq) for p in row[7])
    if links:
        cur.executemany("INSERT INTO audit_patient (patient, seq) VALUES (?, ?)", links)


# The records of a spool batch, given as ONE JSON array of rows, inserted by one statement per
# table (SQLite) or one for both (PostgreSQL): the database parses the batch (no Python work per record, and one round trip, or with
# SQLite one step of the statement, where executemany would release and retake the GIL once per
# row, stalling the event loop's thread at each hand-over).
_BATCH_SQL = {
    "sqlite": (
        "INSERT INTO audit_event (seq, recorded, action, outcome, actor, purpose, patients,"
        " content) SELECT ? + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
        " json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
        " json_extract(value, '$[6]') FROM json_each(?)",
        "INSERT INTO audit_patient (patient, seq) SELECT p.value, ? + r.key"
        " FROM json_each(?) AS r, json_each(r.value, '$[7]') AS p",
    ),
    # one statement: the batch parsed once (jsonb), the rows numbered, both tables written
    # (measured: a third less database time per record than json and two statements)
    "postgres": (
        "WITH r AS MATERIALIZED (SELECT r.v, s.seq"
        " FROM jsonb_array_elements(CAST(? AS jsonb)) WITH ORDINALITY AS r(v, n)"
        " JOIN unnest(CAST(? AS bigint[])) WITH ORDINALITY AS s(seq, n) USING (n)),"
        " e AS (INSERT INTO audit_event (seq, recorded, action, outcome, actor, purpose,"
        " patients, content) SELECT seq, (v->>0)::bigint, v->>1, (v->>2)::int, v->>3, v->>4,"
        " v->>5, v->>6 FROM r)"
        " INSERT INTO audit_patient (patient, seq) SELECT p.p, r.seq"
        " FROM r CROSS JOIN LATERAL jsonb_array_elements_text(r.v->7) AS p(p)",
    ),
}


def insert_batch(cur: Cursor, batch: bytes, count: int) -> None:
    """Insert `count` records given as one JSON array of rows (spool lines, checked to parse)."""
    seqs = _next_seqs(cur, count)
    text = batch.decode()
    if cur.dialect == "postgres":
        cur.execute(_BATCH_SQL["postgres"][0], (text, seqs))
    else:  # SQLite's numbers are consecutive: the first one and json_each's array index
        events, patients = _BATCH_SQL["sqlite"]
        cur.execute(events, (seqs[0], text))
        cur.execute(patients, (seqs[0], text))
