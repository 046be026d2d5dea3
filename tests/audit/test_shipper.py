"""The node's audit shipper (hygie.audit.shipper): the workers of `hygie serve` only journal
their reads; one shipper process ships every journal exactly once and seals the chain."""

from __future__ import annotations

import subprocess
import threading
import time

import httpx

from hygie.audit import shipper, spool
from hygie.audit.chain import verify
from hygie.audit.recorder import AuditRecorder
from hygie.store import open_backend
from hygie.store.context import PRACTITIONER, Access, Context
from tests.auth.conftest import auth_repo, secure_live_server  # noqa: F401 (fixtures)

GP = Context(actor="Practitioner/gp1", kind=PRACTITIONER, scopes=frozenset({"user/*.rs"}))


def _count(backend) -> int:
    return int(backend.read_one("SELECT count(*) FROM audit_event")[0])


def test_one_shipper_ships_every_worker_journal_once_and_seals(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "ROTATE_BYTES", 20_000)  # rotation without a shipper thread
    monkeypatch.setattr(spool, "ROTATE_CHECK_BYTES", 2_000)
    directory = tmp_path / "spool"
    workers = [
        AuditRecorder(open_backend(db_url), spool=directory, ship_in_process=False)
        for _ in range(2)
    ]
    backend = open_backend(db_url)
    stop = threading.Event()
    thread = threading.Thread(
        target=shipper.run,
        args=(backend, directory),
        kwargs={"every": 0.05, "seal_every": 0.1, "stop": stop},
    )
    thread.start()
    try:
        for n in range(600):
            for w, recorder in enumerate(workers):
                recorder.record(Access(GP, "read", "Observation", f"o{w}-{n}", 200))
            if n == 300:  # a worker's own flush ($access-log) racing the shipper
                workers[0].flush()
        assert all(r.spool._thread is None for r in workers)  # no shipper thread in workers
        deadline = time.monotonic() + 20
        while _count(backend) < 1200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _count(backend) == 1200
        distinct = backend.read_one("SELECT count(DISTINCT content) FROM audit_event")[0]
        assert distinct == 1200  # none twice
        # the journals were replaced once shipped (each worker keeps one current journal)
        assert len(list(directory.glob("*.spool"))) == 2
    finally:
        stop.set()
        thread.join(timeout=30)
    report = verify(backend)
    assert report.ok and report.checked == 1200 and report.unsealed == 0, report.problems
    for recorder in workers:
        recorder.close()
        recorder.backend.close()
    backend.close()


def test_hygie_serve_runs_one_shipper_for_its_workers(
    auth_repo,  # noqa: F811
    secure_live_server,  # noqa: F811
    db_url,
):
    from tests.auth.conftest import make_system_client

    client_id, secret = make_system_client(auth_repo)
    base = secure_live_server()
    issuer = base.removesuffix("/fhir")
    token = httpx.post(
        f"{issuer}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(client_id, secret),
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    before = _count(auth_repo.backend)
    for _ in range(20):
        assert httpx.get(f"{base}/Patient", headers=bearer).status_code == 200
    # shipped by the shipper process within a fraction of a second (nobody flushes here)
    deadline = time.monotonic() + 15
    while _count(auth_repo.backend) < before + 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _count(auth_repo.backend) >= before + 20
    ships = subprocess.run(
        ["pgrep", "-f", f"background --db {db_url}"], capture_output=True, text=True
    ).stdout.split()
    assert len(ships) == 1, ships  # one for the node, a child of `hygie serve`
    deadline = time.monotonic() + 15
    while verify(auth_repo.backend).unsealed and time.monotonic() < deadline:
        time.sleep(0.2)
    report = verify(auth_repo.backend)
    assert report.ok and report.unsealed == 0, report.problems
