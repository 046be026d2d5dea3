"""The audit trail: every access recorded (reads before the response, writes in their
transaction), the hash chain catches deletions and alterations, the patient's log shows
break-the-glass accesses flagged."""

from __future__ import annotations

import orjson
import pytest

from hygie import access, audit
from hygie.audit.chain import seal_all, verify
from hygie.audit.events import render
from hygie.audit.log import access_log
from hygie.fhir.outcome import FhirError
from hygie.store import Context, Repository
from tests.access import world

BASE = "http://test/fhir"


@pytest.fixture
def secured(repo: Repository) -> Repository:
    access.install(repo)
    audit.install(repo, seal_every=None)
    world.build(repo)
    return repo


def events(repo: Repository) -> list[dict]:
    repo.enforcement.recorder.flush()  # the spooled reads (spool.py) into the tables
    with repo.backend.read() as cur:
        rows = cur.fetchall(
            "SELECT seq, recorded, action, outcome, actor, purpose, patients, content"
            " FROM audit_event ORDER BY recorded, seq"
        )
    return [render(r) for r in rows]


def test_every_access_is_recorded(secured: Repository) -> None:
    gp1 = world._pro("gp1")
    before = len(events(secured))
    secured.read(gp1, "Observation", "obs-pa")
    secured.search(gp1, "Observation", [("patient", "Patient/pa")], base=BASE)
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "poids"},
        "subject": {"reference": "Patient/pa"},
    }
    created = secured.create(gp1, obs)
    with pytest.raises(FhirError):
        secured.read(world._pro("gp2"), "Observation", "obs-pa")  # refused: recorded too
    secured.enforcement.recorder.flush()  # the spooled reads and refusal into the tables
    new = events(secured)[before:]
    assert [(e["action"], e["subtype"][0]["code"], e["outcome"]) for e in new] == [
        ("R", "read", "0"),
        ("E", "search", "0"),
        ("C", "create", "0"),
        ("R", "read", "4"),
    ]
    read = new[0]
    assert read["agent"][0]["who"]["reference"] == "Practitioner/gp1"
    assert read["agent"][0]["requestor"] is True
    roles = {(e["role"]["code"], e["what"]["reference"]) for e in read["entity"]}
    assert roles == {("1", "Patient/pa"), ("4", "Observation/obs-pa")}
    query = [e for e in new[1]["entity"] if e["role"]["code"] == "24"]
    assert query and query[0]["query"]
    assert any(
        e["what"]["reference"] == f"Observation/{created.stored.id}" for e in new[2]["entity"]
    )
    assert Context.system().is_system  # the server's own reads are not audited
    n = len(events(secured))
    secured.read(Context.system(), "Observation", "obs-pa")
    assert len(events(secured)) == n


def test_a_failed_write_leaves_no_record(secured: Repository) -> None:
    n = len(events(secured))
    gp1 = world._pro("gp1")
    with pytest.raises(FhirError):
        secured.create(gp1, {"resourceType": "Observation", "status": "bogus"})
    assert len(events(secured)) == n


def test_the_chain_detects_deleted_and_altered_records(secured: Repository) -> None:
    gp1 = world._pro("gp1")
    backend = secured.backend
    blocks = []
    for _ in range(2):  # two sealed blocks
        for _ in range(5):
            secured.read(gp1, "Observation", "obs-pa")
        secured.enforcement.recorder.flush()
        blocks.append(seal_all(backend, grace_us=0))
    assert blocks[0] >= 5 and blocks[1] == 5
    report = verify(backend)
    assert report.ok and report.checked >= 10, report.problems
    with backend.read() as cur:
        entries = cur.fetchall("SELECT first_seq, seq FROM audit_chain ORDER BY seq")
    assert len(entries) == 2 and entries[1][0] == entries[0][1] + 1  # contiguous blocks
    with backend.write() as cur:
        cur.execute("DELETE FROM audit_event WHERE seq = 2")
        cur.execute("UPDATE audit_event SET actor = 'Practitioner/nobody' WHERE seq = 3")
    report = verify(backend)
    assert "audit record 2 was deleted" in report.problems
    assert "audit record 3 was altered" in report.problems
    assert len(report.problems) == 2, report.problems
    with backend.write() as cur:  # a record slipped into the sealed range
        cur.execute(
            "INSERT INTO audit_event (seq, recorded, action, outcome, actor, purpose, patients,"
            " content) SELECT 2, recorded, action, outcome, actor, purpose, patients, content"
            " FROM audit_event WHERE seq = 4"
        )
    assert "audit record 2 was altered" in verify(backend).problems
    with backend.write() as cur:
        cur.execute("DELETE FROM audit_chain WHERE seq = ?", (entries[0][1],))
    problems = verify(backend).problems
    assert any("missing" in p for p in problems), problems
    assert any("inside the sealed range but not sealed" in p for p in problems)
    with backend.write() as cur:  # an entry's digests tampered with
        cur.execute("UPDATE audit_chain SET digest = ? WHERE seq = ?", (bytes(160), entries[1][1]))
    assert any("altered (hash mismatch)" in p for p in verify(backend).problems)


