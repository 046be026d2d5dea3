"""The caller's context, carried by every Repository call, and the guard hook.

The access policy (`hygie.access`) and the audit trail (`hygie.audit`) plug in as guards: the
Repository calls every registered guard at its boundary, so no endpoint can bypass them. The
core knows only this protocol, never the policies themselves.

`rest/` (or the CLI) builds a Context from the verified access token once per request; nothing
below it reads tokens or headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
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
    patient: str | None = (
        None  # Patient/… in context (a patient's own record, SMART launch/patient)
    )
    represented: frozenset[str] = field(
        default_factory=frozenset
    )  # Patient/… a representative acts for
    btg_reason: str | None = None  # the stated reason of a break-the-glass access
    session: str | None = None  # token id (jti), to correlate audit records
    source: str | None = None  # network address of the caller, for audit records

    @classmethod
    def system(cls) -> Context:
        """The server itself: one shared, immutable instance (made on every request before)."""
        return _SYSTEM

    @property
    def is_system(self) -> bool:
        return self.kind == SYSTEM


# attributes read-only: the instance is shared by every caller
_SYSTEM = Context(attributes=MappingProxyType({}))  # type: ignore[arg-type]


class Guard(Protocol):
    """A coarse check before any data is touched: raise FhirError (401/403) to refuse."""

    def check(self, ctx: Context, action: str, rtype: str | None, rid: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Restriction:
    """A row filter on one `resources` alias, applied by the search SQL wherever resources are
    read for a caller: the matches, COUNTs, chained and `_has` sub-queries, `_list`,
    `_include`/`_revinclude`, history, conditional matches. `sql` names the alias `{a}` and
    uses `?` placeholders; `args` are repeated for each rendering."""

    sql: str
    args: tuple[Any, ...] = ()

    def render(self, alias: str) -> tuple[str, list[Any]]:
        return "(" + self.sql.replace("{a}", alias) + ")", list(self.args)


NOTHING = Restriction("1 = 0")


@dataclass(frozen=True, slots=True)
class SearchScope:
    """What a search is about, for the policy to restrict it: the types searched, the
    compartment (`Patient/1/*`) and the raw parameters (to find the patients it targets)."""

    types: tuple[str, ...]
    compartment: tuple[str, str] | None = None
    params: tuple[tuple[str, str], ...] = ()


class Policy(Guard, Protocol):
    """The access policy (`hygie.access`): the coarse check, the row filter of searches, the
    decision on each loaded resource, and the check of each write inside its transaction."""

    def restriction(self, ctx: Context, action: str, scope: SearchScope) -> Restriction | None:
        """None: no restriction (the server itself, a system client)."""
        ...

    def admit(self, ctx: Context, action: str, rtype: str, resource: dict[str, Any]) -> bool:
        """May the caller see this loaded resource (read, vread, history entries, and the
        safety net after every search)? False answers 404: the caller may not learn it exists."""
        ...

    def check_write(
        self,
        ctx: Context,
        cur: Any,
        action: str,
        rtype: str,
        new: dict[str, Any] | None,
        previous: dict[str, Any] | None,
    ) -> None:
        """Inside the write transaction, with the current version: raise FhirError to refuse."""
        ...


@dataclass(slots=True)
class Access:
    """One access or change to record (`hygie.audit` turns it into a BALP AuditEvent)."""

    ctx: Context
    action: str  # read, vread, search, history, create, update, patch, delete, operation, login…
    rtype: str | None = None
    rid: str | None = None
    status: int = 200  # the HTTP status the caller gets
    patients: set[str] = field(default_factory=set)  # Patient/… whose data was touched
    entities: list[str] = field(default_factory=list)  # Type/id touched (read, written, found)
    resources: list[dict[str, Any]] = field(default_factory=list)  # the content touched
    query: str | None = None  # the search or history query, as sent
    detail: str | None = None  # why it failed, for failures


class Recorder(Protocol):
    """The audit trail. `record` returns once the record is durable: with `cur` (inside a
    write transaction) it is written in that transaction; without, it is committed before
    `record` returns (reads are recorded before the response)."""

    def record(self, access: Access, cur: Any = None) -> None: ...

    async def arecord(self, access: Access) -> None: ...
