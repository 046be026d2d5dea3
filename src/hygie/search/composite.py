"""Composite parameters (search.html#composite): `code-value-quantity=loinc|8480-6$gt100`.

Both components must match the *same* element (the same Observation, the same component).
The first component is a token: each of its codes becomes a discriminator folded into the
parameter key, and the second component is indexed in its own type's table under that derived
key. A composite search is then an ordinary indexed search of the second component's type.
Supported: token$token, token$quantity, token$date, token$string, token$number, token$uri,
token$reference, the shapes of every official two-component composite; other shapes are not
registered (so not advertised in the CapabilityStatement).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from hygie.fhir.definitions import search_parameters
from hygie.search.keys import param_key
from hygie.search.paths import Unsupported, Walker, compile_elements, compile_relative, parts_for
from hygie.search.values import CONVERTERS, Converter, Rows, token_rows

SECOND_TYPES = {"token", "quantity", "date", "string", "number", "uri", "reference"}


@cache
def _official_by_url() -> dict[str, dict[str, Any]]:
    return {sp["url"]: sp for sp in search_parameters()}


def component_types(
    sp: dict[str, Any], lookup: Callable[[str], dict[str, Any] | None] | None = None
) -> list[str] | None:
    """The types of a composite's components, or None when a definition is unknown."""
    types = []
    for comp in sp.get("component", ()):
        definition = _official_by_url().get(comp.get("definition", ""))
        if definition is None and lookup is not None:
            definition = lookup(comp.get("definition", ""))
        if definition is None:
            return None
        types.append(definition["type"])
    return types


def compile_composite(sp: dict[str, Any], rtype: str, types: list[str]) -> Walker | None:
    """A walker giving, per matched element, ([first component items], [second items])."""
    comps = sp.get("component", ())
    if len(types) != 2 or types[0] != "token" or types[1] not in SECOND_TYPES:
        return None
    plans = []
    try:
        for part in parts_for(sp.get("expression") or "", rtype):
            elements, contexts = compile_elements(part, rtype)
            plans.append((elements, [compile_relative(c["expression"], contexts) for c in comps]))
    except Unsupported:
        return None
    if not plans:
        return None

    def walk(resource: dict[str, Any]) -> list[tuple[Any, str | None]]:
        out: list[tuple[Any, str | None]] = []
        for elements, walkers in plans:
            for item in elements(resource):
                out.append(([w([item]) for w in walkers], "composite"))
        return out

    return walk


def composite_key(key: int, discriminator: str) -> int:
    return param_key(str(key), "$" + discriminator)


def discriminators(system: str | None, code: str) -> tuple[str, ...]:
    """Keys under which a coding is findable: `code` (any system) and `system|code`."""
    return (f"*|{code}", f"{system or ''}|{code}")


def query_discriminator(system: str | None, code: str) -> str:
    """The discriminator a token search value selects: `code`, `|code` or `system|code`."""
    return f"*|{code}" if system is None else f"{system}|{code}"


def converter(second_type: str) -> Converter:
    convert = CONVERTERS[second_type]

    def rows_of(rows: Rows, key: int, value: Any, _ftype: str | None) -> None:
        firsts, seconds = value
        if not seconds:
            return
        tokens: Rows = {"idx_token": []}
        for v, t in firsts:
            token_rows(tokens, 0, v, t)
        discs = {
            d for k, s, c, _t in tokens["idx_token"] if k == 0 and c for d in discriminators(s, c)
        }
        for disc in discs:
            dkey = composite_key(key, disc)
            for v, t in seconds:
                convert(rows, dkey, v, t)

    return rows_of
