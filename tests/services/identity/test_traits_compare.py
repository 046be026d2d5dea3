"""INS trait normalisation, fuzzy comparison, blocking keys and the local INSi register."""

from __future__ import annotations

import pytest

from hygie.demo.population import population
from hygie.services.identity import nir
from hygie.services.identity.compare import compare, date_similarity, jaro_winkler
from hygie.services.identity.duplicates import blocking_keys
from hygie.services.identity.insi import (
    FOUND,
    NOT_FOUND,
    SEVERAL,
    TRAITS_DIFFER,
    CardData,
    LocalRegister,
    population_identities,
)
from hygie.services.identity.traits import Traits, compact, from_patient, normalize

from .conftest import HELENE, JEAN, TWIN_A, patient


@pytest.mark.parametrize(
    ("raw", "ins"),
    [
        ("Lefèvre-Utile", "LEFEVRE-UTILE"),
        ("d’Arcy", "D'ARCY"),
        (" de La  Fontaine ", "DE LA FONTAINE"),
        ("Anaëlle", "ANAELLE"),
        ("Œdipe", "OEDIPE"),
        ("Jean - Pierre", "JEAN-PIERRE"),
        ("Müller", "MULLER"),
        ("-Noël-", "NOEL"),
        ("O'Neil", "O'NEIL"),
    ],
)
def test_ins_writing(raw, ins):
    assert normalize(raw) == ins


def test_compact_ignores_hyphens_apostrophes_spaces():
    assert compact("Lefèvre-Utile") == compact("LEFEVRE UTILE") == "LEFEVREUTILE"


def test_first_first_name_from_birth_list():
    t = from_patient(patient("Dupont", ["Jean-Pierre", "Louis"], "1970-01-01", "male"))
    assert t.first_name == "JEAN-PIERRE" and t.first_names == ("JEAN-PIERRE", "LOUIS")


def test_used_name_is_kept_apart():
    p = patient("Dupont", ["Marie"], "1970-01-01", "female")
    p["name"].append({"use": "usual", "family": "Martin", "given": ["Marie"]})
    t = from_patient(p)
    assert t.birth_name == "DUPONT" and t.used_names == ("MARTIN",)


BASE = Traits("LEFEVRE-UTILE", ("HELENE", "MARIE"), "1984-03-21", "female", "75056")


@pytest.mark.parametrize(
    ("other", "low"),
    [
        (Traits("LEFEVRE UTILE", ("HELENE",), "1984-03-21", "female", "75056"), 0.99),  # hyphen
        (Traits("LEFEVRE", ("HELENE",), "1984-03-21", "female"), 0.9),  # part of a compound
        (Traits("LEFEVRE-UTILE", ("MARIE",), "1984-03-21", "female"), 0.9),  # other first name
        (Traits("LEFEVRE-UTILE", ("HELENE",), "1984-21-03", "female"), 0.9),  # day/month inverted
        (Traits("LEFEVRE-UTILE", ("HELENE",), "1984-03-27", "female"), 0.88),  # one digit
        (Traits("LEFEBVRE-UTILE", ("HELENE",), "1984-03-21", "female"), 0.9),  # typo
        (Traits("DURAND", ("HELENE",), "1984-03-21", "female", used_names=("LEFEVRE-UTILE",)), 0.9),
    ],
)
def test_french_variants_score_high(other, low):
    assert compare(BASE, other).score >= low


def test_different_people_score_low():
    other = Traits("DURAND", ("PAUL",), "1962-07-14", "male", "69123")
    assert compare(BASE, other).score < 0.3


def test_two_traits_never_make_a_probable_match():
    assert compare(Traits("LEFEVRE-UTILE", (), "1984-03-21"), BASE).score < 0.85


def test_jaro_winkler_reference_values():
    assert jaro_winkler("MARTHA", "MARHTA") == pytest.approx(0.9611, abs=1e-4)
    assert jaro_winkler("DIXON", "DICKSONX") == pytest.approx(0.8133, abs=1e-4)
    assert jaro_winkler("", "A") == 0.0


def test_date_similarity():
    assert date_similarity("1984-03-21", "1984-03-21") == 1.0
    assert date_similarity("1984-03-11", "1984-11-03") == 0.75
    assert date_similarity("1984-03-21", "1985-07-21") == 0.0


def test_blocking_keys_pair_variants():
    married = Traits("DURAND", ("HELENE",), "1984-03-21", "female", used_names=("LEFEVRE-UTILE",))
    inverted = Traits("LEFEVRE-UTILE", ("HELENE",), "1984-21-03", "female")
    assert blocking_keys(BASE) & blocking_keys(married)
    assert blocking_keys(BASE) & blocking_keys(inverted)


def test_register_search_by_traits(register):
    assert register.search_by_traits(HELENE.traits).code == FOUND
    asked = Traits("Lefèvre Utile", ("Marie",), "1984-03-21", "female")  # second first name
    assert register.search_by_traits(asked).identity == HELENE
    assert (
        register.search_by_traits(Traits("MARTIN", ("LUCAS",), "1990-05-05", "male")).code
        == SEVERAL
    )
    with_place = Traits("MARTIN", ("LUCAS",), "1990-05-05", "male", "69123")
    assert register.search_by_traits(with_place).identity == TWIN_A
    assert (
        register.search_by_traits(Traits("NOBODY", ("X",), "2000-01-01", "male")).code == NOT_FOUND
    )


def test_register_search_by_card_and_verify(register):
    assert register.search_by_card(CardData(JEAN.value, "1976-11-02")).identity == JEAN
    assert register.search_by_card(CardData(JEAN.value, "1976-11-03")).code == NOT_FOUND
    assert register.verify(JEAN.system, JEAN.value, JEAN.traits).code == FOUND
    wrong = Traits("DE LA FONTAINE", ("JEAN-PIERRE",), "1976-11-03", "male")
    assert register.verify(JEAN.system, JEAN.value, wrong).code == TRAITS_DIFFER
    assert register.verify(nir.NIR_SYSTEM, JEAN.value, JEAN.traits).code == NOT_FOUND


def test_population_register_agrees_with_demo_ins():
    register = LocalRegister.of(population_identities(120, 7))
    checked = 0
    for res in population(120, 7):
        if res["resourceType"] != "Patient":
            continue
        answer = register.search_by_traits(from_patient(res))
        assert answer.code == FOUND
        for ident in res.get("identifier", []):
            if ident["system"] == nir.TEST_SYSTEM:
                assert ident["value"] == answer.identity.value
                checked += 1
    assert checked > 50
