"""A synthetic French population, streamed resource by resource (never built in memory).

Deterministic: the directory, each household group and each patient draw from their own
`random.Random` seeded with the seed and their number, so the same seed gives the same data,
a patient can be made without making the ones before it, and a population can be cut into
blocks made in any order or in parallel (`hygie.demo.generate`) with identical output.

Order: organisations, endpoints, practitioners and their roles; then each household: children
(with their legal representatives' RelatedPersons), then adults, each patient followed by their
own record. Every reference points to a resource already streamed.
"""

from __future__ import annotations

from collections.abc import Iterator

from hygie.demo.care import records
from hygie.demo.directory import Directory, directory_resources
from hygie.demo.fhirtypes import Resource
from hygie.demo.people import GROUP, group_people, make_household

__all__ = ["GROUP", "Directory", "group_resources", "groups", "patients", "population"]


def groups(patients: int) -> int:
    return -(-patients // GROUP)


def population(patients: int, seed: int) -> Iterator[Resource]:
    """The directory, then every household group in order."""
    d = Directory.of(patients, seed)
    yield from directory_resources(d)
    for g in range(groups(patients)):
        yield from group_resources(seed, d, g, patients)


def group_resources(seed: int, d: Directory, g: int, patients: int) -> Iterator[Resource]:
    """The people of household group `g` and their records."""
    for house in group_people(seed, d, g, patients):
        for person, own in make_household(house, d):
            yield from own
            yield from records(person, d)


def patients(people: int, seed: int) -> Iterator[Resource]:
    """Only the Patient resources of `population(people, seed)`, the same ones, without their
    records (the local INSi register of the identity service is built from them)."""
    d = Directory.of(people, seed)
    for g in range(groups(people)):
        for house in group_people(seed, d, g, people):
            for _, own in make_household(house, d):
                yield own[0]
