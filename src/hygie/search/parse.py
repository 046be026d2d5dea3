"""Search URL parameters -> SearchQuery (search.html), with 400 errors naming the parameter."""

from __future__ import annotations

import re

from hygie.fhir.definitions import resource_types
from hygie.fhir.outcome import FhirError
from hygie.search.normalize import date_range, decimal_range
from hygie.search.query import AnyOf, Chain, Has, Include, InList, Leaf, Node, SearchQuery
from hygie.search.registry import RESOURCE_COLUMNS, SearchParam, params_for

DEFAULT_COUNT = 20
MAX_COUNT = 1000
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "text", "of-type", "in", "not-in", "above", "below", "missing"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "reference": {"identifier", "missing"},  # plus :[Type]
    "uri": {"above", "below", "missing"},
    "composite": set(),
    "special": set(),
}
_CONTROLS = {"_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude"}
_CONTROLS |= {"_cursor", "_type", "_format", "_pretty"}
_SUMMARY = {"true", "false", "text", "data", "count"}
_ESCAPED = re.compile(r"\\(.)")


def bad(name: str, why: str) -> FhirError:
    return FhirError(400, f"Search parameter '{name}': {why}", "invalid", expression=name)


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on `sep` not preceded by a backslash escape; the parts stay escaped."""
    parts, buf, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _prefixed(name: str, raw: str) -> tuple[str, str]:
    head = raw[:2]
    if head.isalpha():
        if head not in PREFIXES:
            raise bad(name, f"unknown prefix '{head}' in '{raw}'")
        return head, raw[2:]
    return "eq", raw


def _value(name: str, p: SearchParam, modifier: str | None, raw: str) -> object:
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise bad(name, ":missing takes true or false")
        return raw == "true"
    kind = p.type
    try:
        if kind == "date":
            prefix, text = _prefixed(name, raw)
            return (prefix, *date_range(text))
        if kind in ("number", "quantity"):
            prefix, text = _prefixed(name, raw)
            num, *unit = split_escaped(text, "|")
            value = (prefix, *decimal_range(num))
            if kind == "number":
                if unit:
                    raise ValueError("a number has no unit")
                return value
            system, code = (unit + [None, None])[:2] if len(unit) > 1 else (None, *unit, None)[:2]
            return (*value, unescape(system) if system else None, unescape(code) if code else None)
    except ValueError as exc:
        raise bad(name, str(exc)) from None
    if kind == "special":
        from hygie.search.near import parse_near

        try:
            return parse_near(raw)
        except ValueError as exc:
            raise bad(name, str(exc)) from None
    if kind == "token" and modifier in ("in", "not-in"):
        return unescape(raw)
    if kind == "token" and modifier not in ("text",):
        parts = [unescape(x) for x in split_escaped(raw, "|")]
        if modifier == "of-type":
            if len(parts) != 3:
                raise bad(name, ":of-type takes system|code|value")
            return tuple(parts)
        if len(parts) == 1:
            return (None, parts[0])
        if len(parts) != 2:
            raise bad(name, f"too many '|' in '{raw}'")
        return (parts[0], parts[1] or None)
    if kind == "reference" and modifier == "identifier":
        parts = [unescape(x) for x in split_escaped(raw, "|")]
        return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    return unescape(raw)


def _leaf(name: str, params: list[SearchParam], modifier: str | None, raw: str) -> Leaf:
    p = params[0]
    allowed = {"_id": (None, "missing", "not"), "_lastUpdated": (None, "missing")}
    if p.code in RESOURCE_COLUMNS and modifier not in allowed[p.code]:
        raise bad(name, f"modifier ':{modifier}' is not supported for {p.code}")
    if modifier and modifier not in MODIFIERS[p.type]:
        if not (p.type == "reference" and modifier in resource_types()):
            raise bad(name, f"modifier ':{modifier}' is not supported for a {p.type} parameter")
    if raw == "":
        raise bad(name, "empty value")
    if p.type == "composite" and modifier != "missing":
        return _composite(name, params, raw)
    values = [_value(name, p, modifier, v) for v in split_escaped(raw, ",")]
    if p.type == "string" and modifier != "missing" and not all(values):
        raise bad(name, "empty value")
    return Leaf(params, modifier, values)


def _composite(name: str, params: list[SearchParam], raw: str) -> AnyOf:
    """`a$b,c$d`: each value is the token discriminator of the first component and a value of
    the second, searched under the derived key (see composite.py)."""
    from dataclasses import replace

    from hygie.search.composite import composite_key, query_discriminator

    nodes: list[Node] = []
    for item in split_escaped(raw, ","):
        parts = split_escaped(item, "$")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise bad(name, f"expected two components separated by '$', got '{item}'")
        first = _value(name, replace(params[0], type="token"), None, parts[0])
        system, code = first  # type: ignore[misc]
        if code is None:
            raise bad(name, "the first component needs a code")
        disc = query_discriminator(system, code)
        subs = [
            replace(p, type=p.sub_type, key=composite_key(p.key, disc), walker=None) for p in params
        ]
        nodes.append(Leaf(subs, None, [_value(name, subs[0], None, parts[1])]))
    return AnyOf(nodes)


def _lookup(name: str, types: list[str], code: str, strict: bool) -> list[SearchParam] | None:
    found = [p for t in types if (p := params_for(t).get(code)) is not None]
    if not found or (len(types) > 1 and len(found) != len(types)):
        if strict:
            where = types[0] if len(types) == 1 else "every searched type"
            raise bad(name, f"unknown or unsupported parameter for {where}")
        return None
    return found


def _node(name: str, types: list[str], raw: str, strict: bool) -> Node | None:
    """Build the condition for `name=raw` (name may chain with '.' or use `_has`)."""
    if name.startswith("_has:"):
        return _has(name, name[5:], types, raw, strict)
    if name == "_list":
        ids = [unescape(v) for v in split_escaped(raw, ",")]
        if not all(ids) or any(i.startswith("$") for i in ids):
            raise bad(
                name, "expected the ids of List resources (functional lists are not supported)"
            )
        return InList(ids)
    head, dot, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    params = _lookup(name, types, code, strict)
    if params is None:
        return None
    if not dot:
        return _leaf(name, params, modifier or None, raw)
    if params[0].type != "reference":
        raise bad(name, "only reference parameters can be chained")
    targets = [modifier] if modifier else sorted({t for p in params for t in p.targets})
    if modifier and modifier not in resource_types():
        raise bad(name, f"unknown resource type '{modifier}' in chain")
    inner_code = rest.partition(".")[0].partition(":")[0]
    targets = [t for t in targets if inner_code in params_for(t) or inner_code.startswith("_has")]
    if not targets:
        raise bad(name, f"no target type of '{code}' has the parameter '{inner_code}'")
    return Chain(params, targets, _node_from(rest, targets, raw, name))


def _node_from(rest: str, types: list[str], raw: str, full: str) -> Node:
    try:
        node = _node(rest, types, raw, True)
    except FhirError as exc:
        raise bad(full, str(exc).split("': ", 1)[-1]) from None
    assert node is not None
    return node


def _has(name: str, spec: str, types: list[str], raw: str, strict: bool) -> Node | None:
    source, _, remainder = spec.partition(":")
    ref_code, _, inner_name = remainder.partition(":")
    if source not in resource_types() or not ref_code or not inner_name:
        raise bad(name, "expected _has:Type:reference:parameter")
    ref = params_for(source).get(ref_code)
    if ref is None or ref.type != "reference":
        raise bad(name, f"'{ref_code}' is not a reference parameter of {source}")
    return Has(source, ref, _node_from(inner_name, [source], raw, name))


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise bad("_count", f"'{raw}' is not a non-negative integer")
    return min(int(raw), MAX_COUNT)


def _sort(raw: str, types: list[str]) -> list[tuple[str, bool]]:
    keys = []
    for item in raw.split(","):
        desc = item.startswith("-")
        code = item[1:] if desc else item
        found = _lookup("_sort", types, code, True) if code else None
        if not found or found[0].type in ("composite", "special"):
            raise bad("_sort", f"cannot sort on '{code}'")
        keys.append((code, desc))
    return keys


def _include(name: str, raw: str, modifier: str, types: list[str]) -> Include:
    if modifier not in ("", "iterate", "recurse"):
        raise bad(name, f"modifier ':{modifier}' is not supported")
    reverse = name == "_revinclude"
    if raw == "*":
        return Include("*", None, None, bool(modifier), reverse)
    parts = raw.split(":")
    if len(parts) not in (2, 3) or parts[0] not in resource_types():
        raise bad(name, f"expected Type:parameter[:TargetType] or *, got '{raw}'")
    param = params_for(parts[0]).get(parts[1])
    if param is None or param.type != "reference":
        raise bad(name, f"'{parts[1]}' is not a reference parameter of {parts[0]}")
    target = parts[2] if len(parts) == 3 else None
    if target is not None and target not in resource_types():
        raise bad(name, f"unknown resource type '{target}'")
    if not modifier and not reverse and parts[0] not in types:
        raise bad(name, f"{parts[0]} is not a searched type")
    return Include(parts[0], param, target, bool(modifier), reverse)


def _types(rtype: str | None, params: list[tuple[str, str]]) -> list[str]:
    if rtype is not None:
        if rtype not in resource_types():
            raise FhirError(404, f"Unknown resource type '{rtype}'", "not-found")
        return [rtype]
    listed = [t for n, v in params if n == "_type" for t in v.split(",") if t]
    for t in listed:
        if t not in resource_types():
            raise bad("_type", f"unknown resource type '{t}'")
    return sorted(set(listed)) or sorted(resource_types())


def parse(rtype: str | None, params: list[tuple[str, str]], *, strict: bool = True) -> SearchQuery:
    """Parse URL parameters; raise FhirError(400) naming the culprit (strict mode)."""
    types = _types(rtype, params)
    q = SearchQuery(rtype, types, count=DEFAULT_COUNT)
    for name, raw in params:
        base, _, modifier = name.partition(":")
        if base in _CONTROLS:
            _control(q, name, base, modifier, raw)
        else:
            node = _node(name, types, raw, strict)
            if node is None:
                continue
            q.conditions.append(node)
        if base not in ("_cursor", "_format", "_pretty"):
            q.applied.append((name, raw))
    q.conditions = merge_dates(q.conditions)
    return q


def merge_dates(nodes: list[Node]) -> list[Node]:
    """`date=ge…&date=lt…` on a single-valued parameter: both bounds hold on the one value, so
    they are tested on the same index row, which bounds the index range on both sides."""
    out: list[Node] = []
    merged: dict[str, Leaf] = {}
    for node in nodes:
        if (
            isinstance(node, Leaf)
            and node.type == "date"
            and node.modifier is None
            and len(node.params) == 1
            and node.params[0].single
            and len(node.values) == 1
            and node.values[0][0] != "ap"
        ):
            first = merged.get(node.code)
            if first is None:
                merged[node.code] = node
                out.append(node)
            else:
                first.modifier = "all"
                first.values.append(node.values[0])
            continue
        out.append(node)
    return out


def _control(q: SearchQuery, name: str, base: str, modifier: str, raw: str) -> None:
    if base == "_count":
        q.count = _count(raw)
    elif base == "_sort":
        q.sort = _sort(raw, q.types)
    elif base == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise bad(name, "expected none, estimate or accurate")
        q.total = raw
    elif base == "_summary":
        if raw not in _SUMMARY:
            raise bad(name, f"expected one of {', '.join(sorted(_SUMMARY))}")
        q.summary = raw
    elif base == "_elements":
        q.elements = [e.strip() for e in raw.split(",") if e.strip()]
    elif base in ("_include", "_revinclude"):
        q.includes.append(_include(base, raw, modifier, q.types))
    elif base == "_cursor":
        q.cursor = raw
