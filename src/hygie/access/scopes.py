"""SMART on FHIR scopes: parsing and matching (SMART App Launch v2.2, "Scopes and Launch Context",
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

Grammar of a resource scope (v2):

    ( "patient" | "user" | "system" ) "/" ( resource-type | "*" ) "." permissions [ "?" query ]

where permissions are letters of `cruds`, each at most once and in that order. SMART v1 suffixes
are accepted and mapped as the guide's table says: `.read` → `rs`, `.write` → `cud`, `.*` → `cruds`.
A query (`patient/Observation.rs?category=laboratory`) is parsed and kept, but such a scope grants
nothing here (finer-grained constraints are not supported yet): a server may grant fewer scopes
than asked, and `supported()` lets the token endpoint drop them.

What each permission covers (the guide's table of v2 permissions):
  c create; r read, vread and instance-level history; u update and patch; d delete;
  s type- and system-level search and history.
An operation (`$…`) is matched as a read (`r`) when called with GET semantics, or as an update
(`u`) when it changes data: the caller says which with `operation` / `operation-write`.

Non-resource scopes (openid, fhirUser, profile, launch, launch/patient, offline_access,
online_access) grant no data access by themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hygie.store.context import CLIENT, PATIENT, PRACTITIONER, REPRESENTATIVE, SYSTEM

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}

# The interaction → the permission letter it needs.
INTERACTION_PERMISSION: dict[str, str] = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
    "history": "s",  # type- or system-level history
    "operation": "r",
    "operation-write": "u",
}

# Non-resource scopes the server understands.
IDENTITY_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)

# Which scope contexts a caller of each kind (`Context.kind`) may exercise. A practitioner's app
# may hold patient/ scopes (a patient in context) as well as user/ ones; a system client only
# system/ ones.
KIND_CONTEXTS: dict[str, frozenset[str]] = {
    PRACTITIONER: frozenset({"user", "patient"}),
    PATIENT: frozenset({"user", "patient"}),
    REPRESENTATIVE: frozenset({"user", "patient"}),
    CLIENT: frozenset({"system"}),
}

_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]*)\.(?P<perm>[a-z*]+)(?:\?(?P<query>.*))?$"
)


class ScopeError(ValueError):
    """A scope string that is not a valid SMART scope."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: str  # patient | user | system
    rtype: str  # a resource type or "*"
    permissions: frozenset[str]  # letters of "cruds"
    query: str | None = None  # an optional constraint (kept, not supported for granting)
    v1: bool = False  # written in the v1 syntax (read/write/*)

    def grants(self, rtype: str, permission: str) -> bool:
        return (
            self.query is None
            and permission in self.permissions
            and (self.rtype == "*" or self.rtype == rtype)
        )

    def __str__(self) -> str:
        perms = "".join(p for p in PERMISSIONS if p in self.permissions)
        text = f"{self.context}/{self.rtype}.{perms}"
        return f"{text}?{self.query}" if self.query else text


@lru_cache(maxsize=4096)
def parse(scope: str) -> ResourceScope | None:
    """A resource scope, or None for a non-resource scope (openid, launch/patient…);
    raises ScopeError for a malformed resource scope."""
    if scope in IDENTITY_SCOPES or not scope.startswith(("patient/", "user/", "system/")):
        return None
    m = _RESOURCE_SCOPE.match(scope)
    if m is None:
        raise ScopeError(f"Malformed SMART scope '{scope}'")
    perm = m.group("perm")
    v1 = perm in _V1
    letters = _V1[perm] if v1 else perm
    if not v1:
        # v2: letters of cruds, each once, in that order
        order = [PERMISSIONS.find(ch) for ch in letters]
        if -1 in order or order != sorted(set(order)):
            raise ScopeError(
                f"Malformed SMART scope '{scope}': permissions must be letters of 'cruds' in that order"
            )
    query = m.group("query")
    return ResourceScope(m.group("context"), m.group("type"), frozenset(letters), query or None, v1)


def split(scope_param: str | None) -> frozenset[str]:
    """The scopes of an OAuth `scope` parameter (space-separated)."""
    return frozenset(s for s in (scope_param or "").split() if s)


def supported(scope: str) -> bool:
    """True when this server can grant the scope (known identity scope, or a resource scope
    without a query constraint)."""
    try:
        parsed = parse(scope)
    except ScopeError:
        return False
    if parsed is None:
        return scope in IDENTITY_SCOPES or scope.startswith("launch/")
    return parsed.query is None


@lru_cache(maxsize=8192)
def granting_contexts(scopes: frozenset[str], rtype: str, interaction: str) -> frozenset[str]:
    """The scope contexts (patient, user, system) among `scopes` that allow `interaction` on
    `rtype`. The policy uses it to know when only patient/ scopes grant (then the access is
    limited to the patient in context). Malformed scopes grant nothing."""
    try:
        permission = INTERACTION_PERMISSION[interaction]
    except KeyError:
        raise ValueError(f"Unknown interaction '{interaction}'") from None
    found: set[str] = set()
    for s in scopes:
        try:
            parsed = parse(s)
        except ScopeError:
            continue
        if parsed is not None and parsed.grants(rtype, permission):
            found.add(parsed.context)
    return frozenset(found)


def allows(scopes: frozenset[str], kind: str, rtype: str, interaction: str) -> bool:
    """Whether `scopes` let a caller of `kind` (a `Context.kind`: practitioner, patient,
    representative, client, system) perform `interaction` on `rtype`.

    The server itself (`Context.kind == "system"`) is not bound by scopes. A scope only counts in
    the contexts the caller's kind may use (a system client cannot use user/ scopes; a person
    cannot use system/ ones).
    """
    if kind == SYSTEM:
        return True
    allowed = KIND_CONTEXTS.get(kind)
    if not allowed:
        return False
    return bool(granting_contexts(scopes, rtype, interaction) & allowed)
