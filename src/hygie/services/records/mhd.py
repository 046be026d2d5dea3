"""IHE MHD ITI-65 Provide Document Bundle, with the PDSm/DMP rules (comprehensive metadata).

A transaction Bundle is an ITI-65 publication when it claims an MHD/PDSm Provide Bundle
profile or carries a SubmissionSet List (`List.code` = MHDlistTypes#submissionset). It is
checked as a whole before anything is written (IHE ITI TF-2 3.65.4.1.3 and MHD's
ProvideBundle profiles):

- exactly one SubmissionSet List (POST), with a uniqueId identifier, sourceId and
  designationType extensions, an author (`source`), a date, the patient as subject, and an
  entry for each DocumentReference of the bundle (and only those);
- each DocumentReference (POST) passes the fiche rules of `documents.py`; its attachment.url
  names a Binary of the bundle (its fullUrl) or a Binary already on the server (large documents
  uploaded first as a raw stream); size and SHA-1 hash match those bytes; all documents and
  the SubmissionSet are about the same patient, whose identity is qualified;
- each Binary of the bundle is the content of exactly one DocumentReference; its bytes pass
  the format checks; they go to the blob store before the transaction, and the Binary is
  stored with its blob metadata and `securityContext` → its DocumentReference;
- `relatesTo` replaces: the replaced fiche exists, is current and about the same patient; it
  becomes `superseded` in the same transaction (MHD: "the Document Recipient shall update the
  status of the replaced DocumentReference").

Any problem → one OperationOutcome listing them all (422; 400 for a malformed bundle), and
nothing is written. Otherwise the bundle runs as an ordinary FHIR transaction through the
Repository (access policy, audit and outbox included) and the answer is its
transaction-response, one entry per request entry in order (ITI-65 response).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson

from hygie.fhir.outcome import FhirError, Issue
from hygie.services.records import documents as d
from hygie.services.records.binary import (
    BLOB_TRUSTED,
    blob_ref,
    decode_data,
    media_type,
    store_bytes,
    with_blob,
)
from hygie.services.records.config import RecordsSettings
from hygie.store import Context, Repository
from hygie.store.blobs import BlobStore

MHD = "https://profiles.ihe.net/ITI/MHD"
LIST_TYPES = f"{MHD}/CodeSystem/MHDlistTypes"
SOURCE_ID_URL = f"{MHD}/StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE_URL = f"{MHD}/StructureDefinition/ihe-designationType"
PROVIDE_PROFILES = frozenset(
    {
        f"{MHD}/StructureDefinition/IHE.MHD.Minimal.ProvideBundle",
        f"{MHD}/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle",
        f"{MHD}/StructureDefinition/IHE.MHD.UnContained.Comprehensive.ProvideBundle",
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle",
    }
)
# Set in Context.attributes for the transaction of a checked publication.
PUBLICATION = "hygie.records.mhd-publication"

Resource = dict[str, Any]


def is_submission_set(res: Any) -> bool:
    return (
        isinstance(res, dict)
        and res.get("resourceType") == "List"
        and any(
            c.get("system") == LIST_TYPES and c.get("code") == "submissionset"
            for c in d.codings(res.get("code"))
        )
    )


class ProvideBundle:
    """The `BundleHandler` of ITI-65 (registered in `Repository.bundle_handlers`)."""

    def __init__(self, repo: Repository, blobs: BlobStore, settings: RecordsSettings) -> None:
        self.repo = repo
        self.blobs = blobs
        self.settings = settings
        self.params_ready = False

    def ensure_params(self) -> None:
        """The records search parameters, stored before the first document is written here
        (not at start: an unused server stays empty)."""
        if not self.params_ready:
            from hygie.services.records.search_params import ensure_search_parameters

            ensure_search_parameters(self.repo)
            self.params_ready = True

    def accepts(self, bundle: dict[str, Any]) -> bool:
        if bundle.get("type") != "transaction":
            return False
        if set((bundle.get("meta") or {}).get("profile") or ()) & PROVIDE_PROFILES:
            return True
        return any(
            is_submission_set((e or {}).get("resource"))
            for e in bundle.get("entry") or []
            if isinstance(e, dict)
        )

    def process(
        self,
        ctx: Context,
        bundle: dict[str, Any],
        *,
        base: str,
        processor: Any,
        prefer_minimal: bool,
    ) -> dict[str, Any]:
        self.ensure_params()
        plan = _Plan(self, ctx, bundle, base)
        plan.check()
        tx = plan.transaction()
        tx_ctx = dataclasses.replace(
            ctx, attributes={**ctx.attributes, BLOB_TRUSTED: True, PUBLICATION: True}
        )
        result = processor.process(
            tx_ctx, tx, base=base, prefer_minimal=prefer_minimal, handlers=False
        )
        # one response entry per request entry, without the entries the service added
        result["entry"] = result["entry"][: len(bundle.get("entry") or [])]
        return result


class _Plan:
    """One publication being checked: entries by kind, resolved references, issues found."""

    def __init__(
        self, owner: ProvideBundle, ctx: Context, bundle: dict[str, Any], base: str
    ) -> None:
        self.o = owner
        self.ctx = ctx
        self.base = base
        self.bundle = bundle
        self.entries: list[dict[str, Any]] = [
            e for e in bundle.get("entry") or [] if isinstance(e, dict)
        ]
        self.by_url: dict[str, Resource] = {}
        self.issues: list[Issue] = []
        self.blobs: dict[int, Any] = {}  # entry index of a Binary → BlobInfo / BlobRef
        self.binary_owner: dict[int, int] = {}  # Binary entry → DocumentReference entry
        self.replaced: list[tuple[str, str]] = []  # (DocumentReference id, patient ref)
        self._server: dict[str, Resource | None] = {}
        self.server_binaries: list[tuple[Resource, str]] = []  # uploaded before, now governed
        for e in self.entries:
            if isinstance(e.get("fullUrl"), str) and isinstance(e.get("resource"), dict):
                self.by_url[e["fullUrl"]] = e["resource"]

    # -- resolution -----------------------------------------------------------------------------
    def resolve(self, ref: str) -> Resource | None:
        if ref in self.by_url:
            return self.by_url[ref]
        if ref.startswith(self.base + "/"):
            ref = ref[len(self.base) + 1 :]
        parts = ref.split("/")
        if len(parts) != 2 or "?" in ref:
            return None
        if ref not in self._server:
            try:
                self._server[ref] = self.o.repo.read(self.ctx, parts[0], parts[1]).resource()
            except FhirError as exc:
                if exc.status == 403:
                    raise
                self._server[ref] = None
        return self._server[ref]

    def _issue(self, code: str, text: str, where: str) -> None:
        self.issues.append(Issue(code, text, expression=where))

    # -- the checks -----------------------------------------------------------------------------
    def check(self) -> None:
        lists, docs, binaries = [], [], []
        for n, e in enumerate(self.entries):
            res = e.get("resource")
            kind = res.get("resourceType") if isinstance(res, dict) else None
            method = (e.get("request") or {}).get("method")
            if is_submission_set(res):
                lists.append(n)
            elif kind == "DocumentReference":
                docs.append(n)
            elif kind == "Binary":
                binaries.append(n)
            if kind in ("DocumentReference", "Binary", "List") and method != "POST":
                self._issue(
                    "business-rule",
                    f"ITI-65 creates: entry {n} ({kind}) must be a POST, not {method}",
                    f"Bundle.entry[{n}].request.method",
                )
            if kind in ("DocumentReference", "Binary", "List") and not e.get("fullUrl"):
                self._issue("required", f"entry {n} needs a fullUrl", f"Bundle.entry[{n}].fullUrl")
        if len(lists) != 1:
            self._issue(
                "structure",
                f"an ITI-65 bundle carries exactly one SubmissionSet List, found {len(lists)}",
                "Bundle.entry",
            )
        if not docs:
            self._issue(
                "structure",
                "an ITI-65 bundle carries at least one DocumentReference",
                "Bundle.entry",
            )
        if self.issues:
            raise FhirError(422, issues=self.issues)
        patient = self._submission_set(lists[0], docs)
        self._store_binaries(binaries)
        for n in docs:
            self._document(n, patient)
        for n in binaries:
            if n not in self.binary_owner:
                self._issue(
                    "business-rule",
                    f"the Binary of entry {n} is the content of no DocumentReference",
                    f"Bundle.entry[{n}]",
                )
        if self.issues:
            raise FhirError(422, issues=self.issues)

    def _submission_set(self, n: int, docs: list[int]) -> str:
        res = self.entries[n]["resource"]
        w = f"Bundle.entry[{n}].resource"
        if not any((i or {}).get("value") for i in res.get("identifier") or []):
            self._issue(
                "required",
                "the SubmissionSet needs its identifiers (uniqueId, entryUUID)",
                f"{w}.identifier",
            )
        if not any(
            isinstance(x, dict) and x.get("url") == SOURCE_ID_URL
            for x in res.get("extension") or []
        ):
            self._issue(
                "required",
                "the SubmissionSet needs the ihe-sourceId extension (the sending system's OID)",
                f"{w}.extension",
            )
        if not any(
            isinstance(x, dict) and x.get("url") == DESIGNATION_TYPE_URL
            for x in res.get("extension") or []
        ):
            self._issue(
                "required",
                "the SubmissionSet needs the ihe-designationType extension (PDSm)",
                f"{w}.extension",
            )
        if not res.get("source"):
            self._issue(
                "required", "the SubmissionSet needs an author (List.source)", f"{w}.source"
            )
        if not res.get("date"):
            self._issue(
                "required", "the SubmissionSet needs its submission date (List.date)", f"{w}.date"
            )
        listed = {
            (x.get("item") or {}).get("reference")
            for x in res.get("entry") or []
            if isinstance(x, dict)
        }
        doc_urls = {self.entries[k].get("fullUrl") for k in docs}
        for k in docs:
            if self.entries[k].get("fullUrl") not in listed:
                self._issue(
                    "business-rule",
                    f"the DocumentReference of entry {k} is not listed in the SubmissionSet",
                    f"{w}.entry",
                )
        for ref in listed - doc_urls:
            self._issue(
                "business-rule",
                f"the SubmissionSet lists '{ref}', which is no DocumentReference of the bundle",
                f"{w}.entry",
            )
        subject = (res.get("subject") or {}).get("reference")
        if not isinstance(subject, str):
            self._issue(
                "required", "the SubmissionSet needs the patient as subject", f"{w}.subject"
            )
            return ""
        subject = self._server_ref(subject)
        self.issues += d.patient_issues(self.resolve(subject), subject, w)
        return subject

    def _server_ref(self, ref: str) -> str:
        return ref[len(self.base) + 1 :] if ref.startswith(self.base + "/") else ref

    def _store_binaries(self, binaries: list[int]) -> None:
        for n in binaries:
            res = self.entries[n]["resource"]
            w = f"Bundle.entry[{n}].resource"
            if "data" not in res:
                self._issue(
                    "required",
                    "a Binary of an ITI-65 bundle carries its document in data",
                    f"{w}.data",
                )
                continue
            media = media_type(res.get("contentType"))
            if not self.o.settings.accepts(media):
                self._issue(
                    "not-supported",
                    f"documents of type '{media}' are not accepted",
                    f"{w}.contentType",
                )
                continue
            try:
                content = decode_data(res["data"], self.o.settings.max_inline, w)
                self.blobs[n] = store_bytes(self.o.blobs, content, media, self.o.settings, w)
            except FhirError as exc:
                if exc.status == 413:
                    raise
                self.issues += exc.issues

    def _document(self, n: int, patient: str) -> None:
        e = self.entries[n]
        doc = e["resource"]
        w = f"Bundle.entry[{n}].resource"
        self.issues += d.metadata_issues(doc, self.o.settings, w)
        subject = self._server_ref(str((doc.get("subject") or {}).get("reference") or ""))
        if subject != patient:
            self._issue(
                "business-rule",
                f"the document's subject '{subject}' is not the SubmissionSet's patient '{patient}'",
                f"{w}.subject",
            )
        self.issues += d.author_issues(doc, subject, self.resolve, w)
        self.issues += d.related_issues(doc, self.resolve, w)
        self._attachment(n, doc, w)
        for i, rel in enumerate(doc.get("relatesTo") or []):
            if (rel or {}).get("code") == "replaces":
                self._replaces(doc, rel, patient, f"{w}.relatesTo[{i}]")

    def _attachment(self, n: int, doc: Resource, w: str) -> None:
        att = ((doc.get("content") or [{}])[0] or {}).get("attachment") or {}
        url = att.get("url")
        binary, blob = None, None
        target = (
            next((k for k, e in enumerate(self.entries) if e.get("fullUrl") == url), None)
            if url
            else None
        )
        if target is not None:
            binary = self.entries[target].get("resource")
            if not isinstance(binary, dict) or binary.get("resourceType") != "Binary":
                binary = None
            elif target in self.binary_owner:
                self._issue(
                    "business-rule",
                    f"the Binary {url} is already the content of entry {self.binary_owner[target]}",
                    f"{w}.content[0].attachment.url",
                )
                return
            else:
                self.binary_owner[target] = n
                blob = self.blobs.get(target)
                if blob is None:
                    return  # its own problem is already reported
        elif isinstance(url, str) and self._server_ref(url).startswith("Binary/"):
            binary = self.resolve(self._server_ref(url))
            blob = blob_ref(binary) if binary else None
            if binary is not None and blob is not None:
                owner = str((binary.get("securityContext") or {}).get("reference") or "")
                if owner.startswith("DocumentReference/"):  # (a Patient/… context is a placeholder)
                    self._issue(
                        "business-rule",
                        f"{url} is already the content of {owner}",
                        f"{w}.content[0].attachment.url",
                    )
                    return
                self.server_binaries.append((binary, self.entries[n].get("fullUrl")))
        self.issues += d.attachment_issues(doc, blob, binary, w)

    def _replaces(self, doc: Resource, rel: dict[str, Any], patient: str, w: str) -> None:
        ref = self._server_ref(str((rel.get("target") or {}).get("reference") or ""))
        old = self.resolve(ref) if ref.startswith("DocumentReference/") else None
        if old is None:
            self._issue("not-found", f"the replaced fiche '{ref}' does not exist", f"{w}.target")
        elif d.is_deleted(old):
            self._issue("not-found", f"the replaced fiche '{ref}' is deleted", f"{w}.target")
        elif old.get("status") != "current":
            self._issue(
                "business-rule",
                f"the replaced fiche '{ref}' is {old.get('status')}, not current",
                f"{w}.target",
            )
        elif self._server_ref(str((old.get("subject") or {}).get("reference") or "")) != patient:
            self._issue(
                "business-rule",
                f"the replaced fiche '{ref}' is about another patient",
                f"{w}.target",
            )
        else:
            self.replaced.append((ref.split("/", 1)[1], patient))

    # -- the transaction ------------------------------------------------------------------------
    def transaction(self) -> dict[str, Any]:
        """The bundle to run: Binaries as blob metadata with their securityContext, then the
        replaced fiches marked superseded (JSON Patch with a `test`, so a concurrent change
        fails the whole transaction)."""
        entries = []
        for n, e in enumerate(self.entries):
            e = dict(e)
            if n in self.blobs:
                owner = self.entries[self.binary_owner[n]].get("fullUrl")
                res = with_blob(e["resource"], self.blobs[n])
                res["securityContext"] = {"reference": owner}
                e["resource"] = res
            entries.append(e)
        for binary, owner in self.server_binaries:
            res = {k: v for k, v in binary.items() if k != "meta"}
            res["meta"] = {"extension": binary["meta"]["extension"]}
            res["securityContext"] = {"reference": owner}
            entries.append(
                {"resource": res, "request": {"method": "PUT", "url": f"Binary/{binary['id']}"}}
            )
        for rid, _patient in self.replaced:
            ops = [
                {"op": "test", "path": "/status", "value": "current"},
                {"op": "replace", "path": "/status", "value": "superseded"},
            ]
            entries.append(
                {
                    "resource": {
                        "resourceType": "Binary",
                        "contentType": "application/json-patch+json",
                        "data": base64.b64encode(orjson.dumps(ops)).decode(),
                    },
                    "request": {"method": "PATCH", "url": f"DocumentReference/{rid}"},
                }
            )
        return {**self.bundle, "entry": entries}
