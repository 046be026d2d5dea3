"""Checks for the FHIR primitive datatypes, compiled once from the official definitions.

Each primitive's lexical rule comes from its StructureDefinition (`<type>.value` carries the
spec's regex in the `http://hl7.org/fhir/StructureDefinition/regex` type extension, `maxLength`
and `minValueInteger`/`maxValueInteger`); the JSON type (string, number, boolean) comes from the
official JSON schema (json.html: decimals and integers are JSON numbers, booleans JSON booleans).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from hygie.fhir.definitions import load, structure_definitions

REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"

# A check returns None when the value is valid, else (issue code, problem in English).
PrimitiveCheck = Callable[[Any], "tuple[str, str] | None"]

_JSON_NAMES = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def spec_regex(type_name: str) -> str | None:
    """The regex the spec gives for a primitive type's value, or None (xhtml has none)."""
    value = _value_element(type_name)
    for t in value.get("type", []):
        for ext in t.get("extension", []):
            if ext.get("url") == REGEX_EXT:
                return ext["valueString"]
    return None


def compile_spec_regex(type_name: str) -> re.Pattern[str] | None:
    """The spec regex compiled with Java/XSD semantics (`\\s` is ASCII whitespace only)."""
    rx = spec_regex(type_name)
    return re.compile(rx, re.ASCII) if rx is not None else None


@cache
def primitive_checks() -> dict[str, PrimitiveCheck]:
    """One check function per primitive type name (`string`, `date`, `positiveInt`, ...)."""
    schema = load("fhir.schema")["definitions"]
    out: dict[str, PrimitiveCheck] = {}
    for name, sd in structure_definitions().items():
        if sd.get("kind") != "primitive-type":
            continue
        json_type = schema.get(name, {}).get("type", "string")
        if json_type == "boolean":
            out[name] = _boolean_check(name)
        elif json_type == "number":
            out[name] = _number_check(name)
        else:
            out[name] = _string_check(name)
    return out


def _value_element(type_name: str) -> dict[str, Any]:
    sd = structure_definitions()[type_name]
    path = f"{type_name}.value"
    return next(e for e in sd["snapshot"]["element"] if e["path"] == path)


def _integer_bounds(type_name: str) -> tuple[int | None, int | None]:
    """minValueInteger/maxValueInteger of the value element or the element it derives from."""
    value = _value_element(type_name)
    base_path = value.get("base", {}).get("path", "")
    for element in (value, _value_element(base_path.split(".")[0]) if base_path else value):
        if "minValueInteger" in element or "maxValueInteger" in element:
            return element.get("minValueInteger"), element.get("maxValueInteger")
    return None, None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _wrong_json_type(value: Any, type_name: str, expected: str) -> tuple[str, str]:
    # A JSON object or array where a primitive belongs is a structural error; a scalar of the
    # wrong JSON type (e.g. "true" for a boolean) is a bad value.
    if value is None:
        return "structure", "null is not allowed here"
    if isinstance(value, dict | list):
        got = "an object" if isinstance(value, dict) else "an array"
        return "structure", f"a {type_name} must be {expected}, found {got}"
    got = _JSON_NAMES.get(type(value), type(value).__name__)
    return "value", f"a {type_name} must be {expected}, found {got} {_shown(value)}"


def _boolean_check(name: str) -> PrimitiveCheck:
    def check(value: Any) -> tuple[str, str] | None:
        if type(value) is bool:
            return None
        return _wrong_json_type(value, name, "a JSON boolean (true or false)")

    return check


def _number_check(name: str) -> PrimitiveCheck:
    pattern = compile_spec_regex(name)
    fullmatch = pattern.fullmatch if pattern is not None else None
    low, high = _integer_bounds(name)
    # The regex is about the lexical form. A parsed JSON float spells as "1.5" or "1e-05", which
    # the decimal regex always accepts and the integer ones never do: probe which case this is
    # once, instead of formatting every float.
    floats_ok = fullmatch is None or fullmatch("0.5") is not None

    def check(value: Any) -> tuple[str, str] | None:
        kind = type(value)
        if kind is float:
            if floats_ok and value - value == 0:  # finite: not NaN nor infinity
                return None
            return "value", f"{_shown(value)} is not a valid {name}"
        if kind is not int:
            return _wrong_json_type(value, name, "a JSON number")
        if fullmatch is not None and fullmatch(str(value)) is None:
            return "value", f"{_shown(value)} is not a valid {name}"
        if low is not None and value < low:
            return "value", f"{_shown(value)} is below the minimum {low} of {name}"
        if high is not None and value > high:
            return "value", f"{_shown(value)} is above the maximum {high} of {name}"
        return None

    return check


# The spec's base64Binary regex `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`: whitespace-separated quartets.
_QUARTETS = re.compile(r"\(\\s\*\((\[[^\]]+\])\)\{4\}\\s\*\)\+")


def _quartets_matcher(char_class: str) -> Callable[[str], bool]:
    """A regex of the `_QUARTETS` shape, in linear time: Python's re spends ~100 ns per quartet
    on it (half a second for a 4 MB attachment). The language is the same: runs of characters
    of the class, separated by whitespace, each a whole number of quartets."""
    only_class_or_space = re.compile(char_class[:-1] + r"\s]*", re.ASCII).fullmatch

    def match(value: str) -> bool:
        if not only_class_or_space(value):
            return False
        runs = value.split()  # exact here: the only whitespace left is ASCII
        return bool(runs) and all(len(run) % 4 == 0 for run in runs)

    return match


def _fullmatch(name: str) -> Callable[[str], Any] | None:
    rx = spec_regex(name)
    if rx is None:
        return None
    quartets = _QUARTETS.fullmatch(rx)
    return _quartets_matcher(quartets[1]) if quartets else re.compile(rx, re.ASCII).fullmatch


def _string_check(name: str) -> PrimitiveCheck:
    fullmatch = _fullmatch(name)
    max_length = _value_element(name).get("maxLength")

    def check(value: Any) -> tuple[str, str] | None:
        if type(value) is not str:
            return _wrong_json_type(value, name, "a JSON string")
        if not value:
            # json.html: "Empty strings are not allowed" (nor are empty objects or arrays).
            return "value", f"an empty string is not a valid {name}"
        if max_length is not None and len(value) > max_length:
            return "value", f"a {name} is limited to {max_length} characters"
        if fullmatch is not None and not fullmatch(value):
            return "value", f"{_shown(value)} is not a valid {name}"
        return None

    return check
