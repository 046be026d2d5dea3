"""The audit spool (hygie.audit.spool): a read's record is in the journal file when the read
returns, reaches `audit_event` exactly once, and survives the death of its process (another
process of the same database adopts the journal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from hygie.audit.recorder import AuditRecorder
from hygie.store import open_backend
from hygie.store.context import PRACTITIONER, Access, Context

GP = Context(actor="Practitioner/gp1", kind=PRACTITIONER, scopes=frozenset({"user/*.rs"}))


def count(backend, actor: str = GP.actor) -> int:
    row = backend.read_one("SELECT count(*) FROM audit_event WHERE actor = ?", (actor,))
    return int(row[0])


def journal_lines(directory: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in directory.glob("*.spool"))


def test_a_read_is_journaled_before_it_returns_and_shipped_once(db_url: str, tmp_path: Path):
    backend = open_backend(db_url)
    spool = tmp_path / "spool"
    recorder = AuditRecorder(backend, spool=spool)
    recorder.spool.every = 3600  # no shipping by the thread during the test
    try:
        for n in range(3):
            recorder.record(Access(GP, "read", "Observation", f"o{n}", 200, patients={"Patient/p"}))
        assert journal_lines(spool) == 3  # on disk when record() returned
        assert count(backend) == 0  # not shipped yet
        recorder.flush()
        assert count(backend) == 3
        recorder.flush()  # nothing shipped twice
        assert count(backend) == 3
        rows = backend.read_one("SELECT count(*) FROM audit_patient WHERE patient = 'Patient/p'")
        assert rows[0] == 3  # the patient's access-log index too
    finally:
        recorder.close()
    assert count(backend) == 3
    assert journal_lines(spool) == 0  # a clean close removes the shipped journal
    backend.close()


CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from hygie.audit.recorder import AuditRecorder
    from hygie.store import open_backend
    from hygie.store.context import PRACTITIONER, Access, Context
    ctx = Context(actor="Practitioner/dead", kind=PRACTITIONER, scopes=frozenset())
    recorder = AuditRecorder(open_backend(sys.argv[1]), spool=Path(sys.argv[2]))
    recorder.spool.every = 3600
    for n in range(int(sys.argv[3])):
        recorder.record(Access(ctx, "read", "Observation", f"o{n}", 200))
    os.kill(os.getpid(), 9)  # dies before shipping anything
    """
)


def test_the_journal_of_a_dead_process_is_adopted(db_url: str, tmp_path: Path):
    spool = tmp_path / "spool"
    child = subprocess.run([sys.executable, "-c", CHILD, db_url, str(spool), "7"], check=False)
    assert child.returncode == -9
    assert journal_lines(spool) == 7
    backend = open_backend(db_url)
    assert count(backend, "Practitioner/dead") == 0
    recorder = AuditRecorder(backend, spool=spool)
    try:
        recorder.flush()  # the first shipping looks for journals nobody holds
        assert count(backend, "Practitioner/dead") == 7
        assert not [p for p in spool.glob("*.spool") if p.name != recorder.spool._name]
        recorder.spool._adopted_at = 0  # look again: nothing left to adopt
        recorder.flush()
        assert count(backend, "Practitioner/dead") == 7
    finally:
        recorder.close()
        backend.close()


def test_a_live_process_journal_is_left_to_its_owner(db_url: str, tmp_path: Path):
    spool = tmp_path / "spool"
    backend = open_backend(db_url)
    owner = AuditRecorder(backend, spool=spool)
    owner.spool.every = 3600
    other = AuditRecorder(backend, spool=spool)
    try:
        owner.record(Access(GP, "read", "Observation", "o1", 200))
        other.flush()  # the owner's lock is held: not adopted
        assert count(backend) == 0
        owner.flush()
        assert count(backend) == 1
    finally:
        other.close()
        owner.close()
        backend.close()


def test_without_a_spool_a_read_waits_for_its_commit(db_url: str):
    backend = open_backend(db_url)
    recorder = AuditRecorder(backend, spool=None)
    try:
        recorder.record(Access(GP, "read", "Observation", "o1", 200))
        assert count(backend) == 1  # committed before record() returned
    finally:
        recorder.close()
        backend.close()


def test_a_forked_process_writes_its_own_journal(db_url: str, tmp_path: Path):
    """A worker forked after the recorder was made journals into a file of its own (the
    inherited descriptor and lock are the parent's); its lines are shipped once."""
    import os

    spool = tmp_path / "spool"
    backend = open_backend(db_url)
    recorder = AuditRecorder(backend, spool=spool)
    recorder.spool.every = 3600
    try:
        recorder.record(Access(GP, "read", "Observation", "parent", 200))
        pid = os.fork()
        if pid == 0:  # the child: one record, then gone without shipping
            try:
                recorder.record(Access(GP, "read", "Observation", "child", 200))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        journals = sorted(spool.glob("*.spool"))
        assert len(journals) == 2
        assert sum(p.read_bytes().count(b"\n") for p in journals) == 2
        recorder.spool._adopted_at = 0
        recorder.flush()
        recorder.flush()
        assert count(backend) == 2
    finally:
        recorder.close()
        backend.close()


def test_a_shipped_journal_is_replaced_past_its_size_limit(
    db_url: str, tmp_path: Path, monkeypatch
):
    from hygie.audit import spool as spool_module

    monkeypatch.setattr(spool_module, "ROTATE_BYTES", 200)
    spool = tmp_path / "spool"
    backend = open_backend(db_url)
    recorder = AuditRecorder(backend, spool=spool)
    recorder.spool.every = 3600
    try:
        first = recorder.spool._name
        for n in range(5):
            recorder.record(Access(GP, "read", "Observation", f"o{n}", 200))
        recorder.flush()  # ships the 5 lines, then the journal is over 200 bytes: replaced
        assert recorder.spool._name != first and not (spool / first).exists()
        recorder.record(Access(GP, "read", "Observation", "after", 200))
        recorder.flush()
        assert count(backend) == 6
        assert [p.name for p in spool.glob("*.spool")] == [recorder.spool._name]
    finally:
        recorder.close()
        backend.close()


def test_two_shippers_of_one_journal_ship_each_line_once(db_url: str, tmp_path: Path):
    """Two shippers racing on the same journal (the flock protocol forbids it; this is the
    second line of defence): the offset is checked under the row's lock, no line twice."""
    import threading

    from hygie.audit.recorder import insert_batch
    from hygie.audit.spool import Spool

    backend = open_backend(db_url)
    spool = tmp_path / "spool"
    recorder = AuditRecorder(backend, spool=spool)
    recorder.spool.every = 3600
    other = Spool(backend, spool, insert_batch, every=3600)
    try:
        name = recorder.spool._name
        errors: list[BaseException] = []

        def ship(s: Spool) -> None:
            try:
                for _ in range(20):
                    s._ship_file(name, own=s is recorder.spool)
            except BaseException as exc:  # a unique-key race is retried by the next round
                errors.append(exc)

        for round_ in range(5):
            for n in range(200):
                access = Access(GP, "read", "Observation", f"o{round_}-{n}", 200)
                recorder.record(access)
            threads = [threading.Thread(target=ship, args=(s,)) for s in (recorder.spool, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        recorder.flush()
        assert count(backend) == 1000
        rows = backend.read_one("SELECT count(DISTINCT content) FROM audit_event")
        assert rows[0] == 1000
    finally:
        other.close()
        recorder.close()
        backend.close()
