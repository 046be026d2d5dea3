"""The identity operations over REST: parse, call `services.identity`, render.

| operation | level | methods |
| --- | --- | --- |
| `$match` | Patient type | POST (Parameters: resource, onlyCertainMatches, count); GET with PDQm parameters |
| `$ins-lookup` | Patient type and instance | GET, POST |
| `$identity-status` | Patient instance | POST |
| `$ihe-pix` | Patient type and instance | GET |
| `$duplicates` | Patient type | GET |
| `$merge` | Patient type | POST (source-patient, target-patient, reason) |
| `$unmerge` | Patient instance | POST (reason) |
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request, Response
from hygie.rest.interactions import etag_version
from hygie.rest.operations import INSTANCE, TYPE, OpParams, json_response
from hygie.services import identity
from hygie.services.identity import duplicates, lookup, matching, merge, pix
from hygie.services.identity.insi import CardData, InsiConnector
from hygie.services.identity.status_change import StatusRequest, change_status
from hygie.services.identity.traits import Traits, normalize
from hygie.store import Context, Repository

if TYPE_CHECKING:
    from hygie.rest.app import FhirApp


def _card(p: OpParams) -> CardData | None:
    card_nir = p.text("cardNir")
    if card_nir is None:
        return None
    birth = p.text("cardBirthDate") or p.text("birthdate")
    if not birth:
        raise FhirError(400, "a health-card lookup needs cardBirthDate", "required")
    return CardData(card_nir, birth, p.text("given"))


def _traits(p: OpParams) -> Traits:
    given = p.text("given")
    firsts = tuple(normalize(g) for g in given.split()) if given else ()
    family = p.text("family")
    return Traits(
        normalize(family) if family else None,
        firsts,
        p.text("birthdate"),
        p.text("gender"),
        p.text("birthplace"),
    )


def _patient_ref(p: OpParams, name: str) -> str:
    ref = p.text(name)
    if not ref or not ref.startswith("Patient/") or len(ref.split("/")) != 2:
        raise FhirError(400, f"parameter '{name}' must be a reference Patient/[id]", "required")
    return ref.split("/")[1]


class IdentityOperations:
    def __init__(self, repo: Repository, connector: Callable[[], InsiConnector]) -> None:
        self.repo = repo
        self.connector = connector

    def match(self, ctx: Context, req: Request, _t: str | None, _r: str | None) -> Response:
        p = OpParams(req)
        patient = p.resource("resource")
        if patient is None:
            pdqm = {k: [str(v) for v in p.all(k)] for k in matching.PDQM_PARAMETERS if p.all(k)}
            if not pdqm:
                raise FhirError(
                    400,
                    "$match needs a Patient in parameter 'resource' (or PDQm"
                    " parameters family, given, birthdate, gender, identifier)",
                    "required",
                )
            patient = matching.patient_from_pdqm(pdqm)
        if patient.get("resourceType") != "Patient":
            raise FhirError(400, "parameter 'resource' must be a Patient", "invalid")
        bundle = matching.match(
            self.repo,
            ctx,
            patient,
            base=req.base,
            count=p.integer("count"),
            only_certain=p.flag("onlyCertainMatches"),
        )
        return json_response(bundle)

    def ins_lookup(self, ctx: Context, req: Request, _t: str | None, rid: str | None) -> Response:
        p = OpParams(req)
        patient = self.repo.read(ctx, "Patient", rid).resource() if rid else p.resource("patient")
        traits = None if patient is not None else _traits(p)
        answer = lookup.query(self.connector(), patient, traits, _card(p))
        return json_response(lookup.answer_parameters(answer))

    def identity_status(
        self, ctx: Context, req: Request, _t: str | None, rid: str | None
    ) -> Response:
        p = OpParams(req)
        target = p.text("status")
        if not target:
            raise FhirError(
                400, "parameter 'status' (PROV, RECUP, VALI or QUAL) is required", "required"
            )
        request = StatusRequest(
            target=target,
            reason=p.text("reason"),
            document=p.text("document"),
            special_case=p.text("case"),
            add=frozenset(map(str, p.all("addAttribute"))),
            remove=frozenset(map(str, p.all("removeAttribute"))),
            card=_card(p),
            if_match=etag_version(req.header("if-match")),
        )
        body = change_status(self.repo, ctx, self.connector(), rid or "", request, base=req.base)
        return json_response(body)

    def ihe_pix(self, ctx: Context, req: Request, _t: str | None, rid: str | None) -> Response:
        p = OpParams(req)
        body = pix.cross_references(
            self.repo,
            ctx,
            base=req.base,
            source=p.text("sourceIdentifier"),
            pid=rid,
            targets=[str(v) for v in p.all("targetSystem")],
        )
        return json_response(body)

    def duplicates(self, ctx: Context, req: Request, _t: str | None, _r: str | None) -> Response:
        p = OpParams(req)
        threshold = matching.POSSIBLE_SCORE
        if (raw := p.text("threshold")) is not None:
            try:
                threshold = float(Decimal(raw))
            except InvalidOperation:
                raise FhirError(400, "threshold must be a decimal", "invalid") from None
        low, high = p.integer("fromYear"), p.integer("toYear")
        years = (low, high) if low is not None and high is not None else None
        r = duplicates.report(
            self.repo,
            ctx,
            base=req.base,
            threshold=threshold,
            years=years,
            limit=p.integer("_count") or 1000,
        )
        return json_response(duplicates.report_parameters(r))

    def merge(self, ctx: Context, req: Request, _t: str | None, _r: str | None) -> Response:
        p = OpParams(req)
        body = merge.merge(
            self.repo,
            ctx,
            _patient_ref(p, "source-patient"),
            _patient_ref(p, "target-patient"),
            p.text("reason"),
            base=req.base,
        )
        return json_response(body)

    def unmerge(self, ctx: Context, req: Request, _t: str | None, rid: str | None) -> Response:
        p = OpParams(req)
        return json_response(
            merge.unmerge(self.repo, ctx, rid or "", p.text("reason"), base=req.base)
        )


def install_identity(app: FhirApp, connector: InsiConnector | None = None) -> IdentityOperations:
    """Register the identity write rules on the app's repository and its operations."""
    identity.install(app.repo)
    ops = IdentityOperations(
        app.repo, (lambda: connector) if connector else identity.default_register
    )
    reg = app.router.operations
    reg.register("Patient", "$match", TYPE, ops.match)
    reg.register("Patient", "$ins-lookup", TYPE, ops.ins_lookup)
    reg.register("Patient", "$ins-lookup", INSTANCE, ops.ins_lookup)
    reg.register("Patient", "$identity-status", INSTANCE, ops.identity_status, ("POST",))
    reg.register("Patient", "$ihe-pix", TYPE, ops.ihe_pix, ("GET",))
    reg.register("Patient", "$ihe-pix", INSTANCE, ops.ihe_pix, ("GET",))
    reg.register("Patient", "$duplicates", TYPE, ops.duplicates, ("GET",))
    reg.register("Patient", "$merge", TYPE, ops.merge, ("POST",))
    reg.register("Patient", "$unmerge", INSTANCE, ops.unmerge, ("POST",))
    app.identity = ops  # type: ignore[attr-defined]
    return ops


__all__ = ["IdentityOperations", "install_identity"]
