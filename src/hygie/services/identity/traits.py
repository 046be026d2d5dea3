"""The five INS traits of an identity and their normalisation.

The INS traits (RNIV, INS implementation guide) are the birth name, the list of birth first
names (and the first of them), the birth date, the sex and the birth place (INSEE code of the
commune, or of the country when born abroad). Traits returned by the INSi teleservice are
written in capitals without diacritics; only letters, spaces, hyphens and apostrophes remain
(`normalize`). For comparisons Hygie goes one step further (`compact`): hyphens, apostrophes
and spaces are dropped, so "Lefèvre-Utile", "LEFEVRE UTILE" and "lefevreutile" agree.

The first first-name is the first element of the birth list: a compound first name keeps its
hyphen ("JEAN-PIERRE"), a space separates two first names (FR Core INS profile, `given`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hygie.services.identity import profile

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})
_NOT_ALLOWED = re.compile(r"[^A-Z' -]")
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[-' ]+")
_EDGE = re.compile(r"^[-' ]+|[-' ]+$")
GENDERS = frozenset({"male", "female", "unknown"})


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """INS writing: capitals, no diacritics, letters/space/hyphen/apostrophe, single spaces."""
    text = text.translate(_LIGATURES).replace("’", "'")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    text = _NOT_ALLOWED.sub(" ", text)
    text = re.sub(r"\s*-\s*", "-", re.sub(r"\s*'\s*", "'", text))
    return _EDGE.sub("", _SPACES.sub(" ", text)).strip()


@lru_cache(maxsize=65536)
def compact(text: str) -> str:
    """Comparison key: the INS writing without hyphens, apostrophes and spaces."""
    return _SEPARATORS.sub("", normalize(text))


def words(text: str) -> list[str]:
    """The parts of a compound name ("DE LA FONTAINE" -> DE, LA, FONTAINE)."""
    return [w for w in _SEPARATORS.split(normalize(text)) if w]


@dataclass(frozen=True, slots=True)
class Traits:
    birth_name: str | None = None
    first_names: tuple[str, ...] = ()  # birth first names, INS writing, in order
    birth_date: str | None = None
    gender: str | None = None
    birth_place: str | None = None
    used_names: tuple[str, ...] = ()  # other family names (usual, maiden, …)

    @property
    def first_name(self) -> str | None:
        return self.first_names[0] if self.first_names else None

    def missing(self) -> list[str]:
        """The strict traits absent (the birth place is optional for a lookup)."""
        names = {
            "birth name": self.birth_name,
            "first name": self.first_name,
            "birth date": self.birth_date,
            "sex": self.gender,
        }
        return [k for k, v in names.items() if not v]

    def strict(self) -> tuple[Any, ...]:
        """The traits an INSi-sourced identity may not change (in INS writing)."""
        return (self.birth_name, self.first_names, self.birth_date, self.gender, self.birth_place)


def from_patient(patient: dict[str, Any]) -> Traits:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    official = profile.official_name(patient) or (names[0] if names else {})
    family = official.get("family")
    listed = profile.birth_list(official)
    given = [g for g in official.get("given") or [] if isinstance(g, str)]
    if listed:
        firsts = tuple(normalize(g) for g in listed.split() if normalize(g))
    else:
        firsts = tuple(normalize(g) for g in given if normalize(g))
    used = tuple(
        normalize(n["family"])
        for n in names
        if n is not official and isinstance(n.get("family"), str) and normalize(n["family"])
    )
    gender = patient.get("gender")
    return Traits(
        birth_name=normalize(family) if isinstance(family, str) and normalize(family) else None,
        first_names=firsts,
        birth_date=patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None,
        gender=gender if gender in GENDERS else None,
        birth_place=profile.birth_place_code(patient),
        used_names=used,
    )


def apply_to_patient(patient: dict[str, Any], traits: Traits) -> None:
    """Write INSi traits into the official name, gender, birth date and birth place."""
    official = {
        "extension": [{"url": profile.BIRTH_LIST_URL, "valueString": " ".join(traits.first_names)}],
        "use": "official",
        "family": traits.birth_name,
        "given": [traits.first_name] if traits.first_name else [],
    }
    others = [
        n for n in patient.get("name") or [] if isinstance(n, dict) and n.get("use") != "official"
    ]
    patient["name"] = [official, *others]
    if traits.gender:
        patient["gender"] = traits.gender
    if traits.birth_date:
        patient["birthDate"] = traits.birth_date
    if traits.birth_place:
        exts = [
            e
            for e in patient.get("extension") or []
            if not (isinstance(e, dict) and e.get("url") == profile.BIRTH_PLACE_URL)
        ]
        exts.append(
            {
                "url": profile.BIRTH_PLACE_URL,
                "valueAddress": {
                    "extension": [
                        {
                            "url": profile.INSEE_CODE_URL,
                            "valueCoding": {
                                "system": profile.COMMUNE_CS,
                                "code": traits.birth_place,
                            },
                        }
                    ]
                },
            }
        )
        patient["extension"] = exts
