"""The caller's context, carried by every Repository call, and the guard hook.

The access policy (`hygie.access`) and the audit trail (`hygie.audit`) plug in as guards: the
Repository calls every registered guard at its boundary, so no endpoint can bypass them. The
core knows only this protocol, never the policies themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Context:
    """Who is calling, and why. `system()` is the server itself (imports, migrations)."""

    actor: str = "system"
    kind: str = "system"  # system | practitioner | patient | representative
    scopes: frozenset[str] = field(default_factory=frozenset)
    purpose: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def system(cls) -> Context:
        return cls()


class Guard(Protocol):
    """Decides (raise FhirError 403) and records each access to health data."""

    def check(self, ctx: Context, action: str, rtype: str | None, rid: str | None) -> None: ...
