"""`Patient/$match` (FHIR R4 patient-operation-match): candidates, scores and match grades.

Candidates come from the repository's search, by blocks that are cheap through its indexes:
each identifier of the input, the birth date (and its day/month inversion), and, only when
those found no certain or probable match, the birth name with the first first-name (catching a
wrong birth date; its cost grows with the population). Each candidate is then compared trait
by trait (`compare`). Grades (extension `match-grade`):
- certain: the same INS (or the same identifier of another domain) and agreeing traits;
- probable: score >= 0.85; possible: score >= 0.65; lower scores are not returned;
- certainly-not: two different INS of the same system (not returned).
Merged identities (a `replaced-by` link) are left out: their survivor is the match.

IHE PDQm (ITI-78) query parameters (family, given, birthdate, gender, identifier) can drive the
same matcher: `GET Patient/$match?family=…` builds the input Patient from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from hygie.services.identity.compare import compare
from hygie.services.identity.rules import ins_identifiers
from hygie.services.identity.traits import Traits, from_patient, normalize, words
from hygie.store import Context, Repository

MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
CERTAIN, PROBABLE, POSSIBLE, CERTAINLY_NOT = "certain", "probable", "possible", "certainly-not"
PROBABLE_SCORE, POSSIBLE_SCORE, CERTAIN_TRAITS = 0.85, 0.65, 0.8
PER_BLOCK = 100
PDQM_PARAMETERS = ("family", "given", "birthdate", "gender", "identifier")


@dataclass(frozen=True, slots=True)
class Graded:
    resource: dict[str, Any]
    score: float
    grade: str
    details: dict[str, float]


def search_prefix(name: str) -> str:
    """Up to the end of the first word of 3+ letters: 'DE LA FONTAINE', 'LEFEVRE' (of
    LEFEVRE-UTILE); the string search matches by prefix, case and accents folded."""
    text = normalize(name)
    for w in words(text):
        if len(w) >= 3:
            end = text.index(w) + len(w)
            return text[:end].lower()
    return text.lower()


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _dates(birth: str) -> list[str]:
    """The birth date and its day/month inversion, those that are real dates (a mistyped
    date such as 1984-21-03 still finds 1984-03-21)."""
    found = [birth] if _real_date(birth) else []
    if len(birth) == 10 and birth[5:7] != birth[8:10]:
        swapped = f"{birth[:5]}{birth[8:10]}-{birth[5:7]}"
        if _real_date(swapped):
            found.append(swapped)
    return found


def blocks(patient: dict[str, Any], traits: Traits) -> list[list[tuple[str, str]]]:
    queries: list[list[tuple[str, str]]] = []
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            queries.append([("identifier", f"{ident['system']}|{ident['value']}")])
    for day in _dates(traits.birth_date or ""):
        queries.append([("birthdate", day)])
    if traits.birth_name and traits.first_name:
        queries.append(
            [
                ("family", search_prefix(traits.birth_name)),
                ("given", search_prefix(traits.first_name)),
            ]
        )
    return queries


def _search_block(
    repo: Repository,
    ctx: Context,
    params: list[tuple[str, str]],
    found: dict[str, dict[str, Any]],
    *,
    base: str,
) -> list[dict[str, Any]]:
    """Add the block's live candidates to `found`; return the new ones."""
    new = []
    bundle = repo.search(ctx, "Patient", [*params, ("_count", str(PER_BLOCK))], base=base)
    for entry in bundle.get("entry") or []:
        res = entry["resource"]
        if res["id"] in found:
            continue
        if not any(link.get("type") == "replaced-by" for link in res.get("link") or []):
            found[res["id"]] = res
            new.append(res)
    return new


def candidates(
    repo: Repository, ctx: Context, patient: dict[str, Any], traits: Traits, *, base: str
) -> dict[str, dict[str, Any]]:
    """Every block's candidates (the name block included)."""
    found: dict[str, dict[str, Any]] = {}
    for params in blocks(patient, traits):
        _search_block(repo, ctx, params, found, base=base)
    return found


