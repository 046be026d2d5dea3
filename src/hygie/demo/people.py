"""Households of synthetic French people: Patients, and RelatedPersons for the legal
representatives of children.

Patients come in groups of `GROUP` consecutive numbers; each group is split into households
(a couple with children, a single parent, an elderly couple, people living alone…) drawn from
the group's own random stream, so a group is made without looking at any other. Each person
then draws everything else from their own stream (`person_rng`).

Names: a birth name (`official`, the INS trait) and, for married people who took their spouse's
name, a used name (`usual`); compound and hyphenated first names; children may carry both
parents' names. Identity: the FR Core reliability extension with a status; the INS (NIR on the
test OID) only on a retrieved or qualified identity (FR Core fr-core-1/2, the identity rules of
`hygie.services.identity.rules`). The NIR matches sex, birth year and month and birth place.

A child's parents are the child's legal representatives: `Patient.contact` (FR Core contact
relationship CUR + MTH/FTH) and one RelatedPerson each; the parent's own Patient links to those
RelatedPersons (`Patient.link`, type `seealso`: the same person in another role).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from hygie.demo import names
from hygie.demo.directory import Directory, ascii_fold, org_id, pra_id
from hygie.demo.fhirtypes import (
    BIRTH_GIVEN,
    BIRTH_PLACE,
    CONTACT_RELATIONSHIP,
    IDENTITY_STATUS_CS,
    INS_TEST_OID,
    INS_TEST_TYPE,
    IPP_SYSTEM,
    PATIENT_INS_PROFILE,
    RELIABILITY,
    TODAY,
    Resource,
    coding,
    id_type,
    insee,
    ref,
)
from hygie.demo.nir import make_nir
from hygie.demo.places import ALL_COMMUNES, COUNTRIES, Commune
from hygie.demo.rng import stream

GROUP = 4
# A adult parent or partner, C child, S adult living alone, E elderly person.
PATTERNS = (
    (("A", "A", "C", "C"),),
    (("A", "A"), ("A", "A")),
    (("A", "C", "C"), ("S",)),
    (("A", "A", "C"), ("E",)),
    (("S",), ("E", "E"), ("S",)),
    (("E",), ("A", "A", "C")),
    (("S",), ("S",), ("A", "A")),
)
WEIGHTS = (22, 14, 10, 16, 14, 14, 10)
STATUSES = ("QUAL", "RECUP", "VALI", "PROV")
STATUS_WEIGHTS = (78, 5, 7, 10)
_CUR = coding(CONTACT_RELATIONSHIP, "CUR", "Représentant légal")
_MOTHER = coding(CONTACT_RELATIONSHIP, "MTH", "mother")
_FATHER = coding(CONTACT_RELATIONSHIP, "FTH", "father")


@dataclass(slots=True)
class Household:
    family: str  # family name of the first adult
    partner_family: str
    home: Commune
    line: str
    phone: str
    gp: int


@dataclass(slots=True)
class Person:
    """What the records of a patient need to know about them."""

    n: int
    id: str
    rng: random.Random
    female: bool
    born: date
    kind: str  # A, C, S, E
    gp: int  # practitioner index of the general practitioner (médecin traitant)
    house: Household
    family: str = ""
    firsts: list[str] = field(default_factory=list)
    used_family: str = ""
    representatives: list[Person] = field(default_factory=list)

    @property
    def age(self) -> int:
        years = TODAY.year - self.born.year
        return years - ((TODAY.month, TODAY.day) < (self.born.month, self.born.day))

    @property
    def ref(self) -> Resource:
        return ref("Patient", self.id)


def patient_id(n: int) -> str:
    return f"pat-{n:06d}"


def person_rng(seed: int, n: int) -> random.Random:
    return stream(f"{seed}:patient:{n}")


def first_names(rng: random.Random, female: bool) -> list[str]:
    simple, compound = (
        (names.FEMALE, names.FEMALE_COMPOUND) if female else (names.MALE, names.MALE_COMPOUND)
    )
    first = rng.choice(compound) if rng.random() < 0.15 else rng.choice(simple)
    others = rng.sample(simple, rng.choice((0, 1, 1, 2)))
    return [first, *(o for o in others if o != first)]


def family_name(rng: random.Random) -> str:
    return rng.choice(names.FAMILY_COMPOUND) if rng.random() < 0.08 else rng.choice(names.FAMILY)


def group_people(seed: int, d: Directory, g: int, patients: int) -> list[list[Person]]:
    """The households of group `g` (patients GROUP*g … GROUP*g+3 below `patients`)."""
    grng = stream(f"{seed}:household:{g}")
    pattern = grng.choices(PATTERNS, WEIGHTS)[0]
    slot = g * GROUP
    households = []
    for kinds in pattern:
        kept = kinds[: max(0, patients - slot)]  # adults come first: truncation drops children
        if kept:
            households.append(_household(seed, d, grng, slot, kept))
        slot += len(kinds)
    return households


def _household(
    seed: int, d: Directory, grng: random.Random, first: int, kinds: tuple[str, ...]
) -> list[Person]:
    home = grng.choice(ALL_COMMUNES)
    house = Household(
        family_name(grng),
        family_name(grng),
        home,
        f"{grng.randint(1, 180)} {grng.choice(names.STREET_KINDS)} {grng.choice(names.STREET_NAMES)}",
        f"06 39 98 {grng.randint(0, 99):02d} {grng.randint(0, 99):02d}",  # ARCEP fiction range
        d.pick(grng, "gp"),
    )
    children = kinds.count("C")
    if children:
        ages = [grng.randint(28, 50)]
    elif kinds[0] == "E":
        ages = [grng.randint(65, 92)]
    else:
        ages = [grng.randint(19, 64)]
    ages.append(max(19 if kinds[0] != "E" else 65, ages[0] + grng.randint(-5, 4)))
    youngest = min(ages[: len(kinds) - children])
    couple = len(kinds) - children == 2
    people = []
    for i, kind in enumerate(kinds):
        n = first + i
        rng = person_rng(seed, n)
        if kind == "C":
            age = grng.randint(0, min(17, youngest - 20))
            female = rng.random() < 0.49
        else:
            age = ages[min(i, 1)]
            female = (i == 1) if couple and rng.random() < 0.95 else rng.random() < 0.52
        born = TODAY - timedelta(days=int(age * 365.25) + rng.randint(1, 364))
        person = Person(n, patient_id(n), rng, female, born, kind, house.gp, house)
        _name(person, house, i, couple)
        people.append(person)
    parents = [p for p in people if p.kind != "C"]
    for p in people:
        if p.kind == "C":
            p.representatives = parents
    return people


def _name(p: Person, house: Household, i: int, couple: bool) -> None:
    rng = p.rng
    p.firsts = first_names(rng, p.female)
    if p.kind == "C":
        both = couple and rng.random() < 0.15  # both parents' names, separated by a space
        p.family = f"{house.family} {house.partner_family}" if both else house.family
        p.used_family = p.family
    elif i == 0 or not couple:
        p.family = house.family if i == 0 else family_name(rng)
        widow = p.female and p.kind == "E" and rng.random() < 0.6
        p.used_family = family_name(rng) if widow else p.family
    else:
        p.family = house.partner_family
        p.used_family = house.family if rng.random() < 0.6 else p.family


def make_household(people: list[Person], d: Directory) -> Iterator[tuple[Person, list[Resource]]]:
    """Each person with their Patient and, for a child, the RelatedPersons of their legal
    representatives; children come first so that a parent's `link` points backwards."""
    links: dict[str, list[str]] = {}
    for child in (p for p in people if p.kind == "C"):
        out = [patient(child, d, [])]
        for k, parent in enumerate(child.representatives):
            rp = related_person(child, parent, k)
            links.setdefault(parent.id, []).append(rp["id"])
            out.append(rp)
        yield child, out
    for adult in (p for p in people if p.kind != "C"):
        yield adult, [patient(adult, d, links.get(adult.id, []))]


