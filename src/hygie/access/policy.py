"""The access policy of the shared record, enforced by the Repository (`store.context.Policy`).

Three views of the same rules, kept together so they stay in agreement:
* `check`: the coarse check (SMART scopes, second factor, break-the-glass reason): 403;
* `restriction`: the same rules as a SQL row filter (restriction.py) for every search;
* `admit`: the same rules on a loaded resource (read, vread, history, search safety net).
Writes: `check_write`, inside the write transaction. docs/access.md states the rules.
"""

from __future__ import annotations

from typing import Any

from hygie.access import btg, restriction, scopes
from hygie.access.config import AccessConfig
from hygie.access.content import (
    authors_of,
    contained_rpps,
    document_codes,
    labels_of,
    patient_compartment_types,
    patients_of,
    reference_of,
)
from hygie.access.facts import CARE_TYPES, GRANT_DDL, Facts
from hygie.access.labels import INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX
from hygie.access.restriction import hidden_labels
from hygie.access.scope_types import allowed_types, readable_types
from hygie.fhir.outcome import FhirError
from hygie.store.base import Backend
from hygie.store.context import (
    AUTH_MFA,
    CLIENT,
    PATIENT,
    PRACTITIONER,
    REPRESENTATIVE,
    SYSTEM,
    Context,
    Restriction,
    SearchScope,
)

BTG = "BTG"
_PEOPLE = (PATIENT, REPRESENTATIVE)
_ACTIONS = {"post": "create", "put": "update", "get": "read"}
_WRITES = ("create", "update", "patch", "delete")


def forbidden(text: str) -> FhirError:
    return FhirError(403, text, "forbidden")


def interaction(action: str, rid: str | None) -> str:
    """The SMART interaction of a Repository action."""
    action = _ACTIONS.get(action, action)
    if action == "history":
        return "history-instance" if rid else "history"
    return action


def _ids(refs: frozenset[str] | set[str], prefix: str = "Patient/") -> frozenset[str]:
    return frozenset(r[len(prefix) :] for r in refs if r.startswith(prefix))


