"""Import one Bundle file (.json or .json.gz) — all or nothing.

- transaction and batch Bundles run through the BundleProcessor, as `POST /fhir` would: a
  transaction is one database transaction; batch entries succeed or fail one by one.
- any other Bundle (collection, searchset, history, document, message…) has its entry resources
  stored with one Repository.load, so in one transaction: one invalid entry stores nothing of
  the file, and every invalid entry is reported with its index. `urn:uuid:` fullUrls are given
  ids and the references to them rewritten, as in a transaction.
- a file holding a single resource (not a Bundle) stores that resource.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import orjson

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate
from hygie.importing.ndjson import label
from hygie.importing.report import FileReport, describe_error, describe_issues
from hygie.store import Context, Repository
from hygie.store.bundle import BundleProcessor, rewrite_references
from hygie.store.records import new_id

BASE = "http://localhost/fhir"  # resolves absolute request urls like the server's own base
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
_LOCAL_URL = ("urn:uuid:", "urn:oid:")


def read_json(path: Path, report: FileReport) -> Any:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            report.problem("", f"not a readable gzip file: {exc}")
            return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        report.problem(f"line {exc.lineno}", f"invalid JSON: {exc}")
        return None


def import_bundle_file(repo: Repository, ctx: Context, path: Path, report: FileReport) -> None:
    doc = read_json(path, report)
    if doc is None:
        return
    if not isinstance(doc, dict):
        report.problem("", "expected a JSON object: a Bundle or a resource")
        return
    if doc.get("resourceType") != "Bundle":
        report.kind = "resource"
        _store(repo, ctx, [doc], [""], report)
        return
    kind = doc.get("type")
    report.kind = f"{kind} bundle" if isinstance(kind, str) else "bundle"
    if kind in ("transaction", "batch"):
        _process(repo, ctx, doc, report)
    else:
        _collection(repo, ctx, doc, report)


def _process(repo: Repository, ctx: Context, bundle: dict[str, Any], report: FileReport) -> None:
    try:
        response = BundleProcessor(repo).process(ctx, bundle, base=BASE, prefer_minimal=True)
    except FhirError as exc:
        where = ""
        for issue in exc.issues:
            m = _ENTRY.search(f"{issue.expression or ''} {issue.diagnostics}")
            if m:
                where = f"entry {m.group(1)}"
                break
        nothing = ", nothing stored" if bundle.get("type") == "transaction" else ""
        report.problem(where, f"{bundle.get('type')} refused{nothing}: {describe_error(exc)}")
        return
    requests = [e.get("request", {}) for e in bundle.get("entry") or []]
    for n, (entry, request) in enumerate(zip(response["entry"], requests, strict=True)):
        status = entry["response"]["status"]
        if status.startswith("2"):
            if request.get("method") not in ("GET", "HEAD"):
                report.loaded += 1
        elif not status.startswith("3"):
            issues = (entry["response"].get("outcome") or {}).get("issue") or []
            text = "; ".join(i.get("diagnostics", i.get("code", "")) for i in issues)
            report.problem(
                f"entry {n}", f"{request.get('method')} {request.get('url')}: {status}: {text}"
            )


def _collection(repo: Repository, ctx: Context, bundle: dict[str, Any], report: FileReport) -> None:
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        report.problem("", "Bundle.entry must be an array")
        return
    resources: list[Any] = []
    places: list[str] = []
    mapping: dict[str, str] = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            report.problem(f"entry {n}", "an entry must be a JSON object")
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # a searchset's OperationOutcome is not data
        res = entry.get("resource")
        if not isinstance(res, dict):
            report.problem(f"entry {n}", "the entry has no resource")
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith(_LOCAL_URL):
            res.setdefault("id", new_id())
            mapping[full_url] = f"{res.get('resourceType')}/{res['id']}"
        resources.append(res)
        places.append(f"entry {n}")
    if report.problems:
        report.problem("", "nothing stored from this bundle")
        return
    if mapping:
        resources = [rewrite_references(r, mapping) for r in resources]
    _store(repo, ctx, resources, places, report)


def _store(
    repo: Repository, ctx: Context, resources: list[Any], places: list[str], report: FileReport
) -> None:
    """One Repository.load: one transaction; on refusal name every invalid resource."""
    try:
        report.loaded += repo.load(ctx, resources)
        return
    except FhirError as exc:
        first = exc
    found = False
    for res, where in zip(resources, places, strict=True):
        errors = [i for i in validate(res) if i.severity in ("error", "fatal")]
        if errors:
            found = True
            report.problem(where, f"invalid {label(res)}: {describe_issues(errors)}")
    if not found:
        report.problem("", describe_error(first))
    if len(resources) > 1:
        report.problem("", "nothing stored from this bundle")
