"""Converters of values.py specialised for a FHIR type known when the extractor is generated
(codegen.py): the same rows, without the dispatch on the type at every value, with the
derived parameter keys precomputed and the pure parsers (references, decimals) memoised.

Every function here mirrors one branch of values.py; tests/search/test_extract_fast.py
compares the generated extractor with the reference one.
"""

from __future__ import annotations

from typing import Any

from hygie.search import values as V
from hygie.search.composite import composite_key as _composite_key
from hygie.search.composite import discriminators
from hygie.search.near import near_rows
from hygie.search.normalize import date_range, decimal_range, fold
from hygie.search.paths import reference_type as _reference_type

Rows = dict[str, list[tuple[Any, ...]]]
_MEMO_MAX = 65536

# local names of the row lists in a generated extractor
ROW_ALIASES = {
    "idx_string": "strs",
    "idx_token": "toks",
    "idx_date": "dates",
    "idx_number": "nums",
    "idx_quantity": "qtys",
    "idx_reference": "refs",
    "idx_uri": "uris",
    "idx_near": "nears",
    "compartment": "compartment",
}

_ckeys: dict[tuple[int, str], int] = {}


def composite_key(key: int, disc: str) -> int:
    k = _ckeys.get((key, disc))
    if k is None:
        if len(_ckeys) > _MEMO_MAX:
            _ckeys.clear()
        k = _ckeys[(key, disc)] = _composite_key(key, disc)
    return k


def discriminators_of(firsts: list[Any]) -> tuple[str, ...]:
    """composite.converter's discriminators of the first component's items."""
    tokens: Rows = {"idx_token": []}
    for v, t in firsts:
        V.token_rows(tokens, 0, v, t)
    return tuple(
        {
            d: None
            for k, s, c, _t in tokens["idx_token"]
            if k == 0 and c
            for d in discriminators(s, c)
        }
    )


# memoised pure parsers ----------------------------------------------------------------------

_refs: dict[str, tuple[Any, ...]] = {}


def parse_reference(text: str) -> tuple[Any, ...]:
    r = _refs.get(text)
    if r is None:
        if len(_refs) > _MEMO_MAX:
            _refs.clear()
        r = _refs[text] = V.parse_reference(text)
    return r


_rtypes: dict[str, Any] = {}
_BY_TYPE: Any = object()  # paths.reference_type's answer is the Reference's `type`


def reference_type(ref: dict[str, Any]) -> str | None:
    """paths.reference_type, memoised on the reference's text."""
    text = ref.get("reference")
    if isinstance(text, str):
        r = _rtypes.get(text)
        if r is None:
            if len(_rtypes) > _MEMO_MAX:
                _rtypes.clear()
            r = _rtypes[text] = _reference_type({"reference": text, "type": _BY_TYPE})
        if r is not _BY_TYPE:
            return r
    return ref.get("type")


_decs: dict[str, Any] = {}
_INVALID = (None,)


