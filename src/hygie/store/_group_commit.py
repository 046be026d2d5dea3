"""Group commit for SQLite: one writer thread runs queued write jobs, several per transaction.

Each job runs inside its own SAVEPOINT, so a failing job is rolled back alone; the whole group
is committed once, then every caller is answered. A caller is answered only after the COMMIT
that holds its write, so no acknowledged write can be lost. With one job queued this is a plain
transaction; under concurrent load the cost of COMMIT (writing the WAL frames) is shared.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

MAX_GROUP = 64


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        lock: threading.Lock,
        wrap: Callable[[sqlite3.Connection], Any],
    ) -> None:
        self._connect = connect
        self._lock = lock  # the backend's write lock: maintenance writes exclude the group
        self._wrap = wrap
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], Any], Future] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="hygie-sqlite-writer", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, job: Callable[[Any], Any]) -> Any:
        fut: Future = Future()
        self._queue.put((job, fut))
        return fut.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = self._connect()
        cur = self._wrap(conn)
        while True:
            item = self._queue.get()
            if item is None:
                conn.close()
                return
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
            self._run_group(conn, cur, group)

    def _run_group(self, conn: sqlite3.Connection, cur: Any, group: list) -> None:
        results: list[tuple[Future, bool, Any]] = []
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                for _job, fut in group:
                    fut.set_exception(exc)
                return
            alone = len(group) == 1  # a lone job needs no savepoint: ROLLBACK undoes it
            for job, fut in group:
                if not alone:
                    conn.execute("SAVEPOINT job")
                try:
                    value = job(cur)
                except BaseException as exc:
                    if alone:
                        conn.execute("ROLLBACK")
                        fut.set_exception(exc)
                        return
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((fut, False, exc))
                else:
                    if not alone:
                        conn.execute("RELEASE job")
                    results.append((fut, True, value))
            try:
                conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                for fut, _ok, _v in results:
                    fut.set_exception(exc)
                return
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
