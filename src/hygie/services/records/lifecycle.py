"""The life of a fiche after publication: status, visibility, logical deletion (PDSm flux 03).

`DocumentWriteHook` runs inside every DocumentReference write transaction:
- a creation outside an ITI-65 publication passes the same fiche rules as a publication
  (`documents.py`), its attachment pointing at a Binary already on the server;
- an update may change only `status`, `securityLabel` and the PDSm `isArchived`/`isDeleted`
  extensions (PDSm: anything else → 405); `entered-in-error` is not used (PDSm, IHE MHD
  issue #274); a deleted fiche no longer exists for updates (404), and deletion is final;
- logical deletion sets `isDeleted` = true together with `status` = superseded, asked by an
  author of the fiche (RPPS) or the patient (or the server itself);
- visibility codes (`hygie.access.labels`) are set and cleared by an author, or for
  MASQUE_PS (hidden from professionals) by the patient too; the confidentiality code by an
  author.

`delete_document` and `set_visibility` are the operations built on it; they write through the
Repository with the caller's Context, so the access policy and the audit apply.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from hygie.access import labels
from hygie.fhir.outcome import FhirError
from hygie.services.records import documents as d
from hygie.services.records.binary import blob_ref
from hygie.services.records.config import RecordsSettings
from hygie.services.records.mhd import PUBLICATION
from hygie.store import Context, Repository, Stored
from hygie.store.context import PATIENT, PRACTITIONER
from hygie.store.repository import apply_json_patch

MUTABLE = frozenset({"status", "securityLabel", "meta", "extension", "id"})
LIFECYCLE_EXTENSIONS = frozenset({d.IS_DELETED_URL, d.IS_ARCHIVED_URL})
VISIBILITY = (labels.MASQUE_PS, labels.INVISIBLE_PATIENT, labels.INVISIBLE_REP_LEGAUX)


def _codes(doc: dict[str, Any], system: str) -> set[str]:
    return {
        c.get("code")
        for cc in doc.get("securityLabel") or []
        for c in d.codings(cc)
        if c.get("system") == system
    }


def _other_extensions(doc: dict[str, Any]) -> list[Any]:
    return [
        e
        for e in doc.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") in LIFECYCLE_EXTENSIONS)
    ]


def _subject(doc: dict[str, Any]) -> str:
    return str((doc.get("subject") or {}).get("reference") or "")


class DocumentWriteHook:
    resource_types = frozenset({"DocumentReference"})

    def __init__(self, repo: Repository, settings: RecordsSettings) -> None:
        self.repo = repo
        self.settings = settings

    def __call__(self, ctx: Context, doc: dict[str, Any], previous: Stored | None) -> None:
        if previous is None or previous.deleted:
            if not ctx.attributes.get(PUBLICATION):
                self._check_new(ctx, doc)
            return
        self._check_change(ctx, previous.resource(), doc)

    def _resolve(self, ctx: Context):
        def resolve(ref: str) -> dict[str, Any] | None:
            parts = ref.split("/")
            if len(parts) != 2:
                return None
            try:
                return self.repo.read(ctx, parts[0], parts[1]).resource()
            except FhirError as exc:
                if exc.status == 403:
                    raise
                return None

        return resolve

    def _check_new(self, ctx: Context, doc: dict[str, Any]) -> None:
        resolve = self._resolve(ctx)
        subject = _subject(doc)
        issues = d.metadata_issues(doc, self.settings)
        issues += d.patient_issues(
            resolve(subject) if subject.startswith("Patient/") else None,
            subject,
            "DocumentReference",
        )
        issues += d.author_issues(doc, subject, resolve, "DocumentReference")
        issues += d.related_issues(doc, resolve, "DocumentReference")
        url = str(
            (((doc.get("content") or [{}])[0] or {}).get("attachment") or {}).get("url") or ""
        )
        binary = resolve(url) if url.startswith("Binary/") else None
        issues += d.attachment_issues(
            doc, blob_ref(binary) if binary else None, binary, "DocumentReference"
        )
        if issues:
            raise FhirError(422, issues=issues)

    def _check_change(self, ctx: Context, old: dict[str, Any], new: dict[str, Any]) -> None:
        rid = old.get("id")
        if d.is_deleted(old):
            raise FhirError(404, f"DocumentReference/{rid} is deleted", "not-found")
        frozen_old = {k: v for k, v in old.items() if k not in MUTABLE}
        frozen_new = {k: v for k, v in new.items() if k not in MUTABLE}
        if frozen_old != frozen_new or _other_extensions(old) != _other_extensions(new):
            changed = sorted(
                set(frozen_old) ^ set(frozen_new)
                | {k for k in frozen_old if frozen_old.get(k) != frozen_new.get(k)}
            )
            raise FhirError(
                405,
                "a published fiche changes only its status, securityLabel and the isArchived/isDeleted"
                f" extensions (PDSm); publish a replacement for other changes (changed: {', '.join(changed) or 'extension'})",
                "not-supported",
                headers={"Allow": "GET, PATCH"},
            )
        status = new.get("status")
        if status == "entered-in-error":
            raise FhirError(
                422,
                "status entered-in-error is not used (PDSm); delete the fiche with the isDeleted extension",
                "business-rule",
                expression="DocumentReference.status",
            )
        deleting = d.is_deleted(new)
        if deleting and status != "superseded":
            raise FhirError(
                422,
                "a logical deletion sets isDeleted = true and status = superseded together (PDSm)",
                "business-rule",
                expression="DocumentReference.status",
            )
        if ctx.is_system or ctx.attributes.get(PUBLICATION):
            return
        is_author = (
            ctx.kind == PRACTITIONER
            and ctx.rpps is not None
            and ctx.rpps in d.authors_rpps(old, self._resolve(Context.system()))
        )
        is_patient = ctx.kind == PATIENT and ctx.patient == _subject(old)
        if deleting and not d.is_deleted(old):
            if not (is_author or is_patient):
                raise FhirError(
                    403, "only an author of the document or the patient may delete it", "forbidden"
                )
            return  # the deletion's status change comes with it
        vis_changed = _codes(old, labels.DMP_VISIBILITY_SYSTEM) ^ _codes(
            new, labels.DMP_VISIBILITY_SYSTEM
        )
        conf_changed = _codes(old, labels.CONFIDENTIALITY_SYSTEM) != _codes(
            new, labels.CONFIDENTIALITY_SYSTEM
        )
        if (vis_changed or conf_changed or status != old.get("status")) and not is_author:
            if not (
                is_patient
                and not conf_changed
                and vis_changed <= {labels.MASQUE_PS}
                and status == old.get("status")
            ):
                raise FhirError(
                    403,
                    "only an author may change the status, confidentiality or visibility of a document (the patient may hide it from professionals)",
                    "forbidden",
                )


def _patch_entry(rid: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Binary",
            "contentType": "application/json-patch+json",
            "data": base64.b64encode(orjson.dumps(ops)).decode(),
        },
        "request": {"method": "PATCH", "url": f"DocumentReference/{rid}"},
    }


def _deletion_ops(doc: dict[str, Any], *, test_current: bool) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if test_current:
        ops.append({"op": "test", "path": "/status", "value": "current"})
    ops.append({"op": "replace", "path": "/status", "value": "superseded"})
    exts = doc.get("extension") or []
    kept = [e for e in exts if not (isinstance(e, dict) and e.get("url") in LIFECYCLE_EXTENSIONS)]
    kept.append(
        {"url": d.IS_DELETED_URL, "valueBoolean": True}
    )  # a deleted fiche is no longer archived
    ops.append({"op": "add", "path": "/extension", "value": kept})
    return ops


def delete_document(repo: Repository, ctx: Context, rid: str, *, base: str) -> dict[str, Any]:
    """Logical deletion of a current fiche and, by propagation, of the fiches it replaced
    (PDSm "Suppression logique d'une fiche"), in one transaction."""
    doc = repo.read(ctx, "DocumentReference", rid).resource()
    if d.is_deleted(doc):
        raise FhirError(404, f"DocumentReference/{rid} is deleted", "not-found")
    if doc.get("status") != "current":
        raise FhirError(
            422,
            "only the current version of a fiche may be deleted; older ones follow it",
            "business-rule",
        )
    entries = [_patch_entry(rid, _deletion_ops(doc, test_current=True))]
    _transaction(repo, ctx, entries + _replaced_deletions(repo, ctx, doc), base)
    return repo.read(ctx, "DocumentReference", rid).resource()


def write_deleting(
    repo: Repository,
    ctx: Context,
    rid: str,
    method: str,
    body: Any,
    *,
    if_match: int | None,
    base: str,
) -> Stored | None:
    """A PATCH or PUT of a fiche that deletes it logically (PDSm's own form of the deletion)
    also deletes the fiches it replaced, in the same transaction, as `$logical-delete` does.
    None when the write deletes nothing, or nothing needs to follow: the plain path writes it."""
    try:
        current = repo.read(ctx, "DocumentReference", rid)
    except FhirError as exc:
        if exc.status in (404, 410):  # nothing to delete: a PUT creating it, or the plain 404
            return None
        raise
    old = current.resource()
    new = apply_json_patch(old, body) if method == "PATCH" else body
    if not isinstance(new, dict) or not d.is_deleted(new) or d.is_deleted(old):
        return None
    follow = _replaced_deletions(repo, ctx, old)
    if not follow:
        return None
    version = if_match if if_match is not None else current.version
    request = {"method": method, "url": f"DocumentReference/{rid}", "ifMatch": f'W/"{version}"'}
    if method == "PATCH":
        first = _patch_entry(rid, body)
        first["request"]["ifMatch"] = request["ifMatch"]
    else:
        first = {"resource": new, "request": request}
    _transaction(repo, ctx, [first, *follow], base)
    return repo.read(ctx, "DocumentReference", rid)


def _replaced_deletions(
    repo: Repository, ctx: Context, doc: dict[str, Any]
) -> list[dict[str, Any]]:
    """Deletion patches for the fiches `doc` replaced, and the ones they replaced, in turn."""
    entries = []
    seen = {str(doc.get("id"))}
    queue = [doc]
    while queue:
        for rel in queue.pop().get("relatesTo") or []:
            ref = str(((rel or {}).get("target") or {}).get("reference") or "")
            if (rel or {}).get("code") == "replaces" and ref.startswith("DocumentReference/"):
                old_id = ref.split("/", 1)[1]
                if old_id in seen:
                    continue
                seen.add(old_id)
                try:
                    old = repo.read(ctx, "DocumentReference", old_id).resource()
                except FhirError as exc:
                    if exc.status in (404, 410):
                        continue
                    raise
                if not d.is_deleted(old):
                    entries.append(_patch_entry(old_id, _deletion_ops(old, test_current=False)))
                queue.append(old)
    return entries


def _transaction(repo: Repository, ctx: Context, entries: list[dict[str, Any]], base: str) -> None:
    from hygie.store.bundle import BundleProcessor

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    BundleProcessor(repo).process(ctx, bundle, base=base, handlers=False)


def set_visibility(
    repo: Repository,
    ctx: Context,
    rid: str,
    *,
    add: set[str],
    remove: set[str],
    if_match: int | None = None,
) -> Stored:
    """Set and clear DMP visibility codes on a fiche (the hook checks who may)."""
    unknown = (add | remove) - set(VISIBILITY)
    if unknown:
        raise FhirError(
            400,
            f"unknown visibility codes {sorted(unknown)}; expected {', '.join(VISIBILITY)}",
            "code-invalid",
        )
    current = repo.read(ctx, "DocumentReference", rid)
    doc = current.resource()
    kept = []
    for cc in doc.get("securityLabel") or []:
        codes = d.codings(cc)
        if any(
            c.get("system") == labels.DMP_VISIBILITY_SYSTEM and c.get("code") in remove | add
            for c in codes
        ):
            continue
        kept.append(cc)
    for code in sorted(add):
        kept.append({"coding": [{"system": labels.DMP_VISIBILITY_SYSTEM, "code": code}]})
    doc["securityLabel"] = kept
    result = repo.update(
        ctx,
        "DocumentReference",
        rid,
        doc,
        if_match=if_match if if_match is not None else current.version,
        method="PATCH",
    )
    assert result.stored is not None
    return result.stored
