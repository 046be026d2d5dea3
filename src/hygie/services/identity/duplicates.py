"""Probable duplicates: blocking keys, fuzzy comparison, a report.

The population is read one birth year at a time through the repository's search (keyset
pages), so memory holds one year's traits, never the whole base. Inside a year, identities
share a block when they share a key:
- the birth date and the initial of a name (birth or used): catches first-name errors and
  inverted first names;
- the birth date and the initial of the first first-name: catches birth vs used name and
  family-name errors;
- the year, the first 4 letters of the birth name and the first 3 of the first name: catches
  a mistyped or inverted day/month.
Each pair in a block is compared (`compare`); pairs over the threshold are reported. Identities
already merged away (`replaced-by`) and pairs with two different INS are skipped. Known limit: a
birth year mistyped across years is not paired (the year is the partition).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from hygie.services.identity.compare import compare
from hygie.services.identity.matching import POSSIBLE_SCORE, PROBABLE_SCORE
from hygie.services.identity.paging import each
from hygie.services.identity.rules import ins_identifiers
from hygie.services.identity.traits import Traits, compact, from_patient
from hygie.store import Context, Repository

MAX_BLOCK = 400  # a larger block is a common key, not a signal: compare its members no further
PAGE = "1000"


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    traits: Traits
    ins: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    score: float
    grade: str
    details: dict[str, float]


@dataclass
class Report:
    scanned: int = 0
    compared: int = 0
    pairs: list[Pair] = field(default_factory=list)
    truncated: bool = False


def blocking_keys(t: Traits) -> set[str]:
    keys = set()
    first = compact(t.first_name or "")
    if t.birth_date:
        for name in (t.birth_name, *t.used_names):
            if name and compact(name):
                keys.add(f"d{t.birth_date}n{compact(name)[0]}")
        if first:
            keys.add(f"d{t.birth_date}g{first[0]}")
    if t.birth_name and first:
        keys.add(f"y{(t.birth_date or '')[:4]}n{compact(t.birth_name)[:4]}g{first[:3]}")
    return keys


def _person(resource: dict[str, Any]) -> Person | None:
    if any(link.get("type") == "replaced-by" for link in resource.get("link") or []):
        return None
    ins = frozenset((i["system"], str(i.get("value"))) for _, i in ins_identifiers(resource))
    return Person(resource["id"], from_patient(resource), ins)


def _conflict(a: Person, b: Person) -> bool:
    systems = {s for s, _ in a.ins} & {s for s, _ in b.ins}
    return any((s, v) not in b.ins for s, v in a.ins if s in systems)


def pairs_in(people: list[Person], threshold: float) -> Iterator[tuple[Pair | None, int]]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for idx, person in enumerate(people):
        for key in blocking_keys(person.traits):
            blocks[key].append(idx)
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        for i, j in combinations(members, 2):
            if (i, j) in seen:
                continue
            seen.add((i, j))
            a, b = people[i], people[j]
            if _conflict(a, b):
                continue
            cmp = compare(a.traits, b.traits)
            if cmp.score >= threshold:
                grade = "probable" if cmp.score >= PROBABLE_SCORE else "possible"
                yield Pair(a.id, b.id, cmp.score, grade, cmp.details), 1
            else:
                yield None, 1


def _year_bounds(repo: Repository, ctx: Context, base: str) -> tuple[int, int] | None:
    def edge(order: str) -> int | None:
        found = repo.search(
            ctx,
            "Patient",
            [("_sort", order), ("birthdate:missing", "false"), ("_count", "1")],
            base=base,
        )
        entries = found.get("entry") or []
        return int(entries[0]["resource"]["birthDate"][:4]) if entries else None

    low, high = edge("birthdate"), edge("-birthdate")
    return None if low is None or high is None else (low, high)


def report(
    repo: Repository,
    ctx: Context,
    *,
    base: str,
    threshold: float = POSSIBLE_SCORE,
    years: tuple[int, int] | None = None,
    limit: int | None = None,
) -> Report:
    out = Report()
    bounds = years or _year_bounds(repo, ctx, base)
    partitions: list[list[tuple[str, str]]] = []
    if bounds:
        partitions += [
            [("birthdate", f"ge{y}-01-01"), ("birthdate", f"lt{y + 1}-01-01")]
            for y in range(bounds[0], bounds[1] + 1)
        ]
    if years is None:
        partitions.append([("birthdate:missing", "true")])
    for params in partitions:
        people = [
            p
            for r in each(repo, ctx, "Patient", [*params, ("_count", PAGE)], base=base)
            if (p := _person(r)) is not None
        ]
        out.scanned += len(people)
        for pair, n in pairs_in(people, threshold):
            out.compared += n
            if pair is None:
                continue
            if limit is not None and len(out.pairs) >= limit:
                out.truncated = True
                continue
            out.pairs.append(pair)
    out.pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return out


def report_parameters(r: Report) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "scanned", "valueInteger": r.scanned},
        {"name": "compared", "valueInteger": r.compared},
        {"name": "truncated", "valueBoolean": r.truncated},
    ]
    for p in r.pairs:
        params.append(
            {
                "name": "pair",
                "part": [
                    {"name": "patient", "valueReference": {"reference": f"Patient/{p.a}"}},
                    {"name": "patient", "valueReference": {"reference": f"Patient/{p.b}"}},
                    {"name": "score", "valueDecimal": p.score},
                    {"name": "grade", "valueCode": p.grade},
                    *({"name": f"similarity-{k}", "valueDecimal": v} for k, v in p.details.items()),
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": params}
