"""National health identity (INS) and identity vigilance.

- `nir`: NIR/NIA structure and key; `traits`: the five INS traits and their normalisation;
  `status`: identity statuses and the RNIV transitions; `rules`: the write hook every Patient
  write obeys; `insi`: the INSi teleservice interface and the local reference register;
  `lookup`, `status_change`: `$ins-lookup` and `$identity-status`; `compare`, `matching`:
  `$match`; `pix`: `$ihe-pix`; `duplicates`: the duplicate report; `merge`: merge/unmerge.
"""

from hygie.services.identity.insi import InsiConnector, LocalRegister, default_register
from hygie.services.identity.rules import IdentityWriteHook
from hygie.store import Repository

__all__ = ["IdentityWriteHook", "InsiConnector", "LocalRegister", "default_register", "install"]


def install(repo: Repository) -> None:
    """Register the identity rules on a repository (once)."""
    if not any(isinstance(h, IdentityWriteHook) for h in repo.before_write):
        repo.before_write.append(IdentityWriteHook())
