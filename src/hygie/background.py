"""The node's background process: `hygie background`, started and supervised by `hygie serve`.

It does, beside the request workers and without taking their GIL:
* the audit shipper (hygie.audit.shipper): the workers' journaled read records into the audit
  tables, and the hash chain sealed — unless HYGIE_AUDIT_SHIPPER=thread (each worker ships);
* the outbox dispatcher (hygie.store.outbox) with the services' handlers: the patient's
  notifications (hygie.services.notifications).

It stops with its parent (`--parent`), after one last round; if it dies, `serve` starts it
again, and nothing is lost meanwhile (journals and outbox rows wait for it).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("hygie.background")


def run(db_url: str, *, ship: bool, parent: int | None) -> None:
    from hygie.audit import spool_dir
    from hygie.audit.shipper import run as ship_forever
    from hygie.services import notifications
    from hygie.store import open_repository
    from hygie.store.outbox import Dispatcher

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    repo = open_repository(db_url)
    dispatcher = Dispatcher(repo.backend)
    notifications.install(repo, dispatcher)
    dispatcher.start()
    try:
        directory = spool_dir(repo.backend) if ship else None
        if directory is not None:
            ship_forever(
                repo.backend,
                directory,
                every=float(os.environ.get("HYGIE_AUDIT_SHIP_EVERY", "0.2")),
                seal_every=float(os.environ.get("HYGIE_AUDIT_SEAL_EVERY", "1.0")),
                parent=parent,
                stop=stop,
            )
        else:
            while not stop.wait(1.0) and (parent is None or os.getppid() == parent):
                pass
    finally:
        dispatcher.stop()
        dispatcher.drain(max_passes=10)
        repo.close()


def supervise(db_url: str, *, ship: bool) -> threading.Event:
    """Start `hygie background` for `db_url` as a child of this process, and again if it dies;
    the returned event stops it (it is also stopped when this process exits)."""
    stop = threading.Event()
    cmd = [
        sys.executable,
        "-c",
        "from hygie.cli import app; app()",
        "background",
        "--db",
        db_url,
        "--parent",
        str(os.getpid()),
        *([] if ship else ["--no-ship"]),
    ]
    current: list[subprocess.Popen[bytes]] = []
    owner = os.getpid()

    def keep_running() -> None:
        while not stop.is_set():
            proc = subprocess.Popen(cmd)
            current[:] = [proc]
            while proc.poll() is None and not stop.wait(1.0):
                pass
            if stop.is_set():
                break
            log.error("the background process exited with %s; restarting it", proc.returncode)
            time.sleep(1.0)

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

    threading.Thread(target=keep_running, name="hygie-background", daemon=True).start()
    atexit.register(shut_down)
    return stop
