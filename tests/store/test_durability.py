"""Durability: SIGKILL `hygie serve` (its whole process group) during a write load; after a restart
on the same database every write that was acknowledged with a 2xx is there, with its version.

PostgreSQL runs here with its default durability settings (fsync on), unlike the other tests."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("heavy")]

FHIR_JSON = {"Content-Type": "application/fhir+json"}
CREATORS = 4
MIN_ACKS_BEFORE_KILL = 60
ROUNDS = 2


@pytest.fixture(scope="module")
def durable_postgres(postgres_factory) -> Any:
    return postgres_factory(fsync=True)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'durable.db'}"
        return
    server = request.getfixturevalue("durable_postgres")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


class Load:
    """Writer threads that record every acknowledged write until told to stop (or the server
    disappears under them)."""

    def __init__(self, base: str, tag: str) -> None:
        self.base = base
        self.tag = tag
        self.created: dict[str, tuple[str, str]] = {}  # id -> (versionId, family)
        self.updated: dict[str, str] = {}  # id -> last acknowledged versionId
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._create, args=(n,)) for n in range(CREATORS)]
        self.threads.append(threading.Thread(target=self._update))
        self.errors: list[str] = []

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    @property
    def acks(self) -> int:
        with self.lock:
            return len(self.created)

    def _create(self, n: int) -> None:
        seq = 0
        with httpx.Client(timeout=10) as c:
            while not self.stop.is_set():
                seq += 1
                family = f"{self.tag}-{n}-{seq}"
                res = {"resourceType": "Patient", "name": [{"family": family}]}
                try:
                    r = c.post(f"{self.base}/Patient", content=orjson.dumps(res), headers=FHIR_JSON)
                except httpx.HTTPError:
                    return  # the server is gone: this write was never acknowledged
                if 200 <= r.status_code < 300:
                    body = r.json()
                    assert body["meta"]["versionId"] == r.headers["etag"][3:-1]
                    with self.lock:
                        self.created[body["id"]] = (body["meta"]["versionId"], family)
                else:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")

    def _update(self) -> None:
        rid = f"upd-{self.tag}"
        seq = 0
        with httpx.Client(timeout=10) as c:
            while not self.stop.is_set():
                seq += 1
                res = {"resourceType": "Patient", "id": rid, "name": [{"family": f"{rid}-{seq}"}]}
                try:
                    r = c.put(
                        f"{self.base}/Patient/{rid}", content=orjson.dumps(res), headers=FHIR_JSON
                    )
                except httpx.HTTPError:
                    return
                if 200 <= r.status_code < 300:
                    with self.lock:
                        self.updated[rid] = r.headers["etag"][3:-1]
                else:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")


def group_is_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_acknowledged_writes_survive_sigkill(durable_db_url: str, live_server_factory) -> None:
    live = live_server_factory(durable_db_url)
    loads: list[Load] = []
    for round_ in range(ROUNDS):
        load = Load(live.base, f"r{round_}")
        loads.append(load)
        load.start()
        deadline = time.monotonic() + 60
        while load.acks < MIN_ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.02)
        assert load.acks >= MIN_ACKS_BEFORE_KILL, f"load too slow: {load.acks} acks\n{live.log()}"
        pgid = live.proc.pid
        live.kill()  # SIGKILL to the whole group while the writers are still writing
        assert group_is_gone(pgid), "granian processes survived SIGKILL of the group"
        load.join()
        assert not load.errors, load.errors[:5]
        live.start()

    with httpx.Client(base_url=live.base, timeout=30) as c:
        checked = 0
        for load in loads:
            for rid, (version, family) in load.created.items():
                r = c.get(f"/Patient/{rid}")
                assert r.status_code == 200, f"acknowledged Patient/{rid} lost: {r.status_code}"
                body = r.json()
                assert body["meta"]["versionId"] == version
                assert r.headers["etag"] == f'W/"{version}"'
                assert body["name"][0]["family"] == family
                checked += 1
            for rid, version in load.updated.items():
                r = c.get(f"/Patient/{rid}")
                assert r.status_code == 200
                # the write in flight at the kill may have committed without an answer
                assert int(r.json()["meta"]["versionId"]) in (int(version), int(version) + 1)
                assert c.get(f"/Patient/{rid}/_history/{version}").status_code == 200
        assert checked >= ROUNDS * MIN_ACKS_BEFORE_KILL
        # the restarted server keeps writing after the crash
        r = c.post("/Patient", content=orjson.dumps({"resourceType": "Patient"}), headers=FHIR_JSON)
        assert r.status_code == 201
