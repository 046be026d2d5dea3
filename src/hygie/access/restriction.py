"""The policy as a SQL row filter on a `resources` alias `{a}` (see store.context.Restriction).

Every clause is an index look-up per candidate row: the Patient compartment
(`compartment (ctype, cid, rid)`), the visibility labels (`idx_token (rid, param)`), the
document type (same), the author (`idx_reference (rid, param)`). Type lists come from the
definitions (no user text), so they are inlined as literals; ids are parameters. The aliases
inside (`acc_*`) never collide with the search's own (`r`, `t…`, `s`, `ref`, `l`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from hygie.access import author_param
from hygie.access.author_param import identifier_values
from hygie.access.config import AccessConfig
from hygie.access.labels import (
    DMP_VISIBILITY_SYSTEM,
    INVISIBLE_PATIENT,
    INVISIBLE_REP_LEGAUX,
    MASQUE_PS,
)
from hygie.search.keys import param_key
from hygie.search.paths import split_top
from hygie.search.registry import params_for
from hygie.store.context import (
    AUTH_MFA,
    NOTHING,
    PATIENT,
    PRACTITIONER,
    REPRESENTATIVE,
    Context,
    Restriction,
    SearchScope,
)

_DOC_CODES = (param_key("DocumentReference", "type"), param_key("DocumentReference", "category"))
_DOC_AUTHOR = param_key("DocumentReference", "author")
_PATIENT_PARAMS = ("patient", "subject", "beneficiary")


def hidden_labels(kind: str) -> frozenset[str]:
    """The visibility labels that hide a resource from this kind of caller (a practitioner
    author still sees a document masked from professionals)."""
    if kind == PATIENT:
        return frozenset({INVISIBLE_PATIENT})
    if kind == REPRESENTATIVE:
        return frozenset({INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX})
    if kind == PRACTITIONER:
        return frozenset({MASQUE_PS})
    return frozenset()


def _literals(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def types_only(allowed: frozenset[str] | None) -> Restriction | None:
    if allowed is None:
        return None
    if not allowed:
        return NOTHING
    return Restriction(f"{{a}}.rtype IN ({_literals(allowed)})")


_FEW = 8  # up to this many patients, inline parameters; beyond, one list parameter


def _in_compartment(alias: str, ids: frozenset[str], dialect: str) -> tuple[str, list[Any]]:
    if not ids:
        return "1 = 0", []
    # correlated: one (rid) index probe per candidate row, whatever the size of the care team;
    # a large care team (a hospital practitioner's thousands of patients) is ONE parameter (an
    # array on PostgreSQL, a JSON array on SQLite): no statement with thousands of parameters
    # to bind and plan on every search
    if len(ids) <= _FEW:
        members, args = f"IN ({_marks(len(ids))})", sorted(ids)
    elif dialect == "postgres":
        # through unnest, not `= ANY(array)`: the planner would estimate the selectivity of
        # each element of a constant array (~20 ms of planning for 2,000 patients, on every
        # search); unnest is one hashed sub-plan, built once per statement
        members, args = "IN (SELECT unnest(CAST(? AS text[])))", [sorted(ids)]
    else:
        members, args = "IN (SELECT value FROM json_each(?))", [orjson.dumps(sorted(ids)).decode()]
    return (
        f"EXISTS (SELECT 1 FROM compartment {alias} WHERE {alias}.rid = {{a}}.rid"
        f" AND {alias}.ctype = 'Patient' AND {alias}.cid {members})",
        args,
    )


def build(
    ctx: Context,
    config: AccessConfig,
    allowed: frozenset[str] | None,
    patient_only: frozenset[str],
    visible: frozenset[str],
    roles: frozenset[str] | None = None,
    dialect: str = "sqlite",
    only: str | None = None,
) -> Restriction:
    """The row filter of a patient, a representative or a practitioner. `only`: the filter
    will see rows of that one type only (a search without includes), so the clauses about
    other types are decided here: a shorter statement (PostgreSQL plans it in a fraction of
    the time the general filter takes)."""

    def is_(types: frozenset[str] | set[str]) -> bool | None:
        """Whether the row's type is in `types`: known when `only` is set, else None (SQL)."""
        return None if only is None else only in types

    parts: list[str] = []
    args: list[Any] = []
    if allowed is not None:
        if not allowed or is_(allowed) is False:
            return NOTHING
        if is_(allowed) is None:
            parts.append(f"{{a}}.rtype IN ({_literals(allowed)})")
    practitioner = ctx.kind == PRACTITIONER
    free = frozenset(config.reference_types | ({"Patient"} if practitioner else set()))
    if not is_(free):
        sql, cargs = _in_compartment("acc_c", visible, dialect)
        parts.append(
            sql if is_(free) is False else f"({{a}}.rtype IN ({_literals(free)}) OR {sql})"
        )
        args += cargs
    if patient_only and is_(patient_only) is not False:
        own = (
            frozenset({ctx.patient[8:]})
            if (ctx.patient or "").startswith("Patient/")
            else frozenset()
        )
        sql, cargs = _in_compartment("acc_p", own, dialect)
        parts.append(
            sql
            if is_(patient_only)
            else f"({{a}}.rtype NOT IN ({_literals(patient_only)}) OR {sql})"
        )
        args += cargs
    hidden = sorted(hidden_labels(ctx.kind))
    author_sql, author_args = "", []
    documents = is_({"DocumentReference"})
    if practitioner and documents is not False:
        roles = sorted(roles or ())
        by_role = (
            f" OR (acc_w.target_type = 'PractitionerRole' AND acc_w.target_id IN ({_marks(len(roles))}))"
            if roles
            else ""
        )
        contained, contained_args = "", []
        if ctx.rpps:  # a contained author (PDSm's form), by the identifier index
            values = identifier_values(ctx.rpps)
            contained = (
                " OR EXISTS (SELECT 1 FROM idx_token acc_i WHERE acc_i.rid = {a}.rid"
                f" AND acc_i.param = ? AND acc_i.code IN ({_marks(len(values))}))"
            )
            contained_args = [author_param.KEY, *values]
        is_document = "" if documents else "{a}.rtype = 'DocumentReference' AND "
        author_sql = (
            f" OR ({is_document}(EXISTS (SELECT 1 FROM idx_reference acc_w"
            " WHERE acc_w.rid = {a}.rid AND acc_w.param = ? AND ((acc_w.target_type = 'Practitioner'"
            f" AND acc_w.target_id = ?){by_role})){contained}))"
        )
        author_args = [_DOC_AUTHOR, ctx.actor.removeprefix("Practitioner/"), *roles]
        author_args += contained_args
    if hidden:
        parts.append(
            "(NOT EXISTS (SELECT 1 FROM idx_token acc_l WHERE acc_l.rid = {a}.rid"
            f" AND acc_l.system = ? AND acc_l.code IN ({_marks(len(hidden))})){author_sql})"
        )
        args += [DMP_VISIBILITY_SYSTEM, *hidden, *author_args]
    if practitioner:
        codes = config.allowed_documents(ctx.profession)
        if codes is not None and documents is not False:
            match = (
                "EXISTS (SELECT 1 FROM idx_token acc_m WHERE acc_m.rid = {a}.rid AND acc_m.param"
                f" IN (?, ?) AND acc_m.code IN ({_marks(len(codes))}))"
                if codes
                else "1 = 0"
            )
            other = "" if documents else "{a}.rtype <> 'DocumentReference' OR "
            parts.append(f"({other}{match}{author_sql})")
            args += [*_DOC_CODES, *sorted(codes)] if codes else []
            args += author_args
        if ctx.auth_level != AUTH_MFA and config.sensitive:
            if is_(config.sensitive):
                return NOTHING
            if is_(config.sensitive) is None:
                parts.append(f"{{a}}.rtype NOT IN ({_literals(config.sensitive)})")
    return Restriction(" AND ".join(parts) or "1 = 1", tuple(args))


