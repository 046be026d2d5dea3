"""The node's audit shipper: one process per node (per spool directory) moves the journaled
read records of every server process into the audit tables and seals the hash chain.

`hygie serve` starts it (`hygie audit ship --parent PID`) and sets HYGIE_AUDIT_SHIPPER=process
for its workers, which then only append to their journals: shipping and sealing with threads
inside a request process took the GIL from the requests (measured: the secure server's reads
per second halved, bench/policy_overhead.py). It stops with its parent; if it dies, the
journals keep the records until it runs again (`serve` restarts it), nothing is lost.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from hygie.audit.chain import seal
from hygie.audit.recorder import insert_batch
from hygie.audit.schema import audit_ddl, upgrade
from hygie.audit.spool import Spool
from hygie.store.base import Backend

log = logging.getLogger("hygie.audit")


def run(
    backend: Backend,
    spool_dir: os.PathLike[str] | str,
    *,
    every: float = 0.2,
    seal_every: float = 1.0,
    parent: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Ship every `every` seconds and seal every `seal_every` (0: never) until `stop` is set,
    SIGTERM arrives, or the parent process `parent` is gone; then one last round."""
    from pathlib import Path

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    backend.create_schema(audit_ddl(backend.dialect))
    upgrade(backend)
    spool = Spool(backend, Path(spool_dir), insert_batch, every=every, journal=False)
    sealed_at = 0.0
    while True:
        last = stop.is_set() or (parent is not None and os.getppid() != parent)
        try:
            spool.ship_all()
            now = time.monotonic()
            if seal_every and (last or now - sealed_at >= seal_every):
                sealed_at = now
                while seal(backend) and not stop.is_set():
                    pass
        except Exception:  # the journals keep the records: the next round retries
            log.exception("audit shipper: round failed")
        if last:
            return
        stop.wait(every)


def supervise(db_url: str) -> threading.Event:
    """Start `hygie audit ship` for `db_url` as a child process of this one, and start it again
    if it dies; the returned event stops it (also stopped when this process exits)."""
    import atexit
    import subprocess
    import sys

    stop = threading.Event()
    cmd = [
        sys.executable,
        "-c",
        "from hygie.cli import app; app()",
        "audit",
        "ship",
        "--db",
        db_url,
        "--parent",
        str(os.getpid()),
    ]
    current: list[subprocess.Popen[bytes]] = []

    def keep_running() -> None:
        while not stop.is_set():
            proc = subprocess.Popen(cmd)
            current[:] = [proc]
            while proc.poll() is None and not stop.wait(1.0):
                pass
            if stop.is_set():
                break
            log.error("audit shipper exited with %s; restarting it", proc.returncode)
            time.sleep(1.0)

    owner = os.getpid()

    def shut_down() -> None:
        if os.getpid() != owner:  # a forked worker inherits the atexit hook, not the child
            return
        stop.set()
        for proc in current:
            if proc.poll() is None:
                proc.terminate()  # its last round ships what the workers wrote
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    threading.Thread(target=keep_running, name="hygie-audit-supervisor", daemon=True).start()
    atexit.register(shut_down)
    return stop
