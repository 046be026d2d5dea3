"""Identity fixtures: a small national register, Patients built the FR Core way."""

from __future__ import annotations

from typing import Any

import pytest

from hygie.services.identity import nir, profile
from hygie.services.identity.insi import InsIdentity, LocalRegister
from hygie.services.identity.traits import Traits


def make_nir(sex: str, yymm: str, place: str, order: str) -> str:
    return nir.with_key(f"{sex}{yymm}{place}{order}")


HELENE = InsIdentity(
    nir.TEST_SYSTEM,
    make_nir("2", "8403", "75056", "123"),
    Traits("LEFEVRE-UTILE", ("HELENE", "MARIE"), "1984-03-21", "female", "75056"),
)
JEAN = InsIdentity(
    nir.TEST_SYSTEM,
    make_nir("1", "7611", "2A004", "017"),
    Traits("DE LA FONTAINE", ("JEAN-PIERRE",), "1976-11-02", "male", "2A004"),
)
# Two namesakes born the same day: INSi answers "several" without the birth place.
TWIN_A = InsIdentity(
    nir.TEST_SYSTEM,
    make_nir("1", "9005", "69123", "044"),
    Traits("MARTIN", ("LUCAS",), "1990-05-05", "male", "69123"),
)
TWIN_B = InsIdentity(
    nir.TEST_SYSTEM,
    make_nir("1", "9005", "13055", "201"),
    Traits("MARTIN", ("LUCAS",), "1990-05-05", "male", "13055"),
)


@pytest.fixture(scope="session")
def register() -> LocalRegister:
    return LocalRegister.of([HELENE, JEAN, TWIN_A, TWIN_B])


@pytest.fixture
def identity_app(app, register):
    """The app with the identity operations answering from the small register."""
    app.identity.connector = lambda: register
    return app


def patient(
    family: str, given: list[str], birth: str, gender: str, place: str | None = None, **extra: Any
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [
            {
                "use": "official",
                "family": family,
                "given": given[:1],
                "extension": [{"url": profile.BIRTH_LIST_URL, "valueString": " ".join(given)}],
            }
        ],
        "birthDate": birth,
        "gender": gender,
    }
    if place:
        res["extension"] = [
            {
                "url": profile.BIRTH_PLACE_URL,
                "valueAddress": {
                    "extension": [
                        {
                            "url": profile.INSEE_CODE_URL,
                            "valueCoding": {"system": profile.COMMUNE_CS, "code": place},
                        }
                    ]
                },
            }
        ]
    res.update(extra)
    return res


def ins(value: str, system: str = nir.TEST_SYSTEM) -> dict[str, Any]:
    return {"use": "official", "system": system, "value": value}


def with_status(res: dict[str, Any], code: str, comments: set[str] = frozenset()) -> dict[str, Any]:
    profile.set_reliability(res, status=code, comments=set(comments))
    return res
