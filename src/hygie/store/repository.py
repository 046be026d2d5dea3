"""The Repository: the only door to health data (create, read, update, patch, delete, history,
search, transaction), over one storage backend.

FHIR write semantics follow http.html (R4): server-assigned ids and versions, meta.versionId and
meta.lastUpdated set by the server, no new version for an unchanged update, version-aware
updates (If-Match), conditional create/update/delete. Validation, index extraction and
serialisation happen before the write lock is taken where the version is not needed; each write
stores the resource, moves the previous version to history and replaces the index rows in one
database transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hygie import search
from hygie.fhir import definitions
from hygie.fhir.outcome import FhirError, gone, info_outcome, invalid, not_found
from hygie.fhir.validation import validate
from hygie.search.schema import INDEX_TABLES
from hygie.store import outbox
from hygie.store.base import Backend, Cursor
from hygie.store.bulk import store_batch
from hygie.store.context import Access, Context, Guard, SearchScope
from hygie.store.enforcement import Enforcement
from hygie.store.history import HistoryQuery, fetch_history, history_bundle
from hygie.store.records import Clock, Stored, WriteResult, format_instant, new_id
from hygie.store.schema import SCHEMA_VERSION, full_ddl

ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
_SERVER_META = ("versionId", "lastUpdated")

_COLS = "rid, rtype, id, version, last_updated, deleted, method, content"
_INSERT_INDEX = {
    t: f"INSERT INTO {t} (rid, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})"
    for t, cols in INDEX_TABLES.items()
}
_SELECT_CURRENT = f"SELECT {_COLS} FROM resources WHERE rtype = ? AND id = ?"
_INSERT_RETURNING = (
    "INSERT INTO resources (rtype, id, version, last_updated, deleted, method, hash, content)"
    " VALUES (?, ?, 1, ?, 0, ?, ?, ?) RETURNING rid"
)
_INSERT_WITH_RID = (
    "INSERT INTO resources (rid, rtype, id, version, last_updated, deleted, method, hash, content)"
    " VALUES (?, ?, ?, 1, ?, 0, ?, ?, ?)"
)
_DELETE_INDEX = {t: f"DELETE FROM {t} WHERE rid = ?" for t in INDEX_TABLES}

# A write hook sees a resource about to be stored, inside the write transaction, with the
# caller and the current version (None when the write creates); it raises FhirError to refuse.
# A hook with a `resource_types` attribute is called for those types only.
WriteHook = Callable[[Context, dict[str, Any], Stored | None], None]
# An event hook sees each version just written (a deletion too), inside the write transaction,
# and returns the events (topic, payload) to append to the outbox in that same transaction
# (`store/outbox.py`). A hook with a `resource_types` attribute is called for those types only.
EventHook = Callable[[Context, Stored], Iterable[tuple[str, dict[str, Any]]]]


def valid_id(rid: str) -> bool:
    return 0 < len(rid) <= 64 and all(c in ID_CHARS for c in rid)


def content_hash(resource: dict[str, Any]) -> bytes:
    """Hash of the content without the server-set meta, to detect unchanged updates."""
    meta = resource.get("meta")
    body = resource
    if meta is not None:
        body = dict(resource)
        rest = {k: v for k, v in meta.items() if k not in _SERVER_META}
        if rest:
            body["meta"] = rest
        else:
            del body["meta"]
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _current_or_error(row: tuple[Any, ...] | None, rtype: str, rid: str) -> Stored:
    if row is None:
        raise not_found(rtype, rid)
    stored = _to_stored(row)
    if stored.deleted:
        raise gone(rtype, rid)
    return stored


def _to_stored(row: tuple[Any, ...]) -> Stored:
    _rid, rtype, rid, version, lu, deleted, method, content = row
    data = content.encode() if isinstance(content, str) else content
    return Stored(rtype, rid, version, lu, bool(deleted), method, data)


class Prepared:
    """A resource made ready for storage outside the lock: checked, hashed, indexed."""

    __slots__ = ("resource", "rtype", "hash", "index", "indexed_id", "ctx")

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        self.ctx: Context | None = None
        self.rtype: str = resource["resourceType"]
        self.hash = content_hash(resource)
        self.index = search.extract(resource)
        self.indexed_id: str | None = resource.get("id")  # serialize() replaces the id

    def index_for(self, rid: str) -> dict[str, list[tuple]]:
        """The index rows under the id the resource is stored with: they were extracted
        before a create chose it (a Patient belongs to its own compartment by its id)."""
        return search.with_own_id(self.rtype, self.index, self.indexed_id, rid)

    def serialize(self, rid: str, version: int, lu_instant: str) -> bytes:
        """Compact JSON with resourceType, id and meta first and server meta set."""
        res = self.resource
        meta = {k: v for k, v in (res.get("meta") or {}).items() if k not in _SERVER_META}
        out = {
            "resourceType": self.rtype,
            "id": rid,
            "meta": {"versionId": str(version), "lastUpdated": lu_instant, **meta},
        }
        for k, v in res.items():
            if k not in out:
                out[k] = v
        self.resource = out
        return orjson.dumps(out)


SearchDefault = Callable[[Context, str, list[tuple[str, str]]], list[tuple[str, str]]]


class Repository:
    """FHIR persistence semantics over a Backend. Every public call takes the caller's Context."""

    def __init__(self, backend: Backend, *, guards: Sequence[Guard] = ()) -> None:
        self.backend = backend
        self.guards = list(guards)
        self.before_write: list[WriteHook] = []
        self.after_write: list[EventHook] = []
        self.bundle_handlers: list[Any] = []  # see store/bundle.py BundleHandler
        # (ctx, rtype, params) -> params: a service's default conditions on searches of a type
        # (the shared record leaves logically deleted fiches out unless asked for them)
        self.search_defaults: list[SearchDefault] = []
        # the access policy and the audit trail, installed by the app (`hygie.access.install`,
        # `hygie.audit.install`); see store/enforcement.py
        self.enforcement = Enforcement()
        self.clock = Clock()
        backend.create_schema(full_ddl(backend.dialect))
        self._record_schema_version()
        search.attach(backend)  # custom SearchParameters of this database

    def _record_schema_version(self) -> None:
        with self.backend.write() as cur:
            if cur.fetchone("SELECT value FROM hygie_meta WHERE key = 'schema'") is None:
                cur.execute(
                    "INSERT INTO hygie_meta (key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )

    def close(self) -> None:
        self.backend.close()

    # -- guards -------------------------------------------------------------------------------
    def _guard(self, ctx: Context, action: str, rtype: str | None, rid: str | None = None) -> None:
        for g in self.guards:
            g.check(ctx, action, rtype, rid)
        self.enforcement.check(ctx, action, rtype, rid)

    def _admitted(
        self, ctx: Context, action: str, rtype: str, rid: str, row: tuple[Any, ...] | None
    ) -> Access:
        """404 unless the caller may see the resource of `row`; the access to record."""
        enf = self.enforcement
        if row is None:
            enf.record_denial(Access(ctx, action, rtype, rid, 404, detail="not found"))
            raise not_found(rtype, rid)
        key, content = row[0], row[7]
        resource = enf.visible(ctx, action, rtype, rid, content, lambda: self._last_content(key))
        if resource is None and content is not None:
            resource = orjson.loads(content)
        status = 410 if row[5] else 200
        return Access(ctx, action, rtype, rid, status, resources=[resource] if resource else [])

    def _last_content(self, key: int) -> str | bytes | None:
        row = self.backend.read_one(
            "SELECT content FROM resource_history WHERE rid = ? AND content IS NOT NULL"
            " ORDER BY version DESC LIMIT 1",
            (key,),
        )
        return row[0] if row else None

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def check_type(rtype: str) -> None:
        if rtype not in definitions.resource_types():
            raise FhirError(404, f"Unknown resource type '{rtype}'", "not-supported")

    @staticmethod
    def check_resource(resource: Any, rtype: str | None = None) -> Prepared:
        """Validate against the R4 StructureDefinitions; 400 with every issue otherwise."""
        issues = validate(resource, rtype)
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise FhirError(400, issues=issues)
        return Prepared(resource)

    # -- reads --------------------------------------------------------------------------------
    def read(self, ctx: Context, rtype: str, rid: str, *, cur: Cursor | None = None) -> Stored:
        """`cur`: inside a write transaction (a transaction Bundle's GET), recorded in it."""
        self._before_read(ctx, rtype, rid)
        if cur is not None:
            row = cur.fetchone(_SELECT_CURRENT, (rtype, rid))
        else:
            row = self.backend.read_one(_SELECT_CURRENT, (rtype, rid))
        if self.enforcement.enabled(ctx):
            self.enforcement.record(self._admitted(ctx, "read", rtype, rid, row), cur)
        return _current_or_error(row, rtype, rid)

    async def read_async(self, ctx: Context, rtype: str, rid: str) -> Stored:
        """`read` without a thread: for backends with an asynchronous driver (`aread_one`)."""
        self._before_read(ctx, rtype, rid)
        row = await self.backend.aread_one(_SELECT_CURRENT, (rtype, rid))
        if self.enforcement.enabled(ctx):
            await self.enforcement.arecord(self._admitted(ctx, "read", rtype, rid, row))
        return _current_or_error(row, rtype, rid)

    def _before_read(self, ctx: Context, rtype: str, rid: str) -> None:
        self.check_type(rtype)
        self._guard(ctx, "read", rtype, rid)

    def vread(
        self, ctx: Context, rtype: str, rid: str, version: str, *, cur: Cursor | None = None
    ) -> Stored:
        self.check_type(rtype)
        self._guard(ctx, "vread", rtype, rid)
        if not version.isdigit():
            raise not_found(rtype, f"{rid}/_history/{version}")
        if cur is not None:
            stored = self._vread(ctx, cur, rtype, rid, version)
        else:
            with self.backend.read() as rcur:
                stored = self._vread(ctx, rcur, rtype, rid, version)
        if self.enforcement.enabled(ctx):
            self.enforcement.record(
                Access(ctx, "vread", rtype, rid, 200, resources=[stored.resource()]), cur
            )
        return stored

    def _vread(self, ctx: Context, cur: Cursor, rtype: str, rid: str, version: str) -> Stored:
        row = cur.fetchone(
            f"SELECT {_COLS} FROM resources WHERE rtype = ? AND id = ?", (rtype, rid)
        )
        if row is None:
            raise not_found(rtype, rid)
        if self.enforcement.enabled(ctx):
            # judged on the current version (the last one, if deleted): a version is shown
            # only to those who may see the resource now
            self._admitted(ctx, "vread", rtype, rid, row)
        if row[3] != int(version):
            hist = cur.fetchone(
                "SELECT version, last_updated, deleted, method, content FROM resource_history"
                " WHERE rid = ? AND version = ?",
                (row[0], int(version)),
            )
            if hist is None:
                raise not_found(rtype, f"{rid}/_history/{version}")
            row = (row[0], rtype, rid, *hist)
        stored = _to_stored(row)
        if stored.deleted:
            raise FhirError(410, f"Version {version} of {rtype}/{rid} is a deletion", "deleted")
        return stored

    # -- writes -------------------------------------------------------------------------------
    def create(
        self,
        ctx: Context,
        resource: Any,
        *,
        rtype: str | None = None,
        if_none_exist: str | None = None,
    ) -> WriteResult:
        prepared = self._prepare(resource, rtype, ctx)
        self._guard(ctx, "create", prepared.rtype)

        def job(cur: Cursor) -> WriteResult:
            if if_none_exist:
                found = self._conditional_match(cur, prepared.rtype, if_none_exist, ctx)
                if found:
                    return WriteResult(self._current(cur, prepared.rtype, found), 200)
            return self._insert(cur, prepared, new_id(), "POST")

        return self.backend.run_write(job)

    def update(
        self,
        ctx: Context,
        rtype: str,
        rid: str,
        resource: Any,
        *,
        if_match: int | None = None,
        method: str = "PUT",
    ) -> WriteResult:
        self.check_type(rtype)
        if not valid_id(rid):
            raise invalid(f"Invalid resource id '{rid}'")
        if isinstance(resource, dict):
            body_id = resource.get("id")
            if body_id is None:
                raise invalid("The resource in an update must carry an id", f"{rtype}.id")
            if body_id != rid:
                raise invalid(
                    f"Resource id '{body_id}' does not match the id in the URL '{rid}'",
                    f"{rtype}.id",
                )
        prepared = self._prepare(resource, rtype, ctx)
        self._guard(ctx, "update", rtype, rid)
        return self.backend.run_write(
            lambda cur: self._update(cur, prepared, rid, if_match, method)
        )

    def conditional_update(
        self, ctx: Context, rtype: str, query: str, resource: Any, *, if_match: int | None = None
    ) -> WriteResult:
        self.check_type(rtype)
        prepared = self._prepare(resource, rtype, ctx)
        body_id = prepared.resource.get("id")
        self._guard(ctx, "update", rtype, body_id)

        def job(cur: Cursor) -> WriteResult:
            found = self._conditional_match(cur, rtype, query, ctx)
            if found is None:
                if body_id is not None:
                    if not valid_id(body_id):
                        raise invalid(f"Invalid resource id '{body_id}'", f"{rtype}.id")
                    return self._update(cur, prepared, body_id, if_match, "PUT")
                return self._insert(cur, prepared, new_id(), "PUT")
            if body_id is not None and body_id != found:
                raise invalid(
                    f"Resource id '{body_id}' does not match the resource found by the condition "
                    f"({rtype}/{found})",
                    f"{rtype}.id",
                )
            return self._update(cur, prepared, found, if_match, "PUT")

        return self.backend.run_write(job)

    def patch(
        self,
        ctx: Context,
        rtype: str,
        rid: str,
        operations: Any,
        *,
        if_match: int | None = None,
    ) -> WriteResult:
        while True:
            current = self.read(ctx, rtype, rid)
            if if_match is not None and current.version != if_match:
                raise _version_conflict(rtype, rid, if_match, current.version)
            patched = apply_json_patch(current.resource(), operations)
            if patched.get("resourceType") != rtype or patched.get("id") != rid:
                raise FhirError(422, "A patch may not change resourceType or id", "invariant")
            try:
                return self.update(
                    ctx, rtype, rid, patched, if_match=current.version, method="PATCH"
                )
            except FhirError as exc:
                # Without If-Match, a concurrent write is no conflict for the client: patch anew.
                if if_match is not None or exc.status != 412:
                    raise

    def conditional_patch(
        self, ctx: Context, rtype: str, query: str, operations: Any, *, if_match: int | None = None
    ) -> WriteResult:
        self.check_type(rtype)
        with self.backend.read() as cur:
            found = self._conditional_match(cur, rtype, query, ctx)
        if found is None:
            raise FhirError(404, f"No {rtype} matches '{query}'", "not-found")
        return self.patch(ctx, rtype, found, operations, if_match=if_match)

    def delete(
        self, ctx: Context, rtype: str, rid: str, *, if_match: int | None = None
    ) -> WriteResult:
        self.check_type(rtype)
        self._guard(ctx, "delete", rtype, rid)
        return self.backend.run_write(lambda cur: self._delete(cur, rtype, rid, if_match, ctx))

    def conditional_delete(self, ctx: Context, rtype: str, query: str) -> WriteResult:
        self.check_type(rtype)
        self._guard(ctx, "delete", rtype, None)

        def job(cur: Cursor) -> WriteResult:
            found = self._conditional_match(cur, rtype, query, ctx)
            if found is None:
                return WriteResult(None, 204)
            return self._delete(cur, rtype, found, None, ctx)

        return self.backend.run_write(job)

    # -- write internals (inside a write transaction) -----------------------------------------
    def _prepare(self, resource: Any, rtype: str | None, ctx: Context | None = None) -> Prepared:
        if rtype is not None:
            self.check_type(rtype)
        prepared = self.check_resource(resource, rtype)
        prepared.ctx = ctx
        return prepared

    def _hooks_for(self, rtype: str) -> list[WriteHook]:
        return [h for h in self.before_write if rtype in getattr(h, "resource_types", (rtype,))]

    def _events_for(self, rtype: str) -> list[EventHook]:
        return [h for h in self.after_write if rtype in getattr(h, "resource_types", (rtype,))]

    def _emit(self, cur: Cursor, ctx: Context | None, stored: Stored) -> None:
        """Outbox rows for a version just written, in the same transaction."""
        for hook in self._events_for(stored.rtype):
            outbox.enqueue(cur, hook(ctx or Context.system(), stored), stored.last_updated)

    def _run_hooks(self, cur: Cursor, p: Prepared, rid: str | None) -> None:
        hooks = self._hooks_for(p.rtype)
        if hooks:
            previous = self._current(cur, p.rtype, rid) if rid is not None else None
            for hook in hooks:
                hook(p.ctx or Context.system(), p.resource, previous)

    def _conditional_match(
        self, cur: Cursor, rtype: str, query: str, ctx: Context | None = None
    ) -> str | None:
        """The id of the single current match of a search condition; 412 if several. Only
        resources the caller may see can match: a hidden one must not change the outcome."""
        params = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        if not params:
            raise invalid("A conditional interaction needs search criteria")
        if cur.dialect == "postgres":
            # READ COMMITTED lets two writers both see "no match" and both create: serialise the
            # writers of one criteria until commit (SQLite's single writer already does).
            key = f"cond:{rtype}?{sorted(params)!r}"
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))
        restrict = None
        if ctx is not None:
            restrict = self.enforcement.restriction(
                ctx, "search", SearchScope((rtype,), None, tuple(params))
            )
        matches = search.matching_ids(cur, rtype, params, limit=2, restrict=restrict)
        if len(matches) > 1:
            raise FhirError(
                412, f"The criteria '{query}' match more than one {rtype}", "multiple-matches"
            )
        return matches[0][1] if matches else None

    def _current(self, cur: Cursor, rtype: str, rid: str) -> Stored:
        row = cur.fetchone(
            f"SELECT {_COLS} FROM resources WHERE rtype = ? AND id = ?", (rtype, rid)
        )
        if row is None:
            raise not_found(rtype, rid)
        return _to_stored(row)

    def _insert(self, cur: Cursor, p: Prepared, rid: str, method: str) -> WriteResult:
        self.enforcement.check_write(cur, p.ctx, "create", p.rtype, p.resource, lambda: None)
        self._run_hooks(cur, p, None)
        index = p.index_for(rid)
        lu = self.clock.now()
        content = p.serialize(rid, 1, format_instant(lu))
        args = (p.rtype, rid, lu, method, p.hash, content.decode())
        key = cur.new_rid()
        if key is None:
            key = cur.insert_returning_id(_INSERT_RETURNING, args)
        else:
            cur.execute(_INSERT_WITH_RID, (key, *args))
        self._write_index(cur, key, index, replace=False)
        if p.rtype == "SearchParameter":
            search.parameter_written(cur, p.resource)
        stored = Stored(p.rtype, rid, 1, lu, False, method, content)
        self._emit(cur, p.ctx, stored)
        self._record_write(cur, p.ctx, "create", stored, p.resource, 201)
        return WriteResult(stored, 201)

    def _lock_current(self, cur: Cursor, rtype: str, rid: str) -> tuple[Any, ...] | None:
        lock = " FOR UPDATE" if cur.dialect == "postgres" else ""
        return cur.fetchone(
            "SELECT rid, version, last_updated, deleted, hash FROM resources"
            f" WHERE rtype = ? AND id = ?{lock}",
            (rtype, rid),
        )

    def _update(
        self, cur: Cursor, p: Prepared, rid: str, if_match: int | None, method: str
    ) -> WriteResult:
        row = self._lock_current(cur, p.rtype, rid)
        if row is None:
            if if_match is not None:
                raise _version_conflict(p.rtype, rid, if_match, None)
            return self._insert_or_retry(cur, p, rid, if_match, method)
        key, version, last_lu, deleted, old_hash = row
        if if_match is not None and if_match != version:
            raise _version_conflict(p.rtype, rid, if_match, version)
        action = "patch" if method == "PATCH" else "update"
        self.enforcement.check_write(
            cur, p.ctx, action, p.rtype, p.resource, lambda: self._content(cur, key)
        )
        if not deleted and bytes(old_hash) == p.hash:
            return WriteResult(self._current(cur, p.rtype, rid), 200)
        self._run_hooks(cur, p, None if deleted else rid)
        lu = self.clock.now(after=last_lu)
        content = p.serialize(rid, version + 1, format_instant(lu))
        self._move_to_history(cur, key)
        cur.execute(
            "UPDATE resources SET version = ?, last_updated = ?, deleted = 0, method = ?, hash = ?,"
            " content = ? WHERE rid = ?",
            (version + 1, lu, method, p.hash, content.decode(), key),
        )
        self._write_index(cur, key, p.index, replace=not deleted)
        if p.rtype == "SearchParameter":
            search.parameter_written(cur, p.resource)
        status = 201 if deleted else 200
        stored = Stored(p.rtype, rid, version + 1, lu, False, method, content)
        self._emit(cur, p.ctx, stored)
        self._record_write(cur, p.ctx, action, stored, p.resource, status)
        return WriteResult(stored, status)

    def _content(self, cur: Cursor, key: int) -> dict[str, Any] | None:
        """The current version's content (None when deleted), inside a write transaction."""
        row = cur.fetchone("SELECT content FROM resources WHERE rid = ?", (key,))
        return orjson.loads(row[0]) if row and row[0] is not None else None

    def _record_write(
        self,
        cur: Cursor,
        ctx: Context | None,
        action: str,
        stored: Stored,
        resource: dict[str, Any] | None,
        status: int,
    ) -> None:
        """The audit record of a write, in its transaction (not for the server's own writes)."""
        if ctx is not None and self.enforcement.enabled(ctx):
            access = Access(ctx, action, stored.rtype, stored.id, status)
            if resource is not None:
                access.resources.append(resource)
            self.enforcement.record(access, cur)

    def _insert_or_retry(
        self, cur: Cursor, p: Prepared, rid: str, if_match: int | None, method: str
    ) -> WriteResult:
        """Update-as-create; if a concurrent writer created the id first, update it instead."""
        if cur.dialect == "postgres":
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"{p.rtype}/{rid}",)
            )
            if self._lock_current(cur, p.rtype, rid) is not None:
                return self._update(cur, p, rid, if_match, method)
        return self._insert(cur, p, rid, method)

    def _move_to_history(self, cur: Cursor, key: int) -> None:
        cur.execute(
            "INSERT INTO resource_history (rid, version, last_updated, deleted, method, content)"
            " SELECT rid, version, last_updated, deleted, method, content FROM resources"
            " WHERE rid = ?",
            (key,),
        )

    def _write_index(
        self, cur: Cursor, key: int, index: dict[str, list[tuple]], *, replace: bool
    ) -> None:
        if replace:
            for table in INDEX_TABLES:
                cur.execute(_DELETE_INDEX[table], (key,))
        for table, rows in index.items():
            if rows:
                cur.executemany(_INSERT_INDEX[table], [(key, *r) for r in rows])

    def _delete(
        self,
        cur: Cursor,
        rtype: str,
        rid: str,
        if_match: int | None = None,
        ctx: Context | None = None,
    ) -> WriteResult:
        row = self._lock_current(cur, rtype, rid)
        previous = None
        if row is not None and ctx is not None and self.enforcement.enabled(ctx):
            previous = self._content(cur, row[0])
            self.enforcement.check_write(cur, ctx, "delete", rtype, None, lambda: previous)
        if if_match is not None and (row is None or row[1] != if_match):
            # checked under the row lock, like an update
            raise _version_conflict(rtype, rid, if_match, row[1] if row else None)
        if row is None:
            return WriteResult(None, 204)
        key, version, last_lu, deleted, _ = row
        if deleted:
            return WriteResult(self._current(cur, rtype, rid), 200, info_outcome("Already deleted"))
        lu = self.clock.now(after=last_lu)
        self._move_to_history(cur, key)
        cur.execute(
            "UPDATE resources SET version = ?, last_updated = ?, deleted = 1, method = 'DELETE',"
            " hash = NULL, content = NULL WHERE rid = ?",
            (version + 1, lu, key),
        )
        for table in INDEX_TABLES:
            cur.execute(_DELETE_INDEX[table], (key,))
        if rtype == "SearchParameter":
            search.parameter_written(cur, None)
        stored = Stored(rtype, rid, version + 1, lu, True, "DELETE", None)
        self._emit(cur, None, stored)
        self._record_write(cur, ctx, "delete", stored, previous, 200)
        return WriteResult(stored, 200, info_outcome(f"Deleted {rtype}/{rid}"))

    # -- history ------------------------------------------------------------------------------
    def history(
        self, ctx: Context, q: HistoryQuery, *, base: str, extra: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """History Bundle of an instance (q.rid), a type (q.rtype) or the system."""
        if q.rtype is not None:
            self.check_type(q.rtype)
        self._guard(ctx, "history", q.rtype, q.rid)
        enf = self.enforcement
        guarded = enf.enabled(ctx)
        restrict = None
        if guarded:
            types = (q.rtype,) if q.rtype else ()
            restrict = enf.restriction(ctx, "history", SearchScope(types))
        with self.backend.read() as cur:
            key = None
            if q.rid is not None:
                row = cur.fetchone(_SELECT_CURRENT, (q.rtype, q.rid))
                if row is None:
                    raise not_found(q.rtype or "", q.rid)
                if guarded:
                    self._admitted(ctx, "history", q.rtype or "", q.rid, row)
                    restrict = None  # the resource is visible: all its versions are listed…
                key = row[0]
            rows, total = fetch_history(cur, q, key, restrict)
        if guarded:
            rows = self._visible_versions(ctx, rows)  # …that the caller may see, each
            found = [orjson.loads(r[6]) for r in rows[: q.count] if r[6] is not None]
            query = "&".join(f"{k}={v}" for k, v in extra)
            enf.record(Access(ctx, "history", q.rtype, q.rid, 200, query=query, resources=found))
        path = "/".join(p for p in (q.rtype, q.rid) if p) + ("/" if q.rtype else "") + "_history"
        return history_bundle(rows, q, base, path, extra, total)

    def _visible_versions(self, ctx: Context, rows: list[tuple]) -> list[tuple]:
        """History rows whose version the caller may see (a resource may have changed patient
        or visibility); deletions are kept only for resources visible now (SQL filter)."""
        policy = self.enforcement.policy
        if policy is None:
            return rows
        return [
            r
            for r in rows
            if r[6] is None or policy.admit(ctx, "history", r[0], orjson.loads(r[6]))
        ]

    # -- search -------------------------------------------------------------------------------
    def search(
        self,
        ctx: Context,
        rtype: str | None,
        params: list[tuple[str, str]],
        *,
        base: str,
        strict: bool = True,
        compartment: tuple[str, str] | None = None,
        cur: Cursor | None = None,
    ) -> dict[str, Any]:
        """`cur`: inside a write transaction (a transaction Bundle's GET), the audit record
        is written in it."""
        if rtype is not None:
            self.check_type(rtype)
            for default in self.search_defaults:
                params = default(ctx, rtype, params)
        self._guard(ctx, "search", rtype, None)
        enf = self.enforcement
        if not enf.enabled(ctx):
            with self.backend.read() as rcur:
                return search.execute(
                    rcur, rtype, params, base=base, strict=strict, compartment=compartment
                )
        scope = SearchScope((rtype,) if rtype else (), compartment, tuple(params))
        restrict = enf.restriction(ctx, "search", scope)
        with self.backend.read() as rcur:
            bundle = search.execute(
                rcur,
                rtype,
                params,
                base=base,
                strict=strict,
                compartment=compartment,
                restrict=restrict,
                admit=enf.admit(ctx, "search"),
            )
        found = [e["resource"] for e in bundle.get("entry", ())]
        query = "&".join(f"{k}={v}" for k, v in params)
        path = "/".join(compartment) + "/" + (rtype or "*") if compartment else rtype
        enf.record(Access(ctx, "search", path, None, 200, query=query, resources=found), cur)
        return bundle

    def reindex_status(self, ctx: Context) -> dict[str, Any]:
        """The reindex jobs of custom SearchParameters, as a Parameters resource."""
        self._guard(ctx, "search", None, None)
        with self.backend.read() as cur:
            return search.reindex_status(cur)

    # -- bulk load ----------------------------------------------------------------------------
    def load(self, ctx: Context, resources: Iterable[dict[str, Any]]) -> int:
        """Store a batch of resources (as updates when they carry an id) in ONE transaction.

        Used by `hygie import`: all-or-nothing for the batch; raises FhirError on the first
        invalid resource, naming its position.
        """
        prepared = []
        for n, res in enumerate(resources):
            try:
                prepared.append(self._prepare(res, None, ctx))
            except FhirError as exc:
                for issue in exc.issues:
                    issue.diagnostics = f"resource {n}: {issue.diagnostics}"
                raise
        self._guard(ctx, "create", None)
        ids = [(p.rtype, p.resource.get("id")) for p in prepared if p.resource.get("id")]
        one_by_one = (
            len(set(ids)) != len(ids)  # several versions of one resource: in order
            or any(
                self._hooks_for(p.rtype)
                or self._events_for(p.rtype)
                or p.rtype == "SearchParameter"
                for p in prepared
            )
        )

        def job(cur: Cursor) -> int:
            if not one_by_one:
                store_batch(cur, prepared, self.clock.now())
                return len(prepared)
            for p in prepared:
                rid = p.resource.get("id")
                if rid:
                    self._update(cur, p, rid, None, "PUT")
                else:
                    self._insert(cur, p, new_id(), "POST")
            return len(prepared)

        return self.backend.run_write(job)


def _version_conflict(rtype: str, rid: str, wanted: int, actual: int | None) -> FhirError:
    now = "does not exist" if actual is None else f"is at version {actual}"
    return FhirError(
        412, f"If-Match version {wanted} of {rtype}/{rid} is stale: the resource {now}", "conflict"
    )


def apply_json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON Patch; a malformed or failing patch is the client's error."""
    import jsonpatch

    if not isinstance(operations, list):
        raise invalid("A JSON Patch document must be an array of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(document)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise FhirError(422, f"JSON Patch test failed: {exc}", "processing") from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise FhirError(422, f"Invalid JSON Patch: {exc}", "processing") from exc
