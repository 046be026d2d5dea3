"""Index rows from walked values, one converter per search-parameter type.

Each converter appends tuples (in the column order of `schema.INDEX_TABLES`, without `rid`) to
the lists of a `Rows` dict. Values whose FHIR type the walker could not know (fhirpathpy
fallback) are typed by their shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hygie.fhir.definitions import resource_types
from hygie.search.keys import param_key
from hygie.search.normalize import MAX_TIME, MIN_TIME, date_range, decimal_range, fold

Rows = dict[str, list[tuple[Any, ...]]]
Converter = Callable[[Rows, int, Any, "str | None"], None]

_DATE_LIKE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T.*)?)?)?")
_NAME_PARTS = ("family", "given", "text", "prefix", "suffix")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")
_QUANTITY_KINDS = {"Quantity", "Age", "Distance", "Duration", "Count", "SimpleQuantity"}
_ISO4217 = "urn:iso:std:iso:4217"
OPEN_NUMBER = 1e300  # the open end of a Range without low or high
MAX_STRING = 512  # longer strings are indexed by their prefix


def shape_type(value: Any) -> str | None:
    """Best guess of the FHIR type of a value returned without type information."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "decimal"
    if isinstance(value, str):
        return "dateTime" if _DATE_LIKE.fullmatch(value) else "string"
    if not isinstance(value, dict):
        return None
    keys = value.keys()
    for names, tname in (
        (("resourceType",), "Resource"),
        (("reference",), "Reference"),
        (("coding",), "CodeableConcept"),
        (("family", "given"), "HumanName"),
        (("line", "city", "postalCode"), "Address"),
        (("start", "end"), "Period"),
        (("low", "high"), "Range"),
        (("currency",), "Money"),
    ):
        if any(n in keys for n in names):
            return tname
    if "value" in keys and isinstance(value["value"], int | float):
        return "Quantity"
    if "code" in keys:
        return "Coding"
    if "value" in keys:
        return "Identifier"
    return "CodeableConcept" if "text" in keys else None


def _str(rows: Rows, key: int, text: Any) -> None:
    if isinstance(text, str) and text:
        text = text[:MAX_STRING]
        rows["idx_string"].append((key, fold(text), text))


def string_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    ftype = ftype or shape_type(value)
    if ftype == "HumanName" or ftype == "Address":
        for part in _NAME_PARTS if ftype == "HumanName" else _ADDRESS_PARTS:
            v = value.get(part)
            for text in v if isinstance(v, list) else (v,):
                _str(rows, key, text)
    elif isinstance(value, dict):
        _str(rows, key, value.get("text") or value.get("display") or value.get("value"))
    else:
        _str(rows, key, value)


def _coding(rows: Rows, key: int, coding: dict[str, Any], text: str | None) -> None:
    display = text or coding.get("display")
    rows["idx_token"].append(
        (key, coding.get("system"), coding.get("code"), fold(display) if display else None)
    )


def token_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    ftype = ftype or shape_type(value)
    if isinstance(value, bool):
        rows["idx_token"].append((key, None, "true" if value else "false", None))
    elif isinstance(value, str):
        rows["idx_token"].append((key, None, value, None))
    elif not isinstance(value, dict):
        return
    elif ftype == "CodeableConcept":
        text = value.get("text")
        codings = value.get("coding") or ()
        for coding in codings:
            _coding(rows, key, coding, text)
        if text and not codings:
            rows["idx_token"].append((key, None, None, fold(text)))
    elif ftype == "Identifier":
        _identifier(rows, key, value)
    elif ftype == "ContactPoint":
        rows["idx_token"].append((key, value.get("system"), value.get("value"), None))
    elif "code" in value or "system" in value:
        _coding(rows, key, value, None)


def _identifier(rows: Rows, key: int, ident: dict[str, Any]) -> None:
    itype = ident.get("type") or {}
    text = itype.get("text")
    rows["idx_token"].append(
        (key, ident.get("system"), ident.get("value"), fold(text) if text else None)
    )
    value = ident.get("value")
    if value is None:
        return
    # :of-type (search.html#token): type system|code|value, kept under a sibling key
    of_type = of_type_key(key)
    for coding in itype.get("coding") or ():
        rows["idx_token"].append(
            (of_type, coding.get("system"), f"{coding.get('code')}|{value}", None)
        )


