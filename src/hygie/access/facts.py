"""The facts the policy decides on, read from the search indexes (no derived copy to keep in
sync) and cached a short while per process:

* the care relationship: a practitioner treats a patient when named as a participant of one
  of the patient's CareTeams (`CareTeam.participant`, not inactive / entered-in-error) or
  Encounters (`Encounter.participant`, not cancelled / entered-in-error);
* the patient's oppositions: active Consents whose provision denies (`provision.type = deny`)
  an actor (that professional), nobody in particular (all professionals), or the purpose of use
  BTG (break-the-glass);
* the break-the-glass grants (`access_grant`), time-limited.

Caching: facts are reused for `cache_seconds` (2 s by default) and dropped at once in this
process when a CareTeam, Encounter or Consent is written; another worker process sees a change
after at most `cache_seconds`, or twice that for what is derived from the facts and cached with
them (the row filter of a caller, the set of patients a practitioner sees).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.access.labels import ACT_REASON_SYSTEM, BREAK_THE_GLASS
from hygie.search.keys import param_key
from hygie.store.base import Backend

CARE_TYPES = frozenset({"CareTeam", "Encounter", "Consent", "PractitionerRole"})
_CARE_PARAMS = (
    param_key("CareTeam", "participant"),
    param_key("Encounter", "participant"),
    param_key("Encounter", "practitioner"),
)
_STATUS_PARAMS = (param_key("CareTeam", "status"), param_key("Encounter", "status"))
_ENDED = ("inactive", "entered-in-error", "cancelled")
_ROLE_PRACTITIONER = param_key("PractitionerRole", "practitioner")

GRANT_DDL = [
    "CREATE TABLE IF NOT EXISTS access_grant (practitioner TEXT NOT NULL, patient TEXT NOT NULL,"
    " reason TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS access_grant_p ON access_grant (practitioner, expires)",
]


@dataclass(frozen=True, slots=True)
class Opposition:
    everyone: bool = False  # opposed to every professional (break-the-glass still possible)
    actors: frozenset[str] = frozenset()  # Practitioner/… opposed by name (BTG included)
    btg: bool = False  # opposed to break-the-glass access

    def blocks(self, actor: str, btg: bool) -> bool:
        if actor in self.actors:
            return True
        return self.btg if btg else self.everyone


NONE = Opposition()


def opposition_of(consents: Iterable[dict[str, Any]]) -> Opposition:
    everyone, btg, actors = False, False, set()
    for consent in consents:
        if consent.get("status") != "active":
            continue
        for prov in _provisions(consent.get("provision")):
            if prov.get("type") != "deny":
                continue
            named = [
                ((a or {}).get("reference") or {}).get("reference") for a in prov.get("actor") or ()
            ]
            purposes = {
                c.get("code")
                for c in prov.get("purpose") or ()
                if isinstance(c, dict) and c.get("system") == ACT_REASON_SYSTEM
            }
            if BREAK_THE_GLASS in purposes:
                btg = True
            elif named:
                actors.update(n for n in named if isinstance(n, str))
            else:
                everyone = True
    return Opposition(everyone, frozenset(actors), btg)


def _provisions(prov: Any) -> list[dict[str, Any]]:
    if not isinstance(prov, dict):
        return []
    out = [prov]
    for sub in prov.get("provision") or ():
        out.extend(_provisions(sub))
    return out


def _team_sql(practitioner_id: str) -> tuple[str, list[Any]]:
    """The ids of the patients a practitioner treats (CareTeam / Encounter participant, not
    ended), as one SELECT."""
    sql = (
        "SELECT DISTINCT c.cid FROM idx_reference ref JOIN compartment c ON c.rid = ref.rid"
        f" WHERE ref.param IN ({_marks(3)}) AND ref.target_id = ?"
        " AND ref.target_type = 'Practitioner' AND c.ctype = 'Patient'"
        " AND NOT EXISTS (SELECT 1 FROM idx_token st WHERE st.rid = ref.rid"
        f" AND st.param IN ({_marks(2)}) AND st.code IN ({_marks(3)}))"
    )
    return sql, [*_CARE_PARAMS, practitioner_id, *_STATUS_PARAMS, *_ENDED]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class Facts:
    def __init__(self, backend: Backend, ttl: float) -> None:
        self.backend = backend
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Any, threading.Event] = {}  # keys being loaded, one loader each
        self._generation = 0  # bumped by forget(): a load begun before must not be kept

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def cached(self, key: tuple[Any, ...], load: Any) -> Any:
        """`load()`, reused for `ttl` seconds and until `forget`."""
        return self._cached(key, load)  # type: ignore[arg-type]

    def _cached(self, key: tuple[str, str], load: Any) -> Any:
        """One loader per key at a time: when a fact expires, one caller reloads it while the
        others keep the expired value (at most one load's time older); when there is none
        (first use, or after `forget`), they wait for that load instead of all running it."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
            loading = self._loading.get(key)
            mine = loading is None
            if mine:
                loading = self._loading[key] = threading.Event()
            generation = self._generation
        if not mine:
            if hit is not None:
                return hit[1]
            loading.wait(timeout=30)  # type: ignore[union-attr]
            again = self._cache.get(key)
            return again[1] if again is not None else load()
        try:
            value = load()
            with self._lock:
                if generation == self._generation:
                    if len(self._cache) > 50_000:
                        self._cache.clear()
                    self._cache[key] = (now, value)
            return value
        finally:
            with self._lock:
                self._loading.pop(key, None)
            loading.set()  # type: ignore[union-attr]

    # -- care relationship --------------------------------------------------------------------
    def team(self, practitioner_id: str) -> frozenset[str]:
        """Ids of the patients this practitioner treats."""
        return self._cached(("team", practitioner_id), lambda: self._team(practitioner_id))

    def _team(self, practitioner_id: str) -> frozenset[str]:
        sql, args = _team_sql(practitioner_id)
        with self.backend.read() as cur:
            return frozenset(str(r[0]) for r in cur.fetchall(sql, args))

    def team_oppositions(self, practitioner_id: str) -> dict[str, Opposition]:
        """The oppositions of the patients this practitioner treats, in one query (few
        patients have any: those absent have none). Also remembered per patient."""
        return self._cached(  # type: ignore[no-any-return]
            ("team-opp", practitioner_id), lambda: self._team_oppositions(practitioner_id)
        )

    def _team_oppositions(self, practitioner_id: str) -> dict[str, Opposition]:
        team_sql, team_args = _team_sql(practitioner_id)
        sql = (
            "SELECT c.cid, r.content FROM compartment c JOIN resources r ON r.rid = c.rid"
            f" WHERE c.ctype = 'Patient' AND c.cid IN ({team_sql})"
            " AND r.rtype = 'Consent' AND r.deleted = 0"
        )
        by_patient: dict[str, list[dict[str, Any]]] = {}
        with self.backend.read() as cur:
            for cid, content in cur.fetchall(sql, team_args):
                by_patient.setdefault(str(cid), []).append(orjson.loads(content))
        return {pid: opposition_of(cs) for pid, cs in by_patient.items()}

    def roles(self, practitioner_id: str) -> frozenset[str]:
        """Ids of the PractitionerRoles of this practitioner (authors may name a role)."""
        return self._cached(("roles", practitioner_id), lambda: self._roles(practitioner_id))

    def _roles(self, practitioner_id: str) -> frozenset[str]:
        sql = (
            "SELECT r.id FROM idx_reference ref JOIN resources r ON r.rid = ref.rid"
            " WHERE ref.param = ? AND ref.target_id = ? AND ref.target_type = 'Practitioner'"
            " AND r.rtype = 'PractitionerRole'"
        )
        with self.backend.read() as cur:
            rows = cur.fetchall(sql, (_ROLE_PRACTITIONER, practitioner_id))
        return frozenset(str(r[0]) for r in rows)

    # -- oppositions --------------------------------------------------------------------------
    def oppositions(self, patient_ids: Iterable[str]) -> dict[str, Opposition]:
        out: dict[str, Opposition] = {}
        missing = []
        now = time.monotonic()
        for pid in patient_ids:
            hit = self._cache.get(("opp", pid))
            if hit is not None and now - hit[0] < self.ttl:
                out[pid] = hit[1]
            else:
                missing.append(pid)
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            loaded = self._load_oppositions(chunk)
            with self._lock:
                for pid in chunk:
                    value = loaded.get(pid, NONE)
                    self._cache[("opp", pid)] = (now, value)
                    out[pid] = value
        return out

    def _load_oppositions(self, patient_ids: list[str]) -> dict[str, Opposition]:
        sql = (
            "SELECT c.cid, r.content FROM compartment c JOIN resources r ON r.rid = c.rid"
            f" WHERE c.ctype = 'Patient' AND c.cid IN ({_marks(len(patient_ids))})"
            " AND r.rtype = 'Consent' AND r.deleted = 0"
        )
        by_patient: dict[str, list[dict[str, Any]]] = {}
        with self.backend.read() as cur:
            for cid, content in cur.fetchall(sql, patient_ids):
                by_patient.setdefault(str(cid), []).append(orjson.loads(content))
        return {pid: opposition_of(cs) for pid, cs in by_patient.items()}

    # -- break-the-glass grants ---------------------------------------------------------------
    def grants(self, practitioner_id: str) -> frozenset[str]:
        """Patients this practitioner holds an unexpired break-the-glass grant for."""
        return self._cached(("btg", practitioner_id), lambda: self._grants(practitioner_id))

    def _grants(self, practitioner_id: str) -> frozenset[str]:
        now = time.time_ns() // 1000
        with self.backend.read() as cur:
            found = cur.fetchall(
                "SELECT patient FROM access_grant WHERE practitioner = ? AND expires > ?",
                (practitioner_id, now),
            )
        return frozenset(str(r[0]) for r in found)
