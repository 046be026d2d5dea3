"""The caller's context, carried by every Repository call, and the guard hook.

The access policy (`hygie.access`) and the audit trail (`hygie.audit`) plug in as guards: the
Repository calls every registered guard at its boundary, so no endpoint can bypass them. The
core knows only this protocol, never the policies themselves.

`rest/` (or the CLI) builds a Context from the verified access token once per request; nothing
below it reads tokens or headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Who the caller is (`Context.kind`).
SYSTEM = "system"  # the server itself: imports, migrations, background jobs
CLIENT = "client"  # a registered system client (client credentials, `system/…` scopes)
PRACTITIONER = "practitioner"  # a health professional (RPPS/ADELI)
PATIENT = "patient"  # a patient acting for themself
REPRESENTATIVE = "representative"  # a legal representative of a minor or protected adult

# How strongly the caller authenticated (`Context.auth_level`), mapped from the token's `acr`.
AUTH_NONE = "none"
AUTH_PASSWORD = "password"  # one factor
AUTH_MFA = "mfa"  # two factors (TOTP, WebAuthn, e-CPS, CPS card)


@dataclass(frozen=True, slots=True)
class Context:
    """Who is calling, and why. `system()` is the server itself (imports, migrations)."""

    actor: str = "system"  # FHIR reference of the caller (Practitioner/…, Patient/…, RelatedPerson/…, Device/…)
    kind: str = SYSTEM
    scopes: frozenset[str] = field(default_factory=frozenset)  # SMART v2 scopes granted
    purpose: str | None = None  # purpose of use; "BTG" for break-the-glass (see `btg_reason`)
    attributes: dict[str, Any] = field(default_factory=dict)
    display: str | None = None  # the caller's name, for audit records
    user: str | None = None  # account id (auth subject); None for the system
    client_id: str | None = None  # the OAuth client the request came through
    auth_level: str = AUTH_NONE
    profession: str | None = None  # profession code (TRE_G15, e.g. "10" médecin) for practitioners
    specialty: str | None = None  # specialty code (TRE_R38) for practitioners
    rpps: str | None = None  # national professional id (IDNPS / RPPS) for practitioners
    organization: str | None = None  # Organization/… the practitioner acts for
    patient: str | None = None  # Patient/… in context (a patient's own record, SMART launch/patient)
    represented: frozenset[str] = field(default_factory=frozenset)  # Patient/… a representative acts for
    btg_reason: str | None = None  # the stated reason of a break-the-glass access
    session: str | None = None  # token id (jti), to correlate audit records
    source: str | None = None  # network address of the caller, for audit records

    @classmethod
    def system(cls) -> Context:
        return cls()

    @property
    def is_system(self) -> bool:
        return self.kind == SYSTEM


class Guard(Protocol):
    """Decides (raise FhirError 403) and records each access to health data."""

    def check(self, ctx: Context, action: str, rtype: str | None, rid: str | None) -> None: ...
