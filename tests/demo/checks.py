"""Checks shared by the population and `hygie generate` tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from hygie.demo.fhirtypes import BIRTH_PLACE, INS_TEST_OID, RELIABILITY
from hygie.demo.nir import luhn_digit
from hygie.demo.places import ALL_COMMUNES, COUNTRIES
from hygie.services.identity import nir as identity_nir
from hygie.services.identity.rules import coherence_issues, identifier_issues

PLACES = {c.insee for c in ALL_COMMUNES} | {code for code, _ in COUNTRIES}


def references(node: Any) -> list[str]:
    """Every literal reference in a resource, and the `Binary/…` URLs of attachments."""
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        url = node.get("url")
        if isinstance(url, str) and url.startswith("Binary/"):
            found.append(url)
        return found + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def luhn_ok(number: str) -> bool:
    return number.isdigit() and luhn_digit(number[:-1]) == int(number[-1])


def check_patient_identity(p: dict[str, Any]) -> bool:
    """The INS rules of the identity service, and a NIR consistent with the person; True when
    the patient carries an INS."""
    assert not identifier_issues(p) and not coherence_issues(p), p["id"]
    status = next(e for e in p["extension"] if e["url"] == RELIABILITY)["extension"][0]
    ins = [i for i in p["identifier"] if i.get("system") == INS_TEST_OID]
    assert bool(ins) == (status["valueCoding"]["code"] in ("QUAL", "RECUP")), p["id"]
    place = next(e for e in p["extension"] if e["url"] == BIRTH_PLACE)
    code = place["valueAddress"]["extension"][0]["valueCoding"]["code"]
    assert code in PLACES
    if not ins:
        return False
    value = ins[0]["value"]
    assert identity_nir.is_valid(value), (p["id"], value, identity_nir.problems(value))
    assert ins[0]["type"]["coding"][0]["code"] == "INS-NIR-TEST"
    born = date.fromisoformat(p["birthDate"])
    assert value[0] == ("2" if p["gender"] == "female" else "1")
    assert value[1:5] == f"{born.year % 100:02d}{born.month:02d}"
    corsica_before_1976 = code[:2] in ("2A", "2B") and born.year < 1976
    assert value[5:10] == ("20" + code[2:] if corsica_before_1976 else code)
    if code.startswith("99"):
        assert place["valueAddress"]["country"] != "FR"
    return True