def of_type_key(key: int) -> int:
    return param_key(str(key), ":of-type")


def identifier_key(key: int) -> int:
    return param_key(str(key), ":identifier")


def _range_of(value: Any, ftype: str | None) -> tuple[int, int] | None:
    if isinstance(value, str):
        try:
            return date_range(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    if ftype == "Timing" or "event" in value or "repeat" in value:
        spans = [r for e in value.get("event", ()) if (r := _range_of(e, "dateTime"))]
        bounds = (value.get("repeat") or {}).get("boundsPeriod")
        if bounds and (r := _range_of(bounds, "Period")):
            spans.append(r)
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
    start, end = value.get("start"), value.get("end")
    if start is None and end is None:
        return None
    low = _range_of(start, None) if start else None
    high = _range_of(end, None) if end else None
    return (low[0] if low else MIN_TIME, high[1] if high else MAX_TIME)


def date_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    r = _range_of(value, ftype)
    if r:
        rows["idx_date"].append((key, r[0], r[1]))


def _decimal(value: Any) -> tuple[float, float, float] | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return decimal_range(str(value))
    except ValueError:
        return None


def number_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    if isinstance(value, dict):
        value = value.get("value")
    if (r := _decimal(value)) is not None:
        rows["idx_number"].append((key, *r))


def quantity_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    if not isinstance(value, dict):
        return
    ftype = ftype or shape_type(value)
    if ftype == "Range":
        # a Range row has no point value: [low, high] with open ends at ±1e300
        low = _decimal((value.get("low") or {}).get("value"))
        high = _decimal((value.get("high") or {}).get("value"))
        if low or high:
            unit = value.get("low") or value.get("high") or {}
            lo = low[0] if low else -OPEN_NUMBER
            hi = high[0] if high else OPEN_NUMBER
            code = unit.get("code") or unit.get("unit")
            rows["idx_quantity"].append((key, unit.get("system"), code, None, lo, hi))
        return
    r = _decimal(value.get("value"))
    if r is None:
        return
    if ftype == "Money":
        rows["idx_quantity"].append((key, _ISO4217, value.get("currency"), *r))
        return
    code, unit = value.get("code"), value.get("unit")
    rows["idx_quantity"].append((key, value.get("system"), code or unit, *r))
    if code and unit and unit != code:
        rows["idx_quantity"].append((key, None, unit, *r))


def parse_reference(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(type, id, version, url) of a literal reference or canonical."""
    if text.startswith(("urn:", "#")):
        return None, None, None, text
    version = None
    if "|" in text:
        text, version = text.split("|", 1)
    if "/_history/" in text:
        text, version = text.split("/_history/", 1)
    segs = text.rstrip("/").split("/")
    rtype = rid = None
    if len(segs) >= 2 and segs[-2] in resource_types():
        rtype, rid = segs[-2], segs[-1]
    url = text if "://" in text else None
    return rtype, rid, version, url


def reference_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    if isinstance(value, str):
        rows["idx_reference"].append((key, *parse_reference(value)))
        return
    if not isinstance(value, dict):
        return
    if "resourceType" in value:
        rows["idx_reference"].append((key, value["resourceType"], value.get("id"), None, None))
        return
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        rtype, rid, version, url = parse_reference(ref)
        rows["idx_reference"].append((key, rtype or value.get("type"), rid, version, url))
    ident = value.get("identifier")
    if isinstance(ident, dict):
        itoken = identifier_key(key)
        rows["idx_token"].append((itoken, ident.get("system"), ident.get("value"), None))


def uri_rows(rows: Rows, key: int, value: Any, ftype: str | None) -> None:
    if isinstance(value, str):
        rows["idx_uri"].append((key, value))


CONVERTERS: dict[str, Converter] = {
    "string": string_rows,
    "token": token_rows,
    "date": date_rows,
    "number": number_rows,
    "quantity": quantity_rows,
    "reference": reference_rows,
    "uri": uri_rows,
}