def test_the_chain_keeps_verifying_entries_of_earlier_versions(secured: Repository) -> None:
    """Entries of one number each (kinds `event` and `gap`, before blocks) stay verifiable and
    blocks chain after them."""
    from hygie.audit.chain import GENESIS, digest, link

    backend = secured.backend
    gp1 = world._pro("gp1")
    for _ in range(3):
        secured.read(gp1, "Observation", "obs-pa")
    secured.enforcement.recorder.flush()
    with backend.write() as cur:  # as the sealer of earlier versions wrote them
        cur.execute("DELETE FROM audit_chain")
        rows = cur.fetchall(
            "SELECT seq, recorded, action, outcome, actor, purpose, patients, content"
            " FROM audit_event ORDER BY seq"
        )
        prev = GENESIS
        for row in rows:
            prev = link(b"", prev, int(row[0]), "event", digest(row))
            cur.execute(
                "INSERT INTO audit_chain (seq, kind, digest, hash) VALUES (?, 'event', ?, ?)",
                (int(row[0]), digest(row), prev),
            )
    secured.read(gp1, "Observation", "obs-pa")
    secured.enforcement.recorder.flush()
    assert seal_all(backend, grace_us=0) == 1
    report = verify(backend)
    assert report.ok, report.problems
    assert report.checked == len(rows) + 1
    with backend.write() as cur:
        cur.execute("DELETE FROM audit_event WHERE seq = ?", (int(rows[0][0]),))
    assert f"audit record {rows[0][0]} was deleted" in verify(backend).problems


def test_rolled_back_numbers_become_sealed_gaps(secured: Repository) -> None:
    backend = secured.backend
    gp1 = world._pro("gp1")
    secured.read(gp1, "Observation", "obs-pa")

    def doomed(cur) -> None:
        from hygie.audit.recorder import insert_rows

        insert_rows(cur, [secured.enforcement.recorder.row(_access(gp1))])
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        backend.run_write(doomed)
    secured.read(gp1, "Observation", "obs-pa")
    secured.enforcement.recorder.flush()
    seal_all(backend, grace_us=0)
    report = verify(backend)
    assert report.ok, report.problems
    with backend.read() as cur:
        blobs = [bytes(r[0]) for r in cur.fetchall("SELECT digest FROM audit_chain")]
    gaps = [b[i : i + 32] for b in blobs for i in range(0, len(b), 32) if not any(b[i : i + 32])]
    if backend.dialect == "postgres":  # SQLite never skips a number
        assert gaps  # the rolled-back number, sealed as a gap


def _access(ctx):
    from hygie.store.context import Access

    return Access(ctx, "read", "Observation", "obs-pa")


def test_the_patients_log_flags_break_the_glass(secured: Repository) -> None:
    btg = world._pro("gp3", purpose="BTG", btg_reason="patient inconscient aux urgences")
    secured.read(btg, "Observation", "obs-pa")
    secured.read(world._pro("gp1"), "Observation", "obs-pa")
    secured.enforcement.recorder.flush()
    log = access_log(secured.backend, "Patient/pa", base=BASE)
    found = [
        orjson.loads(bytes(e["resource"])) if not isinstance(e["resource"], dict) else e["resource"]
        for e in orjson.loads(orjson.dumps(log))["entry"]
    ]
    who = [(e["agent"][0]["who"]["reference"], "purposeOfEvent" in e) for e in found]
    assert who[:2] == [("Practitioner/gp1", False), ("Practitioner/gp3", True)]
    assert found[1]["purposeOfEvent"][0]["text"] == "patient inconscient aux urgences"
    # the grant was recorded with an expiry, and the patient notified through the outbox
    with secured.backend.read() as cur:
        grants = cur.fetchall("SELECT patient, expires > created FROM access_grant")
        topics = [r[0] for r in cur.fetchall("SELECT topic FROM outbox")]
    assert ("pa", True) in [(g[0], bool(g[1])) for g in grants]
    assert "access.break-the-glass" in topics
    # without a reason: refused
    with pytest.raises(FhirError) as exc:
        secured.read(world._pro("gp3", purpose="BTG"), "Observation", "obs-pa")
    assert exc.value.status == 403


def test_logins_and_failures_are_recorded(secured: Repository) -> None:
    from hygie.auth import events as auth_events

    auth_events.emit(
        auth_events.AuthEvent(
            auth_events.LOGIN_FAILURE,
            username="dr.x",
            source="10.0.0.9",
            detail={"reason": "bad-password"},
        )
    )
    auth_events.emit(
        auth_events.AuthEvent(
            auth_events.LOGIN_SUCCESS, user="u1", username="dr.x", actor="Practitioner/gp1"
        )
    )
    logins = [e for e in events(secured) if e["type"]["code"] == "110114"]
    assert [(e["outcome"], e["agent"][0]["who"]["reference"]) for e in logins[-2:]] == [
        ("4", "unknown/dr.x"),
        ("0", "Practitioner/gp1"),
    ]
    assert logins[-2]["outcomeDesc"] == "bad-password"
    assert logins[-2]["agent"][1]["network"]["address"] == "10.0.0.9"


def test_the_verify_command(secured: Repository, db_url: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    secured.read(world._pro("gp1"), "Observation", "obs-pa")
    hygie = str(Path(sys.executable).parent / "hygie")
    ok = subprocess.run([hygie, "audit", "verify", "--db", db_url], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    with secured.backend.write() as cur:
        cur.execute("UPDATE audit_event SET outcome = 0 WHERE seq = 1")
        cur.execute("UPDATE audit_event SET actor = 'Practitioner/x' WHERE seq = 1")
    bad = subprocess.run([hygie, "audit", "verify", "--db", db_url], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "audit record 1 was altered" in bad.stderr
