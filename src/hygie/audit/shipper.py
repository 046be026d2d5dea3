"""The node's audit shipper: one process per node (per spool directory) moves the journaled
read records of every server process into the audit tables and seals the hash chain.

`hygie serve` runs it in the node's background process (hygie/background.py) and sets
HYGIE_AUDIT_SHIPPER=process for its workers, which then only append to their journals;
`hygie audit ship` runs it alone: shipping and sealing with threads
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
