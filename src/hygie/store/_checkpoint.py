"""Background WAL checkpoints for SQLite.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, so one write in
a few hundred pays for copying the WAL into the database and for its fsync: a latency spike on
that request. Here connections disable the automatic checkpoint and one daemon thread per
backend checkpoints on its own connection when the WAL has grown: PASSIVE (never blocks
writers or readers), and RESTART only when the WAL is very large, so that it cannot grow
without bound under a constant load.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable

PASSIVE_BYTES = 8 * 1024 * 1024
RESTART_BYTES = 256 * 1024 * 1024
INTERVAL_S = 0.25


class Checkpointer:
    def __init__(self, path: str, connect: Callable[[], sqlite3.Connection]) -> None:
        self._wal = path + "-wal"
        self._connect = connect
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="hygie-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(INTERVAL_S):
                try:
                    size = os.path.getsize(self._wal)
                except OSError:
                    continue
                if size >= RESTART_BYTES:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)")
                elif size >= PASSIVE_BYTES:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the database went away (closed, deleted): nothing left to checkpoint
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