class AccessPolicy:
    def __init__(self, backend: Backend, config: AccessConfig | None = None) -> None:
        self.backend = backend
        self.config = config or AccessConfig.load()
        self.facts = Facts(backend, self.config.cache_seconds)
        backend.create_schema(GRANT_DDL)

    # -- coarse check -------------------------------------------------------------------------
    def check(self, ctx: Context, action: str, rtype: str | None, rid: str | None) -> None:
        if ctx.kind == SYSTEM:
            return
        if ctx.kind not in (CLIENT, PRACTITIONER, PATIENT, REPRESENTATIVE):
            raise forbidden(f"Unknown kind of caller '{ctx.kind}'")
        what = interaction(action, rid)
        if ctx.purpose == BTG:
            if ctx.kind != PRACTITIONER:
                raise forbidden("Break-the-glass access is for health professionals")
            if not (ctx.btg_reason or "").strip():
                raise forbidden("Break-the-glass access requires a stated reason")
        if rtype is None:
            if what in _WRITES:
                raise forbidden("A write names its resource type")
            if not allowed_types(ctx.scopes, ctx.kind, what)[0]:
                raise forbidden(f"No scope of the token allows '{what}'")
            return
        if not scopes.allows(ctx.scopes, ctx.kind, rtype, what):
            raise forbidden(f"The token's scopes do not allow '{what}' on {rtype}")
        if (
            ctx.kind == PRACTITIONER
            and rtype in self.config.sensitive
            and ctx.auth_level != AUTH_MFA
        ):
            raise FhirError(
                403,
                f"Access to {rtype} requires two-factor authentication (TOTP, WebAuthn, e-CPS"
                " or CPS card): sign in again with a second factor",
                "security",
            )
        if ctx.kind in _PEOPLE and what in _WRITES:
            if rtype not in self.config.patient_writable and rtype != "Binary":
                raise forbidden(f"Patients and representatives may not write {rtype}")

    # -- who may see which patients -----------------------------------------------------------
    def own_patients(self, ctx: Context) -> frozenset[str]:
        """Patients a patient or representative acts for."""
        if ctx.kind == PATIENT:
            return _ids({ctx.patient} if ctx.patient else set())
        return _ids(set(ctx.represented))

    def treated(self, ctx: Context, targets: frozenset[str] = frozenset()) -> frozenset[str]:
        """Patients whose data the practitioner may see now: the care relationship minus the
        patient's oppositions, plus unexpired break-the-glass grants (`targets`: the patients a
        break-the-glass request is about, granted here when the patient did not oppose it)."""
        me = ctx.actor.removeprefix("Practitioner/")
        if ctx.purpose == BTG:
            team = self.facts.team(me)
            grants = self.facts.grants(me)
            if targets - team - grants:
                for pid, opp in self.facts.oppositions(targets - team - grants).items():
                    if not opp.blocks(ctx.actor, btg=True):
                        btg.grant(self.backend, self.facts, ctx, pid, self.config.btg_hours)
        return self._visible(ctx.actor)

    def _visible(self, actor: str) -> frozenset[str]:
        """The patients a practitioner sees now (care relationship minus oppositions, plus
        unexpired break-the-glass grants), remembered with the facts it rests on: a read
        decides with one set look-up."""
        me = actor.removeprefix("Practitioner/")

        def load() -> frozenset[str]:
            team = self.facts.team(me)
            grants = self.facts.grants(me)
            opposed = self.facts.team_oppositions(me)
            visible = {p for p in team if p not in opposed or not opposed[p].blocks(actor, False)}
            for pid, opp in self.facts.oppositions(grants).items():
                if not opp.blocks(actor, btg=True):
                    visible.add(pid)
            return frozenset(visible)

        return self.facts.cached(("visible", me), load)  # type: ignore[no-any-return]

    def _roles(self, ctx: Context) -> frozenset[str]:
        if ctx.kind != PRACTITIONER:
            return frozenset()
        return self.facts.roles(ctx.actor.removeprefix("Practitioner/"))

    def sees_any(self, ctx: Context, patients: frozenset[str]) -> bool:
        """Whether the practitioner sees one of the patients of a resource (`treated`; under
        break-the-glass, the grants for those patients are made first)."""
        if ctx.purpose == BTG:
            return not self.treated(ctx, patients).isdisjoint(patients)
        return not self._visible(ctx.actor).isdisjoint(patients)

    # -- search -------------------------------------------------------------------------------
    @property
    def _dialect(self) -> str:
        return str(self.facts.backend.dialect)

    def restriction(self, ctx: Context, action: str, scope: SearchScope) -> Restriction | None:
        if ctx.kind == SYSTEM:
            return None
        allowed, patient_only = readable_types(ctx.scopes, ctx.kind)
        if ctx.kind == CLIENT:
            return restriction.types_only(allowed)
        if ctx.kind == PRACTITIONER and ctx.purpose == BTG:
            visible = self.treated(ctx, restriction.targets(scope))
            return restriction.build(
                ctx, self.config, allowed, patient_only, visible, self._roles(ctx), self._dialect
            )
        if ctx.kind == PRACTITIONER:
            few = restriction.patient_scope(scope)
            if few is not None and all(self.sees_any(ctx, frozenset({p})) for p in few):
                # a search about a few visible patients: the filter names those, not the team
                return restriction.build(
                    ctx,
                    self.config,
                    allowed,
                    patient_only,
                    few,
                    self._roles(ctx),
                    self._dialect,
                    only=scope.types[0],
                )
        key = (
            ctx.kind,
            ctx.actor,
            ctx.scopes,
            ctx.profession,
            ctx.rpps,  # contained authors are known by their RPPS
            ctx.auth_level,
            ctx.patient,
            ctx.represented,
        )

        def build() -> Restriction:
            if ctx.kind == PRACTITIONER:
                visible = self.treated(ctx)
            else:
                visible = self.own_patients(ctx)
            return restriction.build(
                ctx, self.config, allowed, patient_only, visible, self._roles(ctx), self._dialect
            )

        # the same caller's filter, reused as long as the facts it rests on
        return self.facts.cached(("filter", key), build)  # type: ignore[no-any-return]

    # -- one loaded resource ------------------------------------------------------------------
    def admit(self, ctx: Context, action: str, rtype: str, resource: dict[str, Any]) -> bool:
        if ctx.kind == SYSTEM:
            return True
        allowed, patient_only = readable_types(ctx.scopes, ctx.kind)
        if allowed is not None and rtype not in allowed:
            return False
        if ctx.kind == CLIENT:
            return True
        if rtype == "Binary":
            return self._admit_binary(ctx, action, resource)
        if ctx.kind == PRACTITIONER and rtype in self.config.sensitive:
            if ctx.auth_level != AUTH_MFA:
                return False
        patients = patients_of(rtype, resource)
        if rtype in patient_only and _ids({ctx.patient or ""}).isdisjoint(patients):
            return False
        labels = labels_of(resource)
        author = rtype == "DocumentReference" and self.is_author(ctx, resource, contained=True)
        if labels & hidden_labels(ctx.kind) and not (ctx.kind == PRACTITIONER and author):
            return False
        free = self.config.reference_types
        if rtype in free or (ctx.kind == PRACTITIONER and rtype == "Patient"):
            return True
        if rtype not in patient_compartment_types() or not patients:
            return False
        if ctx.kind in _PEOPLE:
            return not self.own_patients(ctx).isdisjoint(patients)
        if not self.sees_any(ctx, patients):
            return False
        if rtype == "DocumentReference" and not author:
            codes = self.config.allowed_documents(ctx.profession)
            if codes is not None and codes.isdisjoint(document_codes(resource)):
                return False
        return True

    def is_author(self, ctx: Context, doc: dict[str, Any], *, contained: bool = False) -> bool:
        """Is the practitioner an author of the document: named (Practitioner/me), through one
        of their PractitionerRoles, or (`contained`) as a contained Practitioner carrying their
        RPPS (the row filter knows it by the `author-identifier` index, author_param.py)."""
        if ctx.kind != PRACTITIONER:
            return False
        refs = authors_of(doc)
        if ctx.actor in refs:
            return True
        roles = {r[17:] for r in refs if r.startswith("PractitionerRole/")}
        me = ctx.actor.removeprefix("Practitioner/")
        if roles and not roles.isdisjoint(self.facts.roles(me)):
            return True
        return contained and bool(ctx.rpps) and ctx.rpps in contained_rpps(doc)

    def _admit_binary(self, ctx: Context, action: str, binary: dict[str, Any]) -> bool:
        """A Binary is governed by the DocumentReference of its securityContext (IHE MHD)."""
        doc = self._document(binary)
        return doc is not None and self.admit(ctx, action, "DocumentReference", doc)

    def _document(self, binary: dict[str, Any], cur: Any = None) -> dict[str, Any] | None:
        import orjson

        ref = reference_of(binary.get("securityContext")) or ""
        if not ref.startswith("DocumentReference/"):
            return None
        sql = "SELECT content FROM resources WHERE rtype = 'DocumentReference' AND id = ?"
        args = (ref.split("/", 1)[1],)
        row = cur.fetchone(sql, args) if cur is not None else self.backend.read_one(sql, args)
        return orjson.loads(row[0]) if row and row[0] is not None else None

    # -- writes -------------------------------------------------------------------------------
    def check_write(
        self,
        ctx: Context,
        cur: Any,
        action: str,
        rtype: str,
        new: dict[str, Any] | None,
        previous: dict[str, Any] | None,
    ) -> None:
        if rtype in CARE_TYPES:
            self.facts.forget()
        if ctx.kind in (SYSTEM, CLIENT):
            return
        name = f"{rtype}/{(new or previous or {}).get('id', '')}"
        if previous is not None and not self.admit(ctx, "read", rtype, previous):
            # as for a read: who may not see it may not learn that it exists
            raise FhirError(404, f"Resource {name} is not known", "not-found")
        if rtype == "Binary":
            self._check_binary_write(ctx, cur, new or previous or {})
            return
        if ctx.kind in _PEOPLE:
            self._check_people_write(ctx, action, rtype, new, previous)
        else:
            self._check_practitioner_write(ctx, action, rtype, new, previous)

    def _check_binary_write(self, ctx: Context, cur: Any, binary: dict[str, Any]) -> None:
        doc = self._document(binary, cur)
        if doc is None:
            if reference_of(binary.get("securityContext")) is None:
                raise forbidden("A Binary must name its DocumentReference in securityContext")
            return  # the document comes later in the same transaction (ITI-65); it is checked
        if not self.admit(ctx, "read", "DocumentReference", doc):
            raise forbidden("You may not write the content of this document")

    def _check_people_write(
        self,
        ctx: Context,
        action: str,
        rtype: str,
        new: dict[str, Any] | None,
        previous: dict[str, Any] | None,
    ) -> None:
        own = self.own_patients(ctx)
        for res in (new, previous):
            if res is not None:
                patients = patients_of(rtype, res)
                if not patients or not patients <= own:
                    raise forbidden(f"You may write {rtype} only in your own record")
        if rtype == "DocumentReference":
            before = labels_of(previous) if previous else frozenset()
            after = labels_of(new) if new else before
            changed = before ^ after
            if INVISIBLE_PATIENT in changed:
                raise forbidden("Only a professional may hold a document back from the patient")
            if ctx.kind == REPRESENTATIVE and INVISIBLE_REP_LEGAUX in changed:
                raise forbidden("A legal representative may not change this visibility")
            if action in ("update", "patch") and previous is not None and new is not None:
                if _without_labels(new) != _without_labels(previous):
                    raise forbidden(
                        "A patient may change only the visibility and the status of a document"
                    )

    def _check_practitioner_write(
        self,
        ctx: Context,
        action: str,
        rtype: str,
        new: dict[str, Any] | None,
        previous: dict[str, Any] | None,
    ) -> None:
        if rtype == "Patient":
            return  # registering and updating identities (identity vigilance rules apply)
        if rtype not in patient_compartment_types():
            raise forbidden(f"Health professionals may not write {rtype}")
        if rtype == "DocumentReference" and previous is not None:
            if not self.is_author(ctx, previous, contained=True):
                raise forbidden("Only the author of a document may change or delete it")
        patients = patients_of(rtype, new) if new is not None else frozenset()
        if new is not None and not patients:
            raise forbidden(f"{rtype} must belong to a patient")
        if not patients:
            return
        if rtype in ("CareTeam", "Encounter") and new is not None and _names(new, ctx.actor):
            # the declaration of a care relationship, unless the patient opposed it
            opps = self.facts.oppositions(patients)
            if any(o.blocks(ctx.actor, btg=False) for o in opps.values()):
                raise forbidden("The patient opposed access by this professional")
            return
        if not all(self.sees_any(ctx, frozenset({p})) for p in patients):
            raise forbidden(
                "You are not in this patient's care team (declare the care relationship with a"
                " CareTeam or an Encounter naming you)"
            )


def _names(resource: dict[str, Any], actor: str) -> bool:
    for part in resource.get("participant") or ():
        for key in ("member", "individual"):
            if reference_of((part or {}).get(key)) == actor:
                return True
    return False


def _without_labels(resource: dict[str, Any]) -> dict[str, Any]:
    """What a patient may not change: all but the labels, the status and the lifecycle
    extensions (PDSm logical deletion, archiving: the records service checks those)."""
    out = {
        k: v
        for k, v in resource.items()
        if k not in ("securityLabel", "meta", "status", "docStatus", "extension")
    }
    meta = {
        k: v
        for k, v in (resource.get("meta") or {}).items()
        if k not in ("security", "versionId", "lastUpdated")
    }
    if meta:
        out["meta"] = meta
    return out