def targets(scope: SearchScope) -> frozenset[str]:
    """The patients a search is about (for a break-the-glass grant): its Patient compartment,
    its patient/subject parameters, or the ids of a Patient search."""
    out: set[str] = set()
    if scope.compartment and scope.compartment[0] == "Patient":
        out.add(scope.compartment[1])
    for key, value in scope.params:
        code = key.split(":", 1)[0]
        if code in _PATIENT_PARAMS or (code == "_id" and scope.types == ("Patient",)):
            for v in value.split(","):
                v = v.rsplit("/_history", 1)[0]
                if "/" in v:
                    kind, _, pid = v.rpartition("/")
                    if kind.rsplit("/", 1)[-1] != "Patient":
                        continue
                    v = pid
                if v:
                    out.add(v)
    return frozenset(out)


_NOT_NARROWED = ("_include", "_revinclude", "_has", "_list", "_query", "_filter")


def patient_scope(scope: SearchScope) -> frozenset[str] | None:
    """The patients EVERY match of this search belongs to (ids), when its own terms say so:
    a `Patient/x/…` compartment search, or plain `patient` / `subject` (compartment
    parameters of the type, or their Patient-only form) that name patients only. None when
    anything could bring a resource from elsewhere (an include, a `_has`, a chain, a
    modifier, a non-patient reference, several types).

    The row filter of a professional then tests these few patients instead of the whole
    care team (thousands, bound and parsed by every statement of the search): when they are
    all visible, "in one of these patients' compartments" implies "in a visible patient's
    compartment" and every match already is in one of them, so nothing more is shown and
    nothing is lost."""
    if len(scope.types) != 1:
        return None
    rtype = scope.types[0]
    found: set[str] = set()
    if scope.compartment is not None:
        if scope.compartment[0] != "Patient":
            return None
        found.add(scope.compartment[1])
    for key, value in scope.params:
        code, _, modifier = key.partition(":")
        if code.startswith(_NOT_NARROWED) or "." in code:
            return None
        if code not in ("patient", "subject"):
            continue
        if modifier not in ("", "Patient") or not _in_patient_compartment(rtype, code):
            return None
        ids = set()
        for v in value.split(","):
            v = v.strip()
            if v.startswith("Patient/"):
                v = v[8:]
            if not v or "/" in v or ":" in v:  # another type, a version, an absolute URL
                return None
            ids.add(v)
        found |= ids
    return frozenset(found) or None


@lru_cache(maxsize=512)
def _in_patient_compartment(rtype: str, code: str) -> bool:
    """Does a match of `code` put the resource in that patient's compartment: a compartment
    parameter itself, or the Patient-only form of one (`Observation.patient` is
    `Observation.subject.where(resolve() is Patient)`, `subject` being the compartment's)."""
    params = params_for(rtype)
    param = params.get(code)
    if param is None:
        return False
    if "Patient" in param.compartments:
        return True
    own = _own_path(rtype, param.expression).replace(".where(resolve() is Patient)", "")
    return bool(own) and any(
        "Patient" in p.compartments and _own_path(rtype, p.expression) == own
        for p in params.values()
    )


def _own_path(rtype: str, expression: str | None) -> str:
    parts = [p for p in split_top(expression or "", "|") if p.startswith(f"{rtype}.")]
    return parts[0] if len(parts) == 1 else ""
