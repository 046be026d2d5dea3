"""The shared medical record (DMP) over IHE MHD, with the PDSm/DMP rules.

- `mhd`: ITI-65 Provide Document Bundle (checked as a whole, all-or-nothing);
- `documents`: the rules of one fiche (metadata codes, INS of a qualified identity, RPPS author,
  attachment size and hash, image-study links); `terminology`: the vendored value sets;
- `binary`, `formats`: document bytes in the blob store, format checks;
- `lifecycle`: status, visibility, logical deletion; `events`: outbox events;
- `search_params`: the MHD/PDSm search parameters the R4 core lacks.
ITI-66/67 are FHIR searches and ITI-68 a Binary read: `rest/records_ops.py` serves them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hygie.services.records.binary import BinaryWriteHook
from hygie.services.records.config import RecordsSettings
from hygie.services.records.events import DocumentEvents
from hygie.services.records.lifecycle import DocumentWriteHook
from hygie.services.records.mhd import ProvideBundle
from hygie.services.records.search_params import without_deleted
from hygie.store import Repository
from hygie.store.blobs import BlobStore, FileBlobStore, default_blob_dir
from hygie.store.outbox import Dispatcher


@dataclass
class Records:
    repo: Repository
    blobs: BlobStore
    settings: RecordsSettings
    dispatcher: Dispatcher
    provide: ProvideBundle  # the ITI-65 handler registered on the repository


def install(
    repo: Repository,
    *,
    blobs: BlobStore | None = None,
    settings: RecordsSettings | None = None,
) -> Records:
    """Register the shared-record rules, the ITI-65 handler and the document events on a
    repository (once). The MHD search parameters are stored at the first publication
    (`search_params.ensure_search_parameters`), so an unused server stays empty."""
    settings = settings or RecordsSettings.from_env()
    blobs = blobs or FileBlobStore(default_blob_dir(repo.backend.url))
    provide = next((h for h in repo.bundle_handlers if isinstance(h, ProvideBundle)), None)
    if provide is None:
        provide = ProvideBundle(repo, blobs, settings)
        repo.before_write.append(BinaryWriteHook(blobs, settings))
        repo.before_write.append(DocumentWriteHook(repo, settings))
        repo.after_write.append(DocumentEvents())
        repo.bundle_handlers.append(provide)
        repo.search_defaults.append(without_deleted)
    return Records(repo, provide.blobs, provide.settings, Dispatcher(repo.backend), provide)


def collect_garbage(records: Records, *, grace_seconds: float = 3600) -> int:
    """Delete the blobs older than the grace period that no Binary references (bytes of a
    refused or rolled-back publication); the number deleted. Older versions of a Binary keep
    no claim on their bytes."""
    from hygie.services.records.search_params import referenced

    records.provide.ensure_params()
    return records.blobs.collect_garbage(
        lambda name: referenced(records.repo, name), grace_seconds=grace_seconds
    )


__all__ = ["Records", "RecordsSettings", "collect_garbage", "install"]
