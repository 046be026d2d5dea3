"""NIR (numéro d'inscription au répertoire, the French social-security number): build and check.

Layout (15 characters): sex (1), birth year (2), birth month (2), birth department (2: `2A`/`2B`
for Corsica from 1976, `99` when born abroad), commune or country (3), birth order (3), key (2).
Key = 97 − (the first 13 characters as a number mod 97), with `2A` → 19 and `2B` → 18: the
identity service's `control_key`, reused here so that the generator and the checks every
Patient write goes through cannot disagree.
"""

from __future__ import annotations

from hygie.services.identity.nir import control_key

_CORSICA = {"2A": "19", "2B": "18"}


def nir_key(first13: str) -> int:
    """The 2-digit control key of the first 13 characters of a NIR."""
    if len(first13) != 13:
        raise ValueError(f"not the first 13 characters of a NIR: {first13!r}")
    return control_key(first13)


def make_nir(sex: int, year: int, month: int, place: str, order: int) -> str:
    """A NIR from its parts; `place` is the 5-character INSEE code of the birth commune
    (`99` + country code when born abroad). Before 1976 Corsica was department 20."""
    if sex not in (1, 2) or not 1 <= month <= 12 or not 1 <= order <= 999 or len(place) != 5:
        raise ValueError("invalid NIR parts")
    if place[:2] in _CORSICA and year < 1976:
        place = "20" + place[2:]
    first13 = f"{sex}{year % 100:02d}{month:02d}{place}{order:03d}"
    return f"{first13}{nir_key(first13):02d}"


def is_valid_nir(nir: str) -> bool:
    """Shape and key of a 15-character NIR."""
    if len(nir) != 15 or not nir[-2:].isdigit():
        return False
    try:
        return nir_key(nir[:13]) == int(nir[-2:])
    except ValueError:
        return False


def luhn_digit(digits: str) -> int:
    """The Luhn check digit appended to `digits` (the key of RPPS and FINESS numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10
