"""`$ins-lookup`: ask the INSi teleservice (through its connector) for an identity's INS."""

from __future__ import annotations

from typing import Any

from hygie.fhir.outcome import FhirError
from hygie.services.identity import nir, profile, status
from hygie.services.identity.insi import (
    FOUND,
    INSI_CODES,
    TRAITS_DIFFER,
    CardData,
    InsiAnswer,
    InsiConnector,
)
from hygie.services.identity.rules import ins_identifiers
from hygie.services.identity.traits import Traits, apply_to_patient, compact, from_patient


def ins_identifier(system: str, value: str) -> dict[str, Any]:
    kind, uses = nir.INS_SYSTEMS[system]
    use = "temp" if system == nir.NIA_SYSTEM else "official"
    return {
        "use": use,
        "type": {"coding": [{"system": profile.ID_TYPE_CS, "code": kind}]},
        "system": system,
        "value": value,
    }


def refuse_if_restricted(patient: dict[str, Any]) -> None:
    restricted = profile.comments(patient) & status.RESTRICTING
    if restricted:
        raise FhirError(
            422,
            "the INSi teleservice may not be queried for an identity marked "
            f"{'/'.join(sorted(restricted))} (RNIV EXI SI 09)",
            "business-rule",
        )


def consistent(identity: Traits, local: Traits) -> bool:
    """The INSi identity agrees with the local traits (RNIV: compare before accepting)."""
    return (
        compact(identity.birth_name or "") == compact(local.birth_name or "")
        and identity.birth_date == local.birth_date
        and identity.gender == local.gender
        and (
            not local.first_name
            or any(compact(f) == compact(local.first_name) for f in identity.first_names)
        )
    )


def query(
    connector: InsiConnector,
    patient: dict[str, Any] | None,
    traits: Traits | None,
    card: CardData | None,
) -> InsiAnswer:
    """Verification when the patient holds an INS, else a search by card or by traits."""
    if patient is not None:
        refuse_if_restricted(patient)
        held = ins_identifiers(patient)
        local = from_patient(patient)
        if held and card is None:
            ident = held[0][1]
            return connector.verify(ident["system"], ident["value"], local)
        traits = traits or local
    if card is not None:
        answer = connector.search_by_card(card)
        if (
            answer.code == FOUND
            and patient is not None
            and not consistent(answer.identity.traits, from_patient(patient))
        ):  # type: ignore[union-attr]
            return InsiAnswer(
                TRAITS_DIFFER,
                answer.identity,
                "the identity read from the card differs from the patient's traits",
            )
        return answer
    assert traits is not None
    missing = traits.missing()
    if missing:
        raise FhirError(400, f"an INSi search by traits needs {', '.join(missing)}", "required")
    return connector.search_by_traits(traits)


def answer_parameters(answer: InsiAnswer) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "result", "valueCode": answer.code},
        {"name": "insiCode", "valueString": INSI_CODES[answer.code]},
        {"name": "message", "valueString": answer.message},
    ]
    if answer.identity is not None:
        ident = answer.identity
        params.append(
            {"name": "identifier", "valueIdentifier": ins_identifier(ident.system, ident.value)}
        )
        person: dict[str, Any] = {"resourceType": "Patient"}
        apply_to_patient(person, ident.traits)
        params.append({"name": "patient", "resource": person})
    return {"resourceType": "Parameters", "parameter": params}
