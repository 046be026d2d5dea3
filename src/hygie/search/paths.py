"""FHIRPath expressions of SearchParameters compiled once into direct path walkers.

The shapes the official parameters use (`A.b.c`, unions, `(A.b as T)`, `.as(T)`, `.ofType(T)`,
`.where(resolve() is T)`, `.where(x='lit')`, `.extension('url')`) become a list of steps
resolved against the StructureDefinitions at compile time, so a walk is a few dict look-ups and
every value comes out with its FHIR type. Anything else is compiled once by fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from hygie.search._model import children, code_system, is_known_type, max_one

# A walked value: (JSON value, FHIR type name or None when unknown)
Item = tuple[Any, str | None]
Walker = Callable[[dict[str, Any]], list[Item]]

_QUANTITY_KINDS = {"Quantity", "Age", "Distance", "Duration", "Count", "SimpleQuantity", "Money"}
_RESOURCE_ROOTS = {"Resource", "DomainResource"}

_FIELD = re.compile(r"[A-Za-z_]\w*")
_AS = re.compile(r"(?:as|ofType)\((\w+)\)")
_RESOLVE_IS = re.compile(r"where\(resolve\(\) is (\w+)\)")
_WHERE_EQ = re.compile(r"where\((\w+)\s*=\s*'([^']*)'\)")
_EXTENSION = re.compile(r"extension\('([^']*)'\)")
_PAREN_AS = re.compile(r"\((.+) as (\w+)\)(?:\.(.+))?")
_EXISTS_NOT_FALSE = re.compile(r"([\w.]+)\.exists\(\) and \1 != false")


class Unsupported(ValueError):
    """The expression is outside the shapes the fast walker compiles."""


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def root_of(part: str) -> str:
    m = _FIELD.match(part.lstrip("("))
    return m.group(0) if m else ""


def parts_for(expression: str, rtype: str) -> list[str]:
    """The union members of `expression` that apply to resources of type `rtype`."""
    parts = [p if root_of(p)[:1].isupper() else f"{rtype}.{p}" for p in split_top(expression, "|")]
    return [p for p in parts if root_of(p) in (rtype, *_RESOURCE_ROOTS)]


# Steps: each maps a list of (value, type, context) to the next list ------------------------
State = list[tuple[Any, str | None, str]]


Options = dict[str, tuple[tuple[str, str, str], ...]]


def _field_step(options: Options, systems: dict[tuple[str, str], str]) -> Callable[[State], State]:
    def step(items: State) -> State:
        out: State = []
        for value, _t, ctx in items:
            if not isinstance(value, dict):
                continue
            for key, ftype, nctx in options.get(ctx, ()):
                v = value.get(key)
                if v is None:
                    continue
                vs = v if isinstance(v, list) else (v,)
                system = systems.get((ctx, key)) if systems else None
                if system is not None:
                    # a bound `code` is a Coding of its value set's system
                    out.extend(
                        ({"system": system, "code": x}, "Coding", "Coding")
                        if isinstance(x, str)
                        else (x, ftype, nctx)
                        for x in vs
                    )
                else:
                    out.extend((x, ftype, nctx) for x in vs)
        return out

    return step


def _type_step(tname: str) -> Callable[[State], State]:
    accepted = _QUANTITY_KINDS if tname == "Quantity" else {tname}
    return lambda items: [it for it in items if it[1] in accepted]


def _resolve_is_step(tname: str) -> Callable[[State], State]:
    def step(items: State) -> State:
        return [it for it in items if isinstance(it[0], dict) and reference_type(it[0]) == tname]

    return step


def _where_eq_step(field: str, literal: str) -> Callable[[State], State]:
    return lambda items: [
        it for it in items if isinstance(it[0], dict) and it[0].get(field) == literal
    ]


def _extension_step(url: str) -> Callable[[State], State]:
    def step(items: State) -> State:
        out: State = []
        for value, _t, _c in items:
            if isinstance(value, dict):
                for ext in value.get("extension", ()):
                    if ext.get("url") == url:
                        out.append((ext, "Extension", "Extension"))
        return out

    return step


def reference_type(ref: dict[str, Any]) -> str | None:
    """The target type of a Reference: from `reference` (relative or absolute) or `type`."""
    text = ref.get("reference")
    if isinstance(text, str) and "/" in text and not text.startswith(("#", "urn:")):
        segs = text.split("/_history/")[0].rstrip("/").split("/")
        if len(segs) >= 2:
            return segs[-2]
    return ref.get("type")


def _type_name(name: str) -> str:
    """`as(DateTime)`, `as(string)`: FHIRPath type names as the StructureDefinitions spell them."""
    if is_known_type(name):
        return name
    lowered = name[0].lower() + name[1:]
    return lowered if is_known_type(lowered) else name


def field_options(seg: str, contexts: Iterable[str]) -> tuple[Options, dict[tuple[str, str], str]]:
    """The child elements named `seg` of each context type, and the code systems implied by
    the required bindings of those that are `code`s."""
    options = {c: o for c in contexts if (o := children(c, seg))}
    if not options:
        raise Unsupported(f"unknown element {seg!r} in {sorted(contexts)}")
    systems = {
        (c, key): sys_
        for c, opts in options.items()
        for key, ftype, _n in opts
        if ftype == "code" and (sys_ := code_system(c, key))
    }
    return options, systems


def _compile_steps(segments: list[str], contexts: set[str]) -> tuple[list, set[str]]:
    steps = []
    for seg in segments:
        if m := _AS.fullmatch(seg):
            tname = _type_name(m.group(1))
            steps.append(_type_step(tname))
            contexts = {tname} if is_known_type(tname) else contexts
        elif m := _RESOLVE_IS.fullmatch(seg):
            steps.append(_resolve_is_step(m.group(1)))
        elif m := _WHERE_EQ.fullmatch(seg):
            steps.append(_where_eq_step(m.group(1), m.group(2)))
        elif m := _EXTENSION.fullmatch(seg):
            steps.append(_extension_step(m.group(1)))
            contexts = {"Extension"}
        elif _FIELD.fullmatch(seg):
            options, systems = field_options(seg, contexts)
            steps.append(_field_step(options, systems))
            contexts = {nctx for opts in options.values() for _k, _t, nctx in opts}
        else:
            raise Unsupported(seg)
    return steps, contexts


def _run(steps: list, items: State) -> State:
    for step in steps:
        items = step(items)
        if not items:
            return []
    return items


def compile_elements(part: str, rtype: str) -> tuple[Callable[[dict[str, Any]], State], set[str]]:
    """A walker giving (value, type, context) of one union member, and its possible contexts."""
    tail: list[str] = []
    if m := _PAREN_AS.fullmatch(part):
        inner, tname, rest = m.groups()
        segments = split_top(inner, ".") + [f"as({tname})"]
        tail = split_top(rest, ".") if rest else []
    else:
        segments = split_top(part, ".")
    steps, contexts = _compile_steps(segments[1:] + tail, {rtype})
    return (lambda resource: _run(steps, [(resource, rtype, rtype)])), contexts


def compile_relative(expression: str, contexts: set[str]) -> Callable[[State], list[Item]]:
    """A walker from already walked elements (a composite's components: `code`, `value`...)."""
    all_steps = [_compile_steps(split_top(p, "."), contexts)[0] for p in split_top(expression, "|")]

    def walk(items: State) -> list[Item]:
        return [(v, t) for steps in all_steps for v, t, _c in _run(steps, items)]

    return walk


def compile_part(part: str, rtype: str) -> Walker:
    """Compile one union member for resources of `rtype` (its root is `rtype` or Resource)."""
    if m := _EXISTS_NOT_FALSE.fullmatch(part):
        return _exists_not_false(compile_part(m.group(1), rtype))
    elements, _ = compile_elements(part, rtype)
    return lambda resource: [(v, t) for v, t, _c in elements(resource)]


def _exists_not_false(inner: Walker) -> Walker:
    # Patient.deceased: a boolean that is false when absent (FHIRPath `exists() and != false`)
    def walk(resource: dict[str, Any]) -> list[Item]:
        return [(any(v is not False for v, _t in inner(resource)), "boolean")]

    return walk


def _fallback(part: str, rtype: str) -> Walker:
    import fhirpathpy
    from fhirpathpy.models import models

    for root in _RESOURCE_ROOTS:
        if part.startswith(root + "."):
            part = rtype + part[len(root) :]
    fn = fhirpathpy.compile(part, models["r4"])

    def walk(resource: dict[str, Any]) -> list[Item]:
        try:
            return [(v, None) for v in fn(resource, {})]
        except Exception:  # a fallback failure must not block the write of valid data
            return []

    return walk


def compile_expression(expression: str, rtype: str) -> tuple[Walker | None, bool]:
    """A walker for the parts of `expression` applying to `rtype` (None if none apply) and
    whether every part took the fast path."""
    walkers: list[Walker] = []
    fast = True
    for part in parts_for(expression, rtype):
        try:
            walkers.append(compile_part(part, rtype))
        except Unsupported:
            fast = False
            walkers.append(_fallback(part, rtype))
    if not walkers:
        return None, fast
    if len(walkers) == 1:
        return walkers[0], fast

    def union(resource: dict[str, Any]) -> list[Item]:
        out: list[Item] = []
        for w in walkers:
            out.extend(w(resource))
        return out

    return union, fast


def single_valued(expression: str, rtype: str) -> bool:
    """True when `expression` selects at most one value in a resource of `rtype`: one plain
    path (type filters allowed) through elements of max cardinality 1."""
    parts = parts_for(expression, rtype)
    if len(parts) != 1 or not parts[0].startswith(rtype + "."):
        return False
    part = parts[0]
    if m := _PAREN_AS.fullmatch(part):
        if m.group(3):
            return False
        part = m.group(1)
    context = rtype
    for seg in split_top(part, ".")[1:]:
        if _AS.fullmatch(seg):
            continue
        if not _FIELD.fullmatch(seg):
            return False
        options = children(context, seg)
        path = f"{context}.{seg}"
        if not options or not (max_one(path) or max_one(path + "[x]")):
            return False
        context = options[0][2]
        if len({o[2] for o in options}) > 1:
            return seg == split_top(part, ".")[-1]  # a choice element must end the path
    return True
