"""Expansion of the official ValueSets, for checking required bindings.

Only what the vendored `valuesets` bundle can answer alone is expanded: `compose.include` with an
explicit `concept` list, every concept (nested ones too) of a complete CodeSystem of the bundle,
or other ValueSets of the bundle. A ValueSet that needs anything else (a filter, an external
system such as UCUM or BCP-47, a CodeSystem that is not complete) cannot be expanded here, and
`expand` returns None so that the caller skips the binding rather than reject valid data.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from hygie.fhir.definitions import bundle_resources

Expansion = dict[str, frozenset[str]]  # system -> codes


@cache
def _by_url() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    value_sets: dict[str, dict[str, Any]] = {}
    code_systems: dict[str, dict[str, Any]] = {}
    for res in bundle_resources("valuesets"):
        if res.get("resourceType") == "ValueSet":
            value_sets[res["url"]] = res
        elif res.get("resourceType") == "CodeSystem":
            code_systems[res["url"]] = res
    return value_sets, code_systems


def _canonical(url: str) -> str:
    return url.split("|", 1)[0]


@cache
def expand(url: str) -> Expansion | None:
    """The codes of the ValueSet `url` (version suffix allowed) by system, or None."""
    return _expand(_canonical(url), frozenset())


@cache
def _code_system_codes(system: str) -> frozenset[str] | None:
    cs = _by_url()[1].get(system)
    if cs is None or cs.get("content") != "complete":
        return None
    return frozenset(_walk_concepts(cs.get("concept", [])))


def _walk_concepts(concepts: Iterable[dict[str, Any]]) -> Iterable[str]:
    for concept in concepts:
        yield concept["code"]
        yield from _walk_concepts(concept.get("concept", []))


def _expand(url: str, seen: frozenset[str]) -> Expansion | None:
    vs = _by_url()[0].get(url)
    if vs is None or url in seen:
        return None
    compose = vs.get("compose", {})
    out: dict[str, set[str]] = {}
    for include in compose.get("include", []):
        part = _include(include, seen | {url})
        if part is None:
            return None
        for system, codes in part.items():
            out.setdefault(system, set()).update(codes)
    for exclude in compose.get("exclude", []):
        if set(exclude) - {"system", "version", "concept"} or "concept" not in exclude:
            return None
        out.get(exclude.get("system", ""), set()).difference_update(
            c["code"] for c in exclude["concept"]
        )
    return {system: frozenset(codes) for system, codes in out.items()} if out else None


def _include(include: dict[str, Any], seen: frozenset[str]) -> Expansion | None:
    if "filter" in include:
        return None
    parts: list[Expansion] = []
    system = include.get("system")
    if system is not None:
        if "concept" in include:
            codes: frozenset[str] | None = frozenset(c["code"] for c in include["concept"])
        else:
            codes = _code_system_codes(system)
        if codes is None:
            return None
        parts.append({system: codes})
    for other in include.get("valueSet", []):
        part = _expand(_canonical(other), seen)
        if part is None:
            return None
        parts.append(part)
    if not parts:
        return None
    # Within one include, the system and the ValueSets are intersected (valueset.html#compose).
    result = dict(parts[0])
    for part in parts[1:]:
        result = {s: c & part[s] for s, c in result.items() if s in part}
    return result