def _address(house: Household) -> Resource:
    return {
        "extension": [insee(house.home.insee)],
        "use": "home",
        "type": "both",
        "line": [house.line],
        "city": house.home.name,
        "postalCode": house.home.postcode,
        "country": "FR",
    }


def _email(p: Person) -> str:
    return f"{ascii_fold(p.firsts[0])}.{ascii_fold(p.used_family)}.{p.n}@courriel.example"


def patient(p: Person, d: Directory, related: list[str]) -> Resource:
    rng = p.rng
    status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
    abroad = rng.random() < (0.02 if p.kind == "C" else 0.08)
    if abroad:
        place, place_name = rng.choice(COUNTRIES)
    elif p.kind == "C" and rng.random() < 0.6:
        place, place_name = p.house.home.insee, p.house.home.name
    else:
        commune = rng.choice(ALL_COMMUNES)
        place, place_name = commune.insee, commune.name
    nir = make_nir(2 if p.female else 1, p.born.year, p.born.month, place, p.n % 999 + 1)
    res: Resource = {"resourceType": "Patient", "id": p.id}
    if status == "QUAL":
        res["meta"] = {"profile": [PATIENT_INS_PROFILE]}
    res["extension"] = [
        {
            "url": RELIABILITY,
            "extension": [
                {"url": "identityStatus", "valueCoding": coding(IDENTITY_STATUS_CS, status)}
            ],
        },
        {
            "url": BIRTH_PLACE,
            "valueAddress": {
                "extension": [insee(place)],
                "city": place_name,
                "country": place_name if abroad else "FR",
            },
        },
    ]
    identifiers: list[Resource] = []
    if status in ("QUAL", "RECUP"):  # an INS only on an identity retrieved from INSi
        identifiers.append(
            {
                "use": "official",
                "type": id_type(INS_TEST_TYPE),
                "system": INS_TEST_OID,
                "value": nir,
            }
        )
    identifiers.append({"use": "usual", "system": IPP_SYSTEM, "value": f"{1_000_000 + p.n}"})
    res["identifier"] = identifiers
    res["active"] = True
    res["name"] = [
        {
            "extension": [{"url": BIRTH_GIVEN, "valueString": " ".join(p.firsts)}],
            "use": "official",
            "family": p.family,
            "given": p.firsts[:1],
        }
    ]
    if p.used_family != p.family:
        res["name"].append({"use": "usual", "family": p.used_family, "given": p.firsts[:1]})
    telecom = [{"system": "phone", "value": p.house.phone, "use": "home"}]
    if p.kind != "C":
        telecom.append({"system": "email", "value": _email(p), "use": "home"})
    res["telecom"] = telecom
    res["gender"] = "female" if p.female else "male"
    res["birthDate"] = p.born.isoformat()
    res["address"] = [_address(p.house)]
    if p.representatives:
        res["contact"] = [
            {
                "relationship": [
                    {"coding": [_CUR]},
                    {"coding": [_MOTHER if parent.female else _FATHER]},
                ],
                "name": {"use": "usual", "family": parent.used_family, "given": parent.firsts[:1]},
                "telecom": [{"system": "phone", "value": p.house.phone, "use": "home"}],
                "gender": "female" if parent.female else "male",
            }
            for parent in p.representatives
        ]
    res["generalPractitioner"] = [ref("Practitioner", pra_id(p.gp))]
    res["managingOrganization"] = ref("Organization", org_id(d.org_of(p.gp)))
    if related:
        res["link"] = [{"other": ref("RelatedPerson", rid), "type": "seealso"} for rid in related]
    return res


def related_person(child: Person, parent: Person, k: int) -> Resource:
    return {
        "resourceType": "RelatedPerson",
        "id": f"rp-{child.n:06d}-{k}",
        "active": True,
        "patient": child.ref,
        "relationship": [
            {"coding": [_CUR]},
            {"coding": [_MOTHER if parent.female else _FATHER]},
        ],
        "name": [
            {"use": "official", "family": parent.family, "given": parent.firsts[:1]},
            *(
                [{"use": "usual", "family": parent.used_family, "given": parent.firsts[:1]}]
                if parent.used_family != parent.family
                else []
            ),
        ],
        "telecom": [
            {"system": "phone", "value": child.house.phone, "use": "home"},
            {"system": "email", "value": _email(parent), "use": "home"},
        ],
        "gender": "female" if parent.female else "male",
        "birthDate": parent.born.isoformat(),
        "address": [_address(child.house)],
    }
