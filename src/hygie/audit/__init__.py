"""The audit trail: a BALP AuditEvent for every access and change (and every login), written
reliably, hash-chained, readable by the patient. `install(repo)` plugs the recorder into a
Repository (`repo.enforcement.recorder`) and starts the sealer; docs/access.md explains it."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hygie.audit.recorder import AuditRecorder
    from hygie.store import Repository

_log = logging.getLogger("hygie.audit")


def install(
    repo: Repository,
    *,
    seal_every: float | None | str = "default",
    spool: Path | str | None = "default",
) -> AuditRecorder:
    """`spool`: the directory of the read records' journals ("default": `HYGIE_AUDIT_SPOOL`,
    else beside the database, see spool.py; None or "off": each read waits for a COMMIT)."""
    from hygie.audit.recorder import AuditRecorder

    # HYGIE_AUDIT_SHIPPER=process (set by `hygie serve`): one shipper process per node ships
    # every worker's journal and seals (`hygie audit ship`, shipper.py); the workers only
    # journal. A thread of the request process would take the GIL from the requests: measured,
    # it halved the secure server's reads per second. Otherwise (a library use, the tests)
    # this process ships and seals with threads of its own.
    external = os.environ.get("HYGIE_AUDIT_SHIPPER", "thread") == "process"
    recorder = AuditRecorder(
        repo.backend, spool=spool_dir(repo.backend, spool), ship_in_process=not external
    )
    repo.enforcement.recorder = recorder
    _listen_to_logins(recorder)
    if seal_every == "default":  # HYGIE_AUDIT_SEAL_EVERY seconds (0: only `hygie audit seal`)
        seal_every = float(os.environ.get("HYGIE_AUDIT_SEAL_EVERY", "1.0"))
    if seal_every and not (external and recorder.spool is not None):
        _start_sealer(recorder, float(seal_every))
    _close_with(repo, recorder)
    return recorder


def spool_dir(backend: Any, spool: Path | str | None = "default") -> Path | None:
    from hygie.audit.spool import default_spool_dir

    if spool == "default":
        if os.environ.get("HYGIE_AUDIT_SPOOL", "").lower() == "off":
            return None
        return default_spool_dir(str(getattr(backend, "url", "sqlite://")))
    if spool is None or str(spool).lower() == "off":
        return None
    return Path(spool)


def _close_with(repo: Repository, recorder: AuditRecorder) -> None:
    """Closing the database first stops the sealer and drains the flushers."""
    backend = repo.backend
    close_backend = backend.close

    def close() -> None:
        stop = getattr(recorder, "stop_sealer", None)
        if stop is not None:
            stop()
        recorder.close()
        close_backend()

    backend.close = close  # type: ignore[method-assign]


def _listen_to_logins(recorder: AuditRecorder) -> None:
    """Login events go to the recorder installed last (one app per server process)."""
    try:
        from hygie.auth import events
    except ImportError:  # the authentication layer is optional for the core
        return
    from hygie.audit import auth_events

    auth_events.current = recorder
    events.subscribe(auth_events.on_event)


def _start_sealer(recorder: AuditRecorder, every: float) -> None:
    from hygie.audit.chain import seal

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                # until caught up: more records than one seal's limit may arrive per round
                while seal(recorder.backend) and not stop.is_set():
                    pass
            except Exception:  # the next round retries; records are safe meanwhile
                _log.exception("audit sealing failed")

    threading.Thread(target=run, name="hygie-audit-sealer", daemon=True).start()
    recorder.stop_sealer = stop.set  # type: ignore[attr-defined]
