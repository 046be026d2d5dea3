"""Identity statuses and the transitions the national identity-vigilance reference allows.

RNIV (Référentiel national d'identitovigilance, volet 1, EXI SI 07) gives each local identity
one of four exclusive statuses, the crossing of two independent criteria (FR Core
`FRCoreCodeSystemIdentityStatus.fsh`):

    INS retrieved from the INSi teleservice?   no      yes
    checked on a high-trust document?   no     PROV    RECUP
                                        yes    VALI    QUAL

So a transition adds or removes criteria. Adding "retrieved" needs an INSi answer obtained by
the server in the same operation (never a client's word); adding "checked" needs the type of
the document (FR Core `fr-core-cs-mode-validation-identity`), a high-trust one, or since the
2024 RNIV one of the special cases (care-home residents, minors) with that case named.
Removing a criterion (the INS proved wrong, the document doubtful) is always allowed with a
reason. Attributes (EXI SI 09, invariants fr-core-identity-reliability-1/2): an identity marked
doubtful (DOUT) or fictitious (FICT) stays provisional and may not query INSi; DOUT and FICT
are never combined.
"""

from __future__ import annotations

from dataclasses import dataclass

PROV, RECUP, VALI, QUAL = "PROV", "RECUP", "VALI", "QUAL"
STATUSES = (PROV, RECUP, VALI, QUAL)
_CRITERIA = {PROV: (False, False), RECUP: (True, False), VALI: (False, True), QUAL: (True, True)}
LABELS = {
    PROV: "provisional",
    RECUP: "retrieved",
    VALI: "validated",
    QUAL: "qualified",
}

DOUBTFUL, FICTITIOUS = "DOUT", "FICT"
# RNIV identity attributes that constrain the status (the other comment codes — homonym,
# duplicate, collision, deactivated… — are management notes anyone may set).
RESTRICTING = frozenset({DOUBTFUL, FICTITIOUS})

# High-trust identification devices (RNIV 1 §3.3.2): identity card, passport, residence
# permit, electronic identity card, La Poste digital identity, Appli carte Vitale.
HIGH_TRUST = frozenset({"CN", "PA", "CS", "eCN", "IN", "AV"})
# Accepted only in the special cases of RNIV 1 §3.3.3 (2024): family record book or birth
# certificate with a photo health card (care-home residents), parents' documents and the
# travel document for foreign minors.
SPECIAL_CASES = {
    "care-home": frozenset({"LECV", "ANCV"}),
    "minor": frozenset({"AN", "LEP", "CC"}),
}


def criteria(status: str) -> tuple[bool, bool]:
    """(INS retrieved from INSi, checked on a high-trust document)."""
    return _CRITERIA[status]


def status_for(retrieved: bool, checked: bool) -> str:
    for code, crit in _CRITERIA.items():
        if crit == (retrieved, checked):
            return code
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the caller brings to a status change; `insi_ok` is set by the server only."""

    reason: str | None = None
    document: str | None = None  # validationMode code of the document checked
    special_case: str | None = None  # "care-home" | "minor"
    insi_ok: bool = False


def attribute_problems(status: str | None, attributes: set[str]) -> list[str]:
    found = []
    if DOUBTFUL in attributes and FICTITIOUS in attributes:
        found.append("the attributes doubtful (DOUT) and fictitious (FICT) may not be combined")
    for attr in sorted(attributes & RESTRICTING):
        if status not in (None, PROV):
            found.append(
                f"an identity with the attribute {attr} must stay provisional (PROV), not {status}"
            )
    return found


def document_problem(evidence: Evidence) -> str | None:
    doc = evidence.document
    if doc is None:
        return "a document check needs the type of document (parameter 'document')"
    if doc in HIGH_TRUST:
        return None
    case = evidence.special_case
    if case in SPECIAL_CASES and doc in SPECIAL_CASES[case]:
        return None
    for name, docs in SPECIAL_CASES.items():
        if doc in docs:
            return (
                f"document {doc} is accepted only in the special case '{name}' (parameter 'case')"
            )
    return f"document {doc} is not a high-trust identification device"


def transition_problems(
    current: str,
    target: str,
    attributes_now: set[str],
    attributes_after: set[str],
    evidence: Evidence,
) -> list[str]:
    """Why the change current -> target is refused; empty when it is allowed."""
    if target not in STATUSES:
        return [f"unknown identity status '{target}'; expected one of {', '.join(STATUSES)}"]
    if not evidence.reason or not evidence.reason.strip():
        return ["a status change needs a reason (parameter 'reason')"]
    found = attribute_problems(target, attributes_after)
    if current == target and attributes_now == attributes_after:
        found.append(f"the identity is already {LABELS[target]} ({target})")
    r_now, v_now = criteria(current)
    r_new, v_new = criteria(target)
    if r_new and not r_now:
        if attributes_after & RESTRICTING:
            found.append(
                "the INSi teleservice may not be queried for a doubtful or fictitious identity"
            )
        elif not evidence.insi_ok:
            found.append(
                f"{target} needs the INS retrieved from the INSi teleservice with traits"
                " matching the identity"
            )
    if v_new and not v_now:
        problem = document_problem(evidence)
        if problem:
            found.append(f"{target} needs a check on a high-trust document: {problem}")
    return found