def decimal(value: Any) -> tuple[float, float, float] | None:
    """values._decimal, memoised on the decimal's text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value)
    r = _decs.get(text)
    if r is None:
        if len(_decs) > _MEMO_MAX:
            _decs.clear()
        try:
            r = decimal_range(text)
        except ValueError:
            r = _INVALID
        _decs[text] = r
    return None if r is _INVALID else r


# token ---------------------------------------------------------------------------------------


def token_cc(toks: list, key: int, value: Any) -> None:
    """token_rows of a CodeableConcept."""
    if isinstance(value, dict):
        text = value.get("text")
        codings = value.get("coding") or ()
        for coding in codings:
            display = text or coding.get("display")
            toks.append(
                (key, coding.get("system"), coding.get("code"), fold(display) if display else None)
            )
        if text and not codings:
            toks.append((key, None, None, fold(text)))
    elif isinstance(value, bool):
        toks.append((key, None, "true" if value else "false", None))
    elif isinstance(value, str):
        toks.append((key, None, value, None))


def token_identifier(toks: list, key: int, of_type: int, ident: Any) -> None:
    """token_rows of an Identifier (`of_type` = values.of_type_key(key))."""
    if isinstance(ident, dict):
        itype = ident.get("type") or {}
        text = itype.get("text")
        value = ident.get("value")
        toks.append((key, ident.get("system"), value, fold(text) if text else None))
        if value is None:
            return
        for coding in itype.get("coding") or ():
            toks.append((of_type, coding.get("system"), f"{coding.get('code')}|{value}", None))
    elif isinstance(ident, bool):
        toks.append((key, None, "true" if ident else "false", None))
    elif isinstance(ident, str):
        toks.append((key, None, ident, None))


def token_contact(toks: list, key: int, value: Any) -> None:
    """token_rows of a ContactPoint."""
    if isinstance(value, dict):
        toks.append((key, value.get("system"), value.get("value"), None))
    elif isinstance(value, bool):
        toks.append((key, None, "true" if value else "false", None))
    elif isinstance(value, str):
        toks.append((key, None, value, None))


def token_other(toks: list, key: int, value: Any) -> None:
    """token_rows of any other type (Coding, code, boolean, string...)."""
    if isinstance(value, str):
        toks.append((key, None, value, None))
    elif isinstance(value, dict):
        if "code" in value or "system" in value:
            display = value.get("display")
            toks.append(
                (key, value.get("system"), value.get("code"), fold(display) if display else None)
            )
    elif isinstance(value, bool):
        toks.append((key, None, "true" if value else "false", None))


# string ----------------------------------------------------------------------------------------

_MAX = V.MAX_STRING


def string_parts(strs: list, key: int, value: Any, parts: tuple[str, ...]) -> None:
    """string_rows of a HumanName or an Address."""
    for part in parts:
        v = value.get(part)
        for text in v if isinstance(v, list) else (v,):
            if isinstance(text, str) and text:
                text = text[:_MAX]
                strs.append((key, fold(text), text))


def string_other(strs: list, key: int, value: Any) -> None:
    if isinstance(value, dict):
        value = value.get("text") or value.get("display") or value.get("value")
    if isinstance(value, str) and value:
        value = value[:_MAX]
        strs.append((key, fold(value), value))


# date, number, quantity, reference, uri ------------------------------------------------------


def date_any(dates: list, key: int, value: Any, ftype: str) -> None:
    if isinstance(value, str):
        try:
            r = date_range(value)
        except ValueError:
            return
    else:
        r = V._range_of(value, ftype)
        if not r:
            return
    dates.append((key, r[0], r[1]))


def number_any(nums: list, key: int, value: Any) -> None:
    if isinstance(value, dict):
        value = value.get("value")
    if (r := decimal(value)) is not None:
        nums.append((key, *r))


def quantity_range(qtys: list, key: int, value: Any) -> None:
    if not isinstance(value, dict):
        return
    low = decimal((value.get("low") or {}).get("value"))
    high = decimal((value.get("high") or {}).get("value"))
    if low or high:
        unit = value.get("low") or value.get("high") or {}
        lo = low[0] if low else -V.OPEN_NUMBER
        hi = high[0] if high else V.OPEN_NUMBER
        code = unit.get("code") or unit.get("unit")
        qtys.append((key, unit.get("system"), code, None, lo, hi))


def quantity_money(qtys: list, key: int, value: Any) -> None:
    if not isinstance(value, dict):
        return
    r = decimal(value.get("value"))
    if r is not None:
        qtys.append((key, V._ISO4217, value.get("currency"), *r))


def quantity_other(qtys: list, key: int, value: Any) -> None:
    if not isinstance(value, dict):
        return
    r = decimal(value.get("value"))
    if r is None:
        return
    code, unit = value.get("code"), value.get("unit")
    qtys.append((key, value.get("system"), code or unit, *r))
    if code and unit and unit != code:
        qtys.append((key, None, unit, *r))


def reference_any(
    refs: list,
    toks: list,
    key: int,
    ikey: int,
    value: Any,
    comps: frozenset[str] = frozenset(),
    compartment: list | None = None,
) -> None:
    """reference_rows (`ikey` = values.identifier_key(key)), and the compartments its row
    places the resource in (index.extract's scan of the rows a parameter added)."""
    if isinstance(value, str):
        row = (key, *parse_reference(value))
    elif not isinstance(value, dict):
        return
    elif "resourceType" in value:
        row = (key, value["resourceType"], value.get("id"), None, None)
    else:
        row = None
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#"):
            rtype, rid, version, url = parse_reference(ref)
            row = (key, rtype or value.get("type"), rid, version, url)
            refs.append(row)
            if comps and row[1] in comps and rid:
                compartment.append((row[1], rid))  # type: ignore[union-attr]
        ident = value.get("identifier")
        if isinstance(ident, dict):
            toks.append((ikey, ident.get("system"), ident.get("value"), None))
        return
    refs.append(row)
    if comps and row[1] in comps and row[2]:
        compartment.append((row[1], row[2]))  # type: ignore[union-attr]


# the call a generated extractor makes ---------------------------------------------------------


def convert_call(
    gen: Any, convert: Any, key: int | str, var: str, ftype: str, comps: frozenset[str]
) -> tuple[list, bool]:
    """Lines converting `var` (of static type `ftype`) for the parameter key `key` (an int,
    or the name of a variable holding it), and whether they add the compartments of
    `comps` themselves."""
    const = gen.const
    literal = isinstance(key, int)
    k = repr(key) if literal else key
    if convert is V.token_rows:
        if ftype == "CodeableConcept":
            return [(0, f"{const(token_cc)}(toks, {k}, {var})")], False
        if ftype == "Identifier" and literal:
            of_type = V.of_type_key(key)  # type: ignore[arg-type]
            return [(0, f"{const(token_identifier)}(toks, {k}, {of_type!r}, {var})")], False
        if ftype == "ContactPoint":
            return [(0, f"{const(token_contact)}(toks, {k}, {var})")], False
        if ftype not in ("Identifier",):
            coded = gen.coded.get(var)
            if coded is not None:  # a bound code turned into a Coding: (system, code)
                system, code_var = coded
                return [(0, f"toks.append(({k}, {system!r}, {code_var}, None))")], False
            return [(0, f"{const(token_other)}(toks, {k}, {var})")], False
    elif convert is V.string_rows:
        if ftype == "HumanName":
            return [(0, f"{const(string_parts)}(strs, {k}, {var}, {V._NAME_PARTS!r})")], False
        if ftype == "Address":
            return [(0, f"{const(string_parts)}(strs, {k}, {var}, {V._ADDRESS_PARTS!r})")], False
        return [(0, f"{const(string_other)}(strs, {k}, {var})")], False
    elif convert is V.date_rows:
        return [(0, f"{const(date_any)}(dates, {k}, {var}, {ftype!r})")], False
    elif convert is V.number_rows:
        return [(0, f"{const(number_any)}(nums, {k}, {var})")], False
    elif convert is V.quantity_rows:
        fn = {"Range": quantity_range, "Money": quantity_money}.get(ftype, quantity_other)
        return [(0, f"{const(fn)}(qtys, {k}, {var})")], False
    elif convert is V.reference_rows and literal:
        ikey = V.identifier_key(key)  # type: ignore[arg-type]
        args = f"refs, toks, {k}, {ikey!r}, {var}"
        if comps:
            return [(0, f"{const(reference_any)}({args}, {const(comps)}, compartment)")], True
        return [(0, f"{const(reference_any)}({args})")], False
    elif convert is V.uri_rows:
        return [(0, f"if isinstance({var}, str):"), (1, f"uris.append(({k}, {var}))")], False
    elif convert is near_rows:
        return [(0, f"{const(near_rows)}(rows, {k}, {var}, {ftype!r})")], False
    return [(0, f"{const(convert)}(rows, {k}, {var}, {ftype!r})")], False


# payloads: the rows of one value without their parameter key ---------------------------------
# (a value converted for several parameters, or for every discriminator of a composite, is
# converted once; the generated code appends `(key,) + tail` for each key)

_NO_ROWS: tuple[tuple[Any, ...], ...] = ()


def _tail_coding(coding: dict[str, Any], text: Any) -> tuple[Any, ...]:
    display = text or coding.get("display")
    return (coding.get("system"), coding.get("code"), fold(display) if display else None)


def tails_token_cc(value: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, dict):
        text = value.get("text")
        codings = value.get("coding") or ()
        out = tuple(_tail_coding(coding, text) for coding in codings)
        if text and not codings:
            return ((None, None, fold(text)),)
        return out
    if isinstance(value, bool):
        return ((None, "true" if value else "false", None),)
    if isinstance(value, str):
        return ((None, value, None),)
    return _NO_ROWS


def tails_token_contact(value: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, dict):
        return ((value.get("system"), value.get("value"), None),)
    if isinstance(value, bool):
        return ((None, "true" if value else "false", None),)
    if isinstance(value, str):
        return ((None, value, None),)
    return _NO_ROWS


def tails_token_other(value: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, str):
        return ((None, value, None),)
    if isinstance(value, dict):
        if "code" in value or "system" in value:
            return (_tail_coding(value, None),)
        return _NO_ROWS
    if isinstance(value, bool):
        return ((None, "true" if value else "false", None),)
    return _NO_ROWS


def _tail_str(text: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(text, str) and text:
        text = text[:_MAX]
        return ((fold(text), text),)
    return _NO_ROWS


def tails_string_parts(value: Any, parts: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    out: list[tuple[Any, ...]] = []
    for part in parts:
        v = value.get(part)
        for text in v if isinstance(v, list) else (v,):
            if isinstance(text, str) and text:
                text = text[:_MAX]
                out.append((fold(text), text))
    return tuple(out)


def tails_string_other(value: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, dict):
        value = value.get("text") or value.get("display") or value.get("value")
    return _tail_str(value)


def tails_date(value: Any, ftype: str) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, str):
        try:
            return (date_range(value),)
        except ValueError:
            return _NO_ROWS
    r = V._range_of(value, ftype)
    return ((r[0], r[1]),) if r else _NO_ROWS


def tails_number(value: Any) -> tuple[tuple[Any, ...], ...]:
    if isinstance(value, dict):
        value = value.get("value")
    r = decimal(value)
    return _NO_ROWS if r is None else (r,)


def tails_quantity_range(value: Any) -> tuple[tuple[Any, ...], ...]:
    if not isinstance(value, dict):
        return _NO_ROWS
    low = decimal((value.get("low") or {}).get("value"))
    high = decimal((value.get("high") or {}).get("value"))
    if low or high:
        unit = value.get("low") or value.get("high") or {}
        lo = low[0] if low else -V.OPEN_NUMBER
        hi = high[0] if high else V.OPEN_NUMBER
        return ((unit.get("system"), unit.get("code") or unit.get("unit"), None, lo, hi),)
    return _NO_ROWS


def tails_quantity_money(value: Any) -> tuple[tuple[Any, ...], ...]:
    if not isinstance(value, dict):
        return _NO_ROWS
    r = decimal(value.get("value"))
    return _NO_ROWS if r is None else ((V._ISO4217, value.get("currency"), *r),)


def tails_quantity_other(value: Any) -> tuple[tuple[Any, ...], ...]:
    if not isinstance(value, dict):
        return _NO_ROWS
    r = decimal(value.get("value"))
    if r is None:
        return _NO_ROWS
    code, unit = value.get("code"), value.get("unit")
    if code and unit and unit != code:
        return ((value.get("system"), code or unit, *r), (None, unit, *r))
    return ((value.get("system"), code or unit, *r),)


def tails_call(gen: Any, convert: Any, var: str, ftype: str) -> tuple[str, str] | None:
    """(row list alias, expression of the tails of `var`) when `convert` of a `ftype` value
    only appends rows keyed by the parameter key to one table; None otherwise."""
    const = gen.const
    if convert is V.token_rows:
        if ftype == "CodeableConcept":
            return "toks", f"{const(tails_token_cc)}({var})"
        if ftype == "ContactPoint":
            return "toks", f"{const(tails_token_contact)}({var})"
        if ftype != "Identifier":
            coded = gen.coded.get(var)
            if coded is not None:  # a bound code turned into a Coding: (system, code)
                return "toks", f"(({coded[0]!r}, {coded[1]}, None),)"
            return "toks", f"{const(tails_token_other)}({var})"
    elif convert is V.string_rows:
        if ftype == "HumanName":
            return "strs", f"{const(tails_string_parts)}({var}, {V._NAME_PARTS!r})"
        if ftype == "Address":
            return "strs", f"{const(tails_string_parts)}({var}, {V._ADDRESS_PARTS!r})"
        return "strs", f"{const(tails_string_other)}({var})"
    elif convert is V.date_rows:
        return "dates", f"{const(tails_date)}({var}, {ftype!r})"
    elif convert is V.number_rows:
        return "nums", f"{const(tails_number)}({var})"
    elif convert is V.quantity_rows:
        fn = {"Range": tails_quantity_range, "Money": tails_quantity_money}.get(
            ftype, tails_quantity_other
        )
        return "qtys", f"{const(fn)}({var})"
    return None