def _graded_candidates(
    repo: Repository, ctx: Context, patient: dict[str, Any], traits: Traits, *, base: str
) -> list[Graded]:
    """The identifier and birth-date blocks first (each reads a few index entries); the name
    block (birth-name prefix AND first-name prefix, whose index lists grow with the population:
    ~13,000 + ~20,000 entries at 1 M synthetic patients) only when they found no certain or
    probable match, i.e. when the birth date itself may be wrong. Without a usable birth date
    every candidate's score is at most 0.7, so a homonym born another day is then at most
    `possible`; it is not listed beside a probable match."""
    found: dict[str, dict[str, Any]] = {}
    graded: list[Graded] = []
    all_blocks = blocks(patient, traits)
    name_blocks = [b for b in all_blocks if b[0][0] == "family"]
    for params in all_blocks:
        if params not in name_blocks:
            graded += [grade(patient, traits, c) for c in _search_block(
                repo, ctx, params, found, base=base)]  # fmt: skip
    if not any(g.grade in (CERTAIN, PROBABLE) for g in graded):
        for params in name_blocks:
            graded += [grade(patient, traits, c) for c in _search_block(
                repo, ctx, params, found, base=base)]  # fmt: skip
    return graded


def _identifiers(patient: dict[str, Any]) -> dict[str, str]:
    return {
        i["system"]: i["value"]
        for i in patient.get("identifier") or []
        if isinstance(i, dict)
        and i.get("system")
        and isinstance(i.get("value"), str)
        and i.get("use") != "old"
    }


def grade(query: dict[str, Any], traits: Traits, candidate: dict[str, Any]) -> Graded:
    cmp = compare(traits, from_patient(candidate))
    q_ins = {i["system"]: i.get("value") for _, i in ins_identifiers(query)}
    c_ins = {i["system"]: i.get("value") for _, i in ins_identifiers(candidate)}
    if any(c_ins.get(s) not in (None, v) for s, v in q_ins.items()):
        return Graded(candidate, 0.0, CERTAINLY_NOT, cmp.details)
    q_ids, c_ids = _identifiers(query), _identifiers(candidate)
    shared = any(c_ids.get(s) == v for s, v in q_ids.items())
    score = cmp.score
    if shared and score >= CERTAIN_TRAITS:
        return Graded(candidate, max(score, 0.99), CERTAIN, cmp.details)
    if score >= PROBABLE_SCORE:
        return Graded(candidate, score, PROBABLE, cmp.details)
    if score >= POSSIBLE_SCORE:
        return Graded(candidate, score, POSSIBLE, cmp.details)
    return Graded(candidate, score, CERTAINLY_NOT, cmp.details)


def match(
    repo: Repository,
    ctx: Context,
    patient: dict[str, Any],
    *,
    base: str,
    count: int | None = None,
    only_certain: bool = False,
) -> dict[str, Any]:
    traits = from_patient(patient)
    graded = _graded_candidates(repo, ctx, patient, traits, base=base)
    kept = [
        g for g in graded if g.grade != CERTAINLY_NOT and (not only_certain or g.grade == CERTAIN)
    ]
    kept.sort(key=lambda g: (-g.score, g.resource["id"]))
    if count is not None:
        kept = kept[:count]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(kept),
        "entry": [
            {
                "fullUrl": f"{base}/Patient/{g.resource['id']}",
                "resource": g.resource,
                "search": {
                    "extension": [{"url": MATCH_GRADE_URL, "valueCode": g.grade}],
                    "mode": "match",
                    "score": g.score,
                },
            }
            for g in kept
        ],
    }


def patient_from_pdqm(values: dict[str, list[str]]) -> dict[str, Any]:
    """A Patient to match from ITI-78 parameters (family, given, birthdate, gender, identifier)."""
    name: dict[str, Any] = {"use": "official"}
    if values.get("family"):
        name["family"] = values["family"][0]
    if values.get("given"):
        name["given"] = list(values["given"])
    patient: dict[str, Any] = {"resourceType": "Patient", "name": [name]}
    if values.get("birthdate"):
        patient["birthDate"] = values["birthdate"][0]
    if values.get("gender"):
        patient["gender"] = values["gender"][0]
    idents = []
    for token in values.get("identifier", []):
        system, sep, value = token.partition("|")
        idents.append({"system": system, "value": value} if sep else {"value": token})
    if idents:
        patient["identifier"] = idents
    return patient
