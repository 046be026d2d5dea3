"""Custom search parameters: SearchParameter resources stored in the server.

Writing a SearchParameter (through the Repository) records a reindex job in `search_jobs` in
the same transaction. Every process keeps the custom parameters of its database compiled
beside the official ones and reloads them when the highest job number changes: at once in the
process that wrote, within REFRESH_SECONDS elsewhere (other server workers). New writes are
indexed for the new parameter from then on; existing resources by the reindex job
(`reindex.py`, `hygie reindex`). A custom parameter never replaces an official one: a code
already defined for a base type is ignored for that type. One database per process (the
server's case): attaching a Repository to another database reloads from that one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import orjson

from hygie.fhir.definitions import resource_types, search_parameters
from hygie.store.base import Backend, Cursor

log = logging.getLogger("hygie.search")
REFRESH_SECONDS = 1.0
ACTIVE = ("active", "draft")


class _State:
    def __init__(self) -> None:
        self.backend: Backend | None = None
        self.generation = -1  # highest job number loaded
        self.count = -1  # number of jobs then (a lower job may commit after a higher one)
        self.wanted = 0  # a job this process wrote: reload before the next use
        self.checked = 0.0
        self.wanted_at = 0.0
        self.params: dict[str, dict[str, Any]] = {}  # rtype -> code -> SearchParam
        self.lock = threading.Lock()


_state = _State()
_OFFICIAL_URLS: set[str] = set()


def attach(backend: Backend) -> None:
    """Load the custom parameters of `backend`'s database (the Repository calls this)."""
    with _state.lock:
        _state.backend = backend
        _state.generation = _state.count = -1
        _state.wanted = 0
        _state.checked = 0.0
    refresh(force=True)


def custom_params(rtype: str) -> dict[str, Any]:
    return _state.params.get(rtype, {})


def refresh(cur: Cursor | None = None, *, force: bool = False) -> None:
    """Reload when another process or this one registered parameters (cheap when unchanged)."""
    now = time.monotonic()
    # a job written here is looked for on every use until visible (or its write rolled back)
    waiting = _state.wanted > _state.generation and now - _state.wanted_at < REFRESH_SECONDS * 5
    if not force and not waiting and now - _state.checked < REFRESH_SECONDS:
        return
    _state.checked = now
    if cur is not None:
        _reload_if_changed(cur)
    elif _state.backend is not None:
        try:
            with _state.backend.read() as c:
                _reload_if_changed(c)
        except Exception:  # a closed backend (its Repository was closed): forget it
            log.warning("custom SearchParameters not refreshed", exc_info=True)
            _state.backend = None


def _reload_if_changed(cur: Cursor) -> None:
    row = cur.fetchone("SELECT COUNT(*), COALESCE(MAX(job), 0) FROM search_jobs")
    count, generation = (int(row[0]), int(row[1])) if row else (0, 0)
    if (count, generation) == (_state.count, _state.generation):
        return
    rows = cur.fetchall(
        "SELECT content FROM resources WHERE rtype = 'SearchParameter' AND deleted = 0"
    )
    resources = [c if isinstance(c, dict) else orjson.loads(c) for (c,) in rows]
    with _state.lock:
        _state.params = compile_all(resources)
        _state.generation, _state.count = generation, count
    from hygie.search import registry

    registry.custom_changed()


def _official_urls() -> set[str]:
    if not _OFFICIAL_URLS:
        _OFFICIAL_URLS.update(sp["url"] for sp in search_parameters())
    return _OFFICIAL_URLS


def bases(sp: dict[str, Any]) -> list[str]:
    out = []
    for b in sp.get("base", ()):
        if b in ("Resource", "DomainResource"):
            return sorted(resource_types())
        if b in resource_types():
            out.append(b)
    return out


def compile_all(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from hygie.search.registry import compile_param, official_params

    out: dict[str, dict[str, Any]] = {}
    for sp in resources:
        if (
            sp.get("url") in _official_urls()
            or sp.get("status") not in ACTIVE
            or not sp.get("code")
        ):
            continue
        for rtype in bases(sp):
            if sp["code"] in official_params(rtype):
                continue
            p = compile_param(sp, rtype)
            if p is not None:
                out.setdefault(rtype, {})[p.code] = p
    return out


def parameter_written(cur: Cursor, resource: dict[str, Any] | None) -> None:
    """A SearchParameter was created, updated or deleted (`resource` None) in this transaction:
    record the reindex job (nothing to reindex for a deletion or a parameter we cannot index)."""
    from hygie.search.reindex import create_job

    job = create_job(cur, resource)
    _state.wanted = max(_state.wanted, job)
    _state.wanted_at = time.monotonic()
