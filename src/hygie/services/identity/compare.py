"""Fuzzy comparison of two identities' traits, tolerant of French naming.

Each trait gets a similarity in [0, 1]:
- names: equal once written the INS way and compacted ("Lefèvre-Utile" = "LEFEVRE UTILE"),
  one compound name holding the other ("MARTIN" in "MARTIN-LAGARDE"), the birth name of one
  found among the used names of the other (birth vs married name), else Jaro-Winkler;
- first names: the first first-name, or any birth first name of the other (inverted or
  second first names), a part of a compound first name ("JEAN" / "JEAN-PIERRE"), else
  Jaro-Winkler;
- birth date: equal, day and month inverted, one digit mistyped, same year and month;
- sex and birth place: equal or not.
The score is the weighted mean over the traits both identities have, scaled down when they
share less than the names and the birth date (`FULL_WEIGHT`): two traits never make a
probable match.
"""

from __future__ import annotations

from dataclasses import dataclass

from hygie.services.identity.traits import Traits, compact, words

WEIGHTS = {"name": 0.30, "first": 0.20, "date": 0.30, "sex": 0.10, "place": 0.10}
FULL_WEIGHT = 0.8


def jaro_winkler(a: str, b: str) -> float:
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(la, lb) // 2 - 1
    used = [False] * lb
    matches_a = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not used[j] and b[j] == ch:
                used[j] = True
                matches_a.append(ch)
                break
    m = len(matches_a)
    if not m:
        return 0.0
    matches_b = [b[j] for j in range(lb) if used[j]]
    transpositions = sum(x != y for x, y in zip(matches_a, matches_b, strict=True)) / 2
    jaro = (m / la + m / lb + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def _one_name(a: str, b: str) -> float:
    ca, cb = compact(a), compact(b)
    if not ca or not cb:
        return 0.0
    if ca == cb:
        return 1.0
    wa, wb = set(words(a)), set(words(b))
    long_a = {w for w in wa if len(w) > 2}
    long_b = {w for w in wb if len(w) > 2}
    if long_a and long_b and (long_a <= long_b or long_b <= long_a):
        return 0.85
    jw = jaro_winkler(ca, cb)
    return jw * 0.9 if jw >= 0.88 else jw * 0.5


def name_similarity(q: Traits, c: Traits) -> float | None:
    if not q.birth_name or not c.birth_name:
        return None
    best = _one_name(q.birth_name, c.birth_name)
    for used in c.used_names:
        best = max(best, 0.9 * _one_name(q.birth_name, used))
    for used in q.used_names:
        best = max(best, 0.9 * _one_name(used, c.birth_name))
    return best


def first_similarity(q: Traits, c: Traits) -> float | None:
    if not q.first_name or not c.first_name:
        return None
    a, b = compact(q.first_name), compact(c.first_name)
    if a == b:
        return 1.0
    if a in {compact(f) for f in c.first_names} or b in {compact(f) for f in q.first_names}:
        return 0.85
    pa, pb = set(words(q.first_name)), set(words(c.first_name))
    if pa <= pb or pb <= pa:
        return 0.8
    jw = jaro_winkler(a, b)
    return jw * 0.9 if jw >= 0.88 else jw * 0.5


def date_similarity(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    if a == b:
        return 1.0
    if len(a) == len(b) == 10:
        if a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]:
            return 0.75
        if sum(x != y for x, y in zip(a, b, strict=True)) == 1:
            return 0.7
        if a[:7] == b[:7]:
            return 0.4
    return 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    score: float
    details: dict[str, float]


def compare(q: Traits, c: Traits) -> Comparison:
    sims: dict[str, float | None] = {
        "name": name_similarity(q, c),
        "first": first_similarity(q, c),
        "date": date_similarity(q.birth_date, c.birth_date),
        "sex": None
        if not q.gender or not c.gender
        else (1.0 if q.gender == c.gender else 0.5 if "unknown" in (q.gender, c.gender) else 0.0),
        "place": None
        if not q.birth_place or not c.birth_place
        else (1.0 if q.birth_place == c.birth_place else 0.0),
    }
    present = {k: v for k, v in sims.items() if v is not None}
    total = sum(WEIGHTS[k] for k in present)
    score = sum(WEIGHTS[k] * v for k, v in present.items()) / total if total else 0.0
    score *= min(1.0, total / FULL_WEIGHT)
    return Comparison(round(score, 4), {k: round(v, 3) for k, v in present.items()})
