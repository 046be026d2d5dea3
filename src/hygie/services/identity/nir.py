"""NIR and NIA: structure, control key, Corsica, and the INS identifier systems.

A NIR (numéro d'inscription au répertoire, INSEE) and a NIA (numéro d'identification d'attente,
CNAV) share one layout of 15 characters:

    S  YY  MM  DD  CCC  OOO  KK
    |  |   |   |   |    |    +- control key: 97 - (the first 13 characters as a number mod 97)
    |  |   |   |   |    +------ birth order in the commune and month, 001-999
    |  |   |   |   +----------- commune (or country when born abroad)
    |  |   |   +--------------- department: 01-99, 2A/2B for Corsica (key computed with 19/18)
    |  |   +------------------- month: 01-12, 20-42 or 50-99 (unknown or special months)
    |  +----------------------- year of birth, 2 digits
    +-------------------------- sex: 1/2, 3/4 (special numbers), 7/8 (temporary numbers)

Sources: INSEE NIR layout (shared/docs/fr-ehealth.md); the INS systems and their test and demo
OIDs from FR Core `FRCorePatientINSProfile.fsh`. An INS-NIA is an attente number: same layout
and key. Every problem is reported at once, each with a short kind (length, characters, sex,
month, department, order, key) a client can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
NIA_SYSTEM = "urn:oid:1.2.250.1.213.1.4.9"
TEST_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
DEMO_SYSTEM = "urn:oid:1.2.250.1.213.1.4.11"

# system -> (FR Core identifier type, expected Identifier.use values)
INS_SYSTEMS: dict[str, tuple[str, frozenset[str]]] = {
    NIR_SYSTEM: ("INS-NIR", frozenset({"official", "old"})),
    NIA_SYSTEM: ("INS-NIA", frozenset({"temp", "old"})),
    TEST_SYSTEM: ("INS-NIR-TEST", frozenset({"official", "old"})),
    DEMO_SYSTEM: ("INS-NIR-DEMO", frozenset({"official", "old"})),
}
# Test and demo systems carry fictitious people only; Hygie's tests and demo data use them.
FICTITIOUS_SYSTEMS = frozenset({TEST_SYSTEM, DEMO_SYSTEM})

_CORSICA = {"2A": "19", "2B": "18"}
_SEXES = frozenset("123478")


@dataclass(frozen=True, slots=True)
class NirProblem:
    kind: str  # length | characters | sex | month | department | order | key
    message: str


def control_key(first13: str) -> int:
    """The key of the first 13 characters (Corsica's 2A/2B counted as 19/18)."""
    digits = first13[:5] + _CORSICA.get(first13[5:7].upper(), first13[5:7]) + first13[7:13]
    if len(digits) != 13 or not digits.isdigit():
        raise ValueError(f"not the first 13 characters of a NIR: {first13!r}")
    return 97 - int(digits) % 97


def with_key(first13: str) -> str:
    return f"{first13}{control_key(first13):02d}"


def _month_ok(month: int) -> bool:
    return 1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99


def problems(value: str) -> list[NirProblem]:
    """Everything wrong with a NIR/NIA; empty when it is well formed and its key is right."""
    if len(value) != 15:
        return [NirProblem("length", f"has {len(value)} characters; a NIR has 15")]
    found: list[NirProblem] = []
    dept = value[5:7].upper()
    rest = value[:5] + ("00" if dept in _CORSICA else dept) + value[7:]
    if not rest.isdigit():
        bad = sorted({c for c in rest if not c.isdigit()})
        found.append(
            NirProblem(
                "characters",
                f"holds {', '.join(repr(c) for c in bad)}; only digits (and 2A/2B as the department)",
            )
        )
        return found
    if value[0] not in _SEXES:
        found.append(NirProblem("sex", f"sex digit '{value[0]}' is not 1, 2, 3, 4, 7 or 8"))
    if not _month_ok(int(value[3:5])):
        found.append(
            NirProblem("month", f"birth month '{value[3:5]}' is not 01-12, 20-42 or 50-99")
        )
    if dept == "00":
        found.append(NirProblem("department", "birth department '00' does not exist"))
    if value[10:13] == "000":
        found.append(NirProblem("order", "birth order '000' is not 001-999"))
    key = int(value[13:15])
    expected = control_key(value[:13])
    if key != expected:
        found.append(
            NirProblem("key", f"control key {value[13:15]} is wrong; {expected:02d} expected")
        )
    return found


def is_valid(value: str) -> bool:
    return not problems(value)
