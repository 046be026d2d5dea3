"""The national INSi teleservice behind an interface, and a local reference register.

In production the INS comes from the Assurance Maladie's INSi teleservice (SOAP, via the
health-professional card). Hygie talks to it through `InsiConnector`; `LocalRegister` is the
reference implementation: a national register simulated from the synthetic population (or
any list of identities), answering the same questions with the real answer codes:

- search by traits (birth name, first name, sex, birth date, birth place optional):
  `found` (INSi CR 00: one identity), `not-found` (CR 01), `several` (CR 02: add the other
  first names or the birth place and ask again);
- search by health-card data (the NIR read on the card, the beneficiary's birth date and
  optionally first name): same codes;
- verification of an INS already held (INSi "vérification"): `found` when the register holds
  the INS with the same traits, `traits-differ` when it holds it with other traits,
  `not-found` when it does not hold it.

The INSi rule for first names: the first name asked for must be one of the birth first names.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from hygie.services.identity import nir
from hygie.services.identity.traits import Traits, compact, from_patient

FOUND, NOT_FOUND, SEVERAL, TRAITS_DIFFER = "found", "not-found", "several", "traits-differ"
INSI_CODES = {FOUND: "00", NOT_FOUND: "01", SEVERAL: "02", TRAITS_DIFFER: "verification-KO"}


@dataclass(frozen=True, slots=True)
class InsIdentity:
    system: str  # NIR, NIA, test or demo OID
    value: str
    traits: Traits


@dataclass(frozen=True, slots=True)
class InsiAnswer:
    code: str  # found | not-found | several | traits-differ
    identity: InsIdentity | None = None
    message: str = ""
    candidates: int = 0


@dataclass(frozen=True, slots=True)
class CardData:
    """What the health card (carte Vitale) gives: the NIR, the birth date, the first name."""

    nir: str
    birth_date: str
    first_name: str | None = None


class InsiConnector(Protocol):
    def search_by_traits(self, traits: Traits) -> InsiAnswer: ...

    def search_by_card(self, card: CardData) -> InsiAnswer: ...

    def verify(self, system: str, value: str, traits: Traits) -> InsiAnswer: ...


def _first_name_ok(asked: str | None, identity: Traits) -> bool:
    if not asked:
        return True
    key = compact(asked)
    return any(compact(f) == key for f in identity.first_names)


def _answer(found: list[InsIdentity]) -> InsiAnswer:
    if not found:
        return InsiAnswer(NOT_FOUND, message="no identity matches (INSi CR 01)")
    if len(found) > 1:
        return InsiAnswer(
            SEVERAL,
            message=f"{len(found)} identities match (INSi CR 02): add the"
            " other birth first names or the birth place",
            candidates=len(found),
        )
    return InsiAnswer(FOUND, found[0], "one identity found (INSi CR 00)", 1)


@dataclass
class LocalRegister:
    """An in-memory national register: the reference InsiConnector."""

    _by_key: dict[tuple[str, str, str], list[InsIdentity]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _by_ins: dict[str, InsIdentity] = field(default_factory=dict)

    def add(self, identity: InsIdentity) -> None:
        t = identity.traits
        self._by_key[(compact(t.birth_name or ""), t.birth_date or "", t.gender or "")].append(
            identity
        )
        self._by_ins[identity.value] = identity

    def __len__(self) -> int:
        return len(self._by_ins)

    def search_by_traits(self, traits: Traits) -> InsiAnswer:
        key = (compact(traits.birth_name or ""), traits.birth_date or "", traits.gender or "")
        found = [
            i
            for i in self._by_key.get(key, ())
            if _first_name_ok(traits.first_name, i.traits)
            and (not traits.birth_place or traits.birth_place == i.traits.birth_place)
        ]
        return _answer(found)

    def search_by_card(self, card: CardData) -> InsiAnswer:
        identity = self._by_ins.get(card.nir)
        found = []
        if identity and identity.traits.birth_date == card.birth_date:
            if _first_name_ok(card.first_name, identity.traits):
                found.append(identity)
        return _answer(found)

    def verify(self, system: str, value: str, traits: Traits) -> InsiAnswer:
        identity = self._by_ins.get(value)
        if identity is None or identity.system != system:
            return InsiAnswer(NOT_FOUND, message=f"INS {value} is not known (INSi CR 01)")
        mine, theirs = identity.traits, traits
        same = (
            compact(mine.birth_name or "") == compact(theirs.birth_name or "")
            and _first_name_ok(theirs.first_name, mine)
            and mine.birth_date == theirs.birth_date
            and mine.gender == theirs.gender
            and (not theirs.birth_place or mine.birth_place == theirs.birth_place)
        )
        if not same:
            return InsiAnswer(
                TRAITS_DIFFER,
                identity,
                "the INSi traits of this INS differ from the identity's traits",
            )
        return InsiAnswer(FOUND, identity, "INS verified (traits agree)", 1)

    # -- the synthetic national register ------------------------------------------------------
    @classmethod
    def of(cls, identities: Iterable[InsIdentity]) -> LocalRegister:
        register = cls()
        for identity in identities:
            register.add(identity)
        return register

    @classmethod
    def from_population(cls, people: int, seed: int) -> LocalRegister:
        """Everybody of the synthetic population (`hygie demo`), qualified or not there."""
        return cls.of(population_identities(people, seed))


def population_identities(people: int, seed: int) -> Iterable[InsIdentity]:
    from hygie.demo.population import patients

    for patient in patients(people, seed):
        traits = from_patient(patient)
        yield InsIdentity(nir.TEST_SYSTEM, _demo_nir(traits, int(patient["id"][4:])), traits)


def _demo_nir(t: Traits, n: int) -> str:
    """The NIR the demo gives patient n (hygie.demo.population: birth order n % 999 + 1);
    before 1976 Corsica was department 20."""
    year, month = int(t.birth_date[:4]), int(t.birth_date[5:7])  # type: ignore[index]
    place = t.birth_place or "99100"
    if place[:2] in ("2A", "2B") and year < 1976:
        place = "20" + place[2:]
    sex = "2" if t.gender == "female" else "1"
    return nir.with_key(f"{sex}{year % 100:02d}{month:02d}{place}{n % 999 + 1:03d}")


_default: LocalRegister | None = None
_default_lock = threading.Lock()


def default_register() -> LocalRegister:
    """The register of the demo population (`HYGIE_INSI_PEOPLE` people, default 10 000, of the
    demo seed), built once on first use."""
    global _default
    with _default_lock:
        if _default is None:
            from hygie.demo import DEFAULT_SEED

            people = int(os.environ.get("HYGIE_INSI_PEOPLE", "10000"))
            _default = LocalRegister.from_population(people, DEFAULT_SEED)
        return _default
