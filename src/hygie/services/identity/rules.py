"""The identity rules every Patient write obeys, as a Repository write hook.

1. Each INS identifier (NIR, NIA, test and demo OIDs) is well formed with the right key
   (`nir.problems`); otherwise 422 naming the identifier and what is wrong.
2. The identity is coherent: a known status; DOUT/FICT only on a provisional identity and never
   together; an INS (not `use=old`) only on an identity retrieved from INSi (RECUP, QUAL), and
   at most one (FR Core fr-core-2).
3. Nobody forges a status: outside the `$identity-status` operation a write may not change the
   protected identity — status, DOUT/FICT attributes, active INS identifiers, and the strict
   traits of a non-provisional identity — and a new Patient starts provisional without an INS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hygie.fhir.outcome import FhirError, Issue
from hygie.services.identity import nir, profile, status
from hygie.services.identity.traits import from_patient
from hygie.store import Context, Stored

# Set in Context.attributes by the status operation (never reachable from a client request).
STATUS_OPERATION = "hygie.identity.status-operation"


def ins_identifiers(patient: dict[str, Any], *, active_only: bool = True) -> list[tuple[int, dict]]:
    found = []
    for i, ident in enumerate(patient.get("identifier") or []):
        if isinstance(ident, dict) and ident.get("system") in nir.INS_SYSTEMS:
            if not active_only or ident.get("use") != "old":
                found.append((i, ident))
    return found


def identifier_issues(patient: dict[str, Any]) -> list[Issue]:
    issues = []
    for i, ident in ins_identifiers(patient, active_only=False):
        kind = nir.INS_SYSTEMS[ident["system"]][0]
        value = ident.get("value")
        where = f"Patient.identifier[{i}].value"
        if not isinstance(value, str):
            issues.append(Issue("required", f"{kind} identifier without a value", expression=where))
            continue
        for p in nir.problems(value):
            issues.append(
                Issue("value", f"{kind} '{value}' {p.message} ({p.kind})", expression=where)
            )
    return issues


def coherence_issues(patient: dict[str, Any]) -> list[Issue]:
    code = profile.status(patient)
    where = "Patient.extension('fr-core-identity-reliability')"
    if code is not None and code not in status.STATUSES:
        return [Issue("code-invalid", f"unknown identity status '{code}'", expression=where)]
    issues = [
        Issue("business-rule", m, expression=where)
        for m in status.attribute_problems(code, profile.comments(patient))
    ]
    active = ins_identifiers(patient)
    if active and code not in (status.RECUP, status.QUAL):
        issues.append(
            Issue(
                "business-rule",
                f"an INS identifier is carried only by an identity retrieved from INSi (RECUP or QUAL),"
                f" not {code or 'an identity without status (provisional)'}",
                expression=f"Patient.identifier[{active[0][0]}]",
            )
        )
    if len(active) > 1:
        issues.append(
            Issue(
                "business-rule",
                "at most one active INS identifier (fr-core-2)",
                expression=f"Patient.identifier[{active[1][0]}]",
            )
        )
    return issues


@dataclass(frozen=True, slots=True)
class Protected:
    """What only the status operation may change."""

    status: str
    attributes: frozenset[str]
    ins: tuple[tuple[str, str], ...]
    traits: tuple[Any, ...] | None

    @classmethod
    def of(cls, patient: dict[str, Any]) -> Protected:
        code = profile.status(patient) or status.PROV
        return cls(
            code,
            frozenset(profile.comments(patient) & status.RESTRICTING),
            tuple(sorted((i["system"], str(i.get("value"))) for _, i in ins_identifiers(patient))),
            None if code == status.PROV else from_patient(patient).strict(),
        )

    def differences(self, other: Protected) -> list[str]:
        names = {
            "status": "the identity status",
            "attributes": "the DOUT/FICT attributes",
            "ins": "the INS identifier",
            "traits": "the INS traits",
        }
        return [label for k, label in names.items() if getattr(self, k) != getattr(other, k)]


class IdentityWriteHook:
    """Registered on the Repository: checks every Patient write (creation, update, patch,
    transaction entry) inside its transaction."""

    resource_types = frozenset({"Patient"})

    def __call__(self, ctx: Context, patient: dict[str, Any], previous: Stored | None) -> None:
        issues = identifier_issues(patient) + coherence_issues(patient)
        if issues:
            raise FhirError(422, issues=issues)
        if ctx.attributes.get(STATUS_OPERATION):
            return
        after = Protected.of(patient)
        if previous is None:
            if after.status != status.PROV or after.ins:
                raise FhirError(
                    422,
                    "a new identity is provisional (PROV) and carries no INS; retrieve the INS and"
                    " record document checks with Patient/[id]/$ins-lookup and $identity-status",
                    "business-rule",
                )
            return
        changed = Protected.of(previous.resource()).differences(after)
        if changed:
            raise FhirError(
                422,
                f"{' and '.join(changed)} may change only through Patient/{previous.id}"
                "/$identity-status, which checks the identity-vigilance rules and records why",
                "business-rule",
            )
