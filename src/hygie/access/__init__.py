"""Who may do what: SMART scopes and the shared-record access policy, enforced by the Repository.

`install(repo)` plugs the policy into a Repository (`repo.enforcement.policy`); the app does it
when it is built (rest/app.py `create_app`). docs/access.md states the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hygie.access.config import AccessConfig
    from hygie.access.policy import AccessPolicy
    from hygie.store import Repository


def install(repo: Repository, config: AccessConfig | None = None) -> AccessPolicy:
    from hygie.access.policy import AccessPolicy

    policy = AccessPolicy(repo.backend, config)
    repo.enforcement.policy = policy
    return policy
