"""Blob garbage collection: the bytes of refused or rolled-back publications go, the bytes of
stored Binaries stay (found through the `blob` search parameter on Binary)."""

from __future__ import annotations

from hygie.services import records
from hygie.store import Context
from hygie.store.bundle import BundleProcessor
from tests.services.records.conftest import add_patient, pdf, provide_bundle


def publish(repo, patient, n: int = 1) -> dict:
    bundle = provide_bundle(patient, [pdf(300, f"gc-{i}") for i in range(n)])
    return BundleProcessor(repo).process(Context.system(), bundle, base="http://testserver/fhir")


def test_garbage_collection_removes_only_unreferenced_blobs(app):
    service = app.records.service
    patient = add_patient(app.repo)
    publish(app.repo, patient, n=2)
    orphan = service.blobs.put([b"%PDF-1.4 bytes of a refused publication %%EOF"]).sha256
    kept = {p.name for p in service.blobs.root.glob("??/??/*")} - {orphan}
    assert len(kept) == 2
    assert records.collect_garbage(service, grace_seconds=0) == 1
    assert {p.name for p in service.blobs.root.glob("??/??/*")} == kept
