"""Index extraction compiled to one Python function per resource type.

`index.extract_reference` runs, per search parameter, a chain of step closures (paths.py) and
then a converter (values.py). This module turns the same plan (`index._plan`) into the source
of ONE function per resource type, `compile()`d once and cached, that walks the resource once:

* the FHIRPath steps of every parameter are merged into a trie, so a shared prefix
  (`Observation.subject`, `Observation.code`, `Observation.component`...) is walked once;
* each step is inlined (`dict.get`, list-or-scalar loop, isinstance checks), with the element
  types known at compile time: `as(T)` / `ofType(T)` filters disappear from the code, and the
  converters are called with their static FHIR type (specialised ones where values.py's
  dispatch on the type can be resolved statically, see `fastvalues.py`);
* composites walk their components from the element just reached, the first component
  (and its discriminators) computed once for all composites sharing it.

Anything outside these shapes (fhirpathpy fallbacks, composites not from the official
definitions, parameters the `_present` pre-filter of the reference could skip differently)
runs its reference walker and converter, from inside the generated function, exactly as
`extract_reference` does. The output is the reference's, row for row (per table, after the
same de-duplication); tests/search/test_extract_fast.py checks it on demo and random data.

The cache follows `index._plan`: a new plan object (custom SearchParameters changed, see
`registry.custom_changed`) regenerates the function on next use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hygie.search import fastvalues as fv
from hygie.search._model import is_known_type
from hygie.search.paths import (
    _AS,
    _EXISTS_NOT_FALSE,
    _EXTENSION,
    _FIELD,
    _PAREN_AS,
    _QUANTITY_KINDS,
    _RESOLVE_IS,
    _WHERE_EQ,
    Unsupported,
    _type_name,
    field_options,
    parts_for,
    split_top,
)
from hygie.search.values import CONVERTERS, Rows

Extractor = Callable[[dict[str, Any]], Rows]
log = logging.getLogger("hygie.search")
_CHOICE_KEY = re.compile(r"([a-z][A-Za-z0-9]*?)[A-Z]")  # as index._present


# The plan as data -------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A trie node: the items reached by a path of steps from the resource (or an element)."""

    step: tuple[Any, ...] | None  # how this node is reached from its parent (None: root)
    contexts: frozenset[str]  # the static context set paths.py has after these steps
    children: dict[str, Node] = field(default_factory=dict)
    actions: list[tuple[Any, ...]] = field(default_factory=list)


def _compile_seg(seg: str, contexts: frozenset[str]) -> tuple[tuple[Any, ...], frozenset[str]]:
    """One step, as paths._compile_steps compiles it (same context sets, same Unsupported)."""
    if m := _AS.fullmatch(seg):
        tname = _type_name(m.group(1))
        accepted = _QUANTITY_KINDS if tname == "Quantity" else {tname}
        return ("type", frozenset(accepted)), (
            frozenset({tname}) if is_known_type(tname) else contexts
        )
    if m := _RESOLVE_IS.fullmatch(seg):
        return ("resolve", m.group(1)), contexts
    if m := _WHERE_EQ.fullmatch(seg):
        return ("where", m.group(1), m.group(2)), contexts
    if m := _EXTENSION.fullmatch(seg):
        return ("ext", m.group(1)), frozenset({"Extension"})
    if _FIELD.fullmatch(seg):
        options, systems = field_options(seg, contexts)
        nctxs = frozenset(nctx for opts in options.values() for _k, _t, nctx in opts)
        return ("field", seg, options, systems), nctxs
    raise Unsupported(seg)


def _insert(root: Node, segments: list[str]) -> Node:
    node = root
    for seg in segments:
        child = node.children.get(seg)
        if child is None:
            step, contexts = _compile_seg(seg, node.contexts)
            child = node.children[seg] = Node(step, contexts)
        node = child
    return node


def _element_segments(part: str) -> list[str]:
    """The steps after the root of a union member (as paths.compile_elements splits it)."""
    if m := _PAREN_AS.fullmatch(part):
        inner, tname, rest = m.groups()
        segments = split_top(inner, ".") + [f"as({tname})"]
        tail = split_top(rest, ".") if rest else []
    else:
        segments, tail = split_top(part, "."), []
    return segments[1:] + tail


def _first_keys(root: Node, segments: list[str]) -> list[str] | None:
    """The JSON keys the first step of a path reads on the resource (None: not a field/ext)."""
    if not segments:
        return None
    step = root.children[segments[0]].step
    assert step is not None
    if step[0] == "field":
        return [key for opts in step[2].values() for key, _t, _n in opts]
    if step[0] == "ext":
        return ["extension"]
    return None


def _skip_is_neutral(root: Node, paths: list[list[str]], fields: frozenset[str] | None) -> bool:
    """Whether the reference's `_present` pre-filter never skips a parameter whose walk
    finds something: then walking it unconditionally gives the same rows."""
    if fields is None:
        return True
    for segments in paths:
        keys = _first_keys(root, segments)
        if keys is None:
            return False
        for k in keys:
            m = _CHOICE_KEY.match(k)
            if k not in fields and not (m and m.group(1) in fields):
                return False
    return True


# Code generation ---------------------------------------------------------------------------


class _Gen:
    def __init__(self, rtype: str) -> None:
        self.rtype = rtype
        self.ns: dict[str, Any] = {
            "isinstance": isinstance,
            "dict": dict,
            "list": list,
            "str": str,
            "len": len,
            "reference_type": fv.reference_type,
            "_compart": _compart,
            "_discs": fv.discriminators_of,
            "_ckey": fv.composite_key,
        }
        self.n = 0
        self.consts: dict[int, str] = {}
        self.firsts: dict[tuple[int, str, str], str] = {}
        self.coded: dict[str, tuple[str, str]] = {}  # Coding made of a bound code: (system, code)

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any, prefix: str = "K") -> str:
        """A name in the function's globals bound to `value` (functions, sets...)."""
        name = self.consts.get(id(value))
        if name is None:
            name = self.consts[id(value)] = self.var(prefix)
            self.ns[name] = value
        return name

    # a subtree -> lines (relative indentation: each line is (depth, text))
    def node(self, node: Node, var: str, ftype: str, ctx: str, emit: Callable) -> list:
        out: list = []
        # conversions of this value for several parameters: its rows' tails computed once
        # (converters touching one table only, so never `refs`: no compartments to scan)
        tails: dict[tuple[str, str], list[int]] = {}
        for action in node.actions:
            if action[0] == "emit":
                call = fv.tails_call(self, action[1].convert, var, ftype)
                if call is not None:
                    tails.setdefault(call, []).append(action[1].key)
                    continue
            out += emit(action, node, var, ftype, ctx)
        for (alias, expr), keys in tails.items():
            coded = self.coded.get(var)
            if coded is not None and alias == "toks":
                out += [(0, f"toks.append(({k!r}, {coded[0]!r}, {coded[1]}, None))") for k in keys]
                continue
            tl = self.var("tl")
            out += [(0, f"for {tl} in {expr}:")]
            out += [(1, f"{alias}.append(({k!r},) + {tl})") for k in keys]
        needs_dict: list = []
        for child in node.children.values():
            step = child.step
            assert step is not None
            kind = step[0]
            if kind == "type":
                if ftype in step[1]:
                    out += self.node(child, var, ftype, ctx, emit)
            elif kind == "field":
                for key, t, nctx in step[2].get(ctx, ()):
                    v, x = self.var("v"), self.var("x")
                    system = step[3].get((ctx, key))
                    if system is not None:
                        c = self.var("c")
                        self.coded[c] = (system, x)
                        coded = self.node(child, c, "Coding", "Coding", emit)
                        plain = self.node(child, x, t, nctx, emit)
                        if not coded and not plain:
                            continue
                        body = [(0, f"if isinstance({x}, str):")]
                        if any(re.search(rf"\b{c}\b", text) for _d, text in coded):
                            body += [(1, f"{c} = {{'system': {system!r}, 'code': {x}}}")]
                        body += _indent(coded or [(0, "pass")], 1)
                        if plain:
                            body += [(0, "else:")] + _indent(plain, 1)
                    else:
                        body = self.node(child, x, t, nctx, emit)
                        if not body:
                            continue
                    needs_dict += [
                        (0, f"{v} = {var}.get({key!r})"),
                        (0, f"if {v} is not None:"),
                        (1, f"for {x} in ({v} if isinstance({v}, list) else ({v},)):"),
                        *_indent(body, 2),
                    ]
            elif kind == "resolve":
                body = self.node(child, var, ftype, ctx, emit)
                if body:
                    needs_dict += [(0, f"if reference_type({var}) == {step[1]!r}:")]
                    needs_dict += _indent(body, 1)
            elif kind == "where":
                body = self.node(child, var, ftype, ctx, emit)
                if body:
                    needs_dict += [(0, f"if {var}.get({step[1]!r}) == {step[2]!r}:")]
                    needs_dict += _indent(body, 1)
            elif kind == "ext":
                e = self.var("e")
                body = self.node(child, e, "Extension", "Extension", emit)
                if body:
                    needs_dict += [
                        (0, f"for {e} in {var}.get('extension', ()):"),
                        (1, f"if {e}.get('url') == {step[1]!r}:"),
                        *_indent(body, 2),
                    ]
            else:  # pragma: no cover
                raise AssertionError(kind)
        if needs_dict:
            out += [(0, f"if isinstance({var}, dict):"), *_indent(needs_dict, 1)]
        return out


def _indent(lines: list, by: int) -> list:
    return [(d + by, text) for d, text in lines]


def _compart(refs: list, start: int, comps: frozenset[str], compartment: list) -> None:
    for _k, ttype, tid, _v, _u in refs[start:]:
        if ttype in comps and tid:
            compartment.append((ttype, tid))


def _run_entry(
    rows: Rows, resource: dict[str, Any], walker: Any, convert: Any, key: int, comps: frozenset[str]
) -> None:
    """One parameter the reference way (its walker, its converter, its compartments)."""
    values = walker(resource)
    if not values:
        return
    references = rows["idx_reference"]
    start = len(references)
    for value, ftype in values:
        convert(rows, key, value, ftype)
    if comps:
        _compart(references, start, comps, rows["compartment"])


@dataclass(slots=True)
class _Simple:
    key: int
    convert: Any
    comps: frozenset[str]


@dataclass(slots=True)
class _Composite:
    key: int
    convert: Any  # the converter of the second component's type
    comps: frozenset[str]
    first: str
    second: str


def _official_composite(p: Any) -> dict[str, Any] | None:
    from hygie.search.composite import SECOND_TYPES, _official_by_url, component_types

    sp = _official_by_url().get(p.url)
    if sp is None or (sp.get("expression") or "") != p.expression:
        return None
    types = component_types(sp)
    comps = sp.get("component", ())
    if (
        not types
        or len(types) != 2
        or types[0] != "token"
        or types[1] not in SECOND_TYPES
        or types[1] != p.sub_type
        or len(comps) != 2
    ):
        return None
    return sp


def generate(rtype: str, plan: tuple[tuple[Any, ...], ...]) -> tuple[Extractor, str]:
    """The extractor of `rtype` for `plan` (index._plan's entries) and its source."""
    from hygie.search.index import _TABLES, _present, _self_compartments
    from hygie.search.registry import params_for

    by_walker = {id(p.walker): p for p in params_for(rtype).values() if p.walker is not None}
    gen = _Gen(rtype)
    root = Node(None, frozenset({rtype}))
    fallbacks: list[tuple[Any, ...]] = []
    flags: list[tuple[str, _Simple]] = []

    for entry in plan:
        key, walker, convert, comps, fields = entry
        p = by_walker.get(id(walker))
        try:
            if p is None or p.key != key or not p.fast:
                raise Unsupported("not a compiled parameter")
            if p.type == "composite":
                sp = _official_composite(p)
                if sp is None:
                    raise Unsupported("composite")
                second = CONVERTERS[p.sub_type]  # type: ignore[index]
                c1, c2 = (c.get("expression", "") for c in sp["component"])
                paths = [_element_segments(part) for part in parts_for(p.expression, rtype)]
                nodes = [_insert(root, segs) for segs in paths]
                for node in nodes:  # compile the components now: Unsupported -> fallback
                    for expr in (c1, c2):
                        for rel in split_top(expr, "|"):
                            _insert(Node(None, node.contexts), split_top(rel, "."))
                if not _skip_is_neutral(root, paths, fields):
                    raise Unsupported("pre-filter")
                action = _Composite(key, second, comps, c1, c2)
                for node in nodes:
                    node.actions.append(("composite", action))
                continue
            if convert is not CONVERTERS.get(p.type) and p.type != "special":
                raise Unsupported("converter")
            actions: list[tuple[Node, tuple[Any, ...]]] = []
            new_flags: list[tuple[str, _Simple]] = []
            paths = []
            for part in parts_for(p.expression, rtype):
                simple = _Simple(key, convert, comps)
                if m := _EXISTS_NOT_FALSE.fullmatch(part):
                    if _EXISTS_NOT_FALSE.fullmatch(m.group(1)):
                        raise Unsupported("nested exists")
                    flag = gen.var("flag")
                    new_flags.append((flag, simple))
                    actions.append((_insert(root, _element_segments(m.group(1))), ("flag", flag)))
                else:
                    segs = _element_segments(part)
                    paths.append(segs)
                    actions.append((_insert(root, segs), ("emit", simple)))
            if not _skip_is_neutral(root, paths, fields) or (new_flags and fields is not None):
                raise Unsupported("pre-filter")
            for node, action in actions:
                node.actions.append(action)
            flags += new_flags
        except Unsupported:
            fallbacks.append(entry)

    def emit(action: tuple[Any, ...], node: Node, var: str, ftype: str, ctx: str) -> list:
        kind = action[0]
        if kind == "flag":
            return [(0, f"if {var} is not False:"), (1, f"{action[1]} = True")]
        if kind == "collect":
            return [(0, f"{action[1]}.append(({var}, {ftype!r}))")]
        if kind == "emit":
            a: _Simple = action[1]
            return _convert(gen, a.convert, a.key, var, ftype, a.comps)
        if kind == "composite":
            return _composite_lines(gen, node, var, ftype, ctx, action[1], emit)
        if kind == "second":
            c: _Composite = action[1]
            first = action[2]
            d, k = gen.var("d"), gen.var("k")
            call = fv.tails_call(gen, c.convert, var, ftype)
            if call is not None:  # the rows' tails once, keyed by each discriminator
                alias, expr = call
                pl, tl = gen.var("pl"), gen.var("tl")
                return [
                    (0, f"{pl} = {expr}"),
                    (0, f"if {pl}:"),
                    (1, f"if {first}_d is None:"),
                    (2, f"{first}_d = _discs({first})"),
                    (1, f"for {d} in {first}_d:"),
                    (2, f"{k} = _ckey({c.key!r}, {d})"),
                    (2, f"for {tl} in {pl}:"),
                    (3, f"{alias}.append(({k},) + {tl})"),
                ]
            return [
                (0, f"if {first}_d is None:"),
                (1, f"{first}_d = _discs({first})"),
                (0, f"for {d} in {first}_d:"),
                (1, f"{k} = _ckey({c.key!r}, {d})"),
                *_indent(_convert(gen, c.convert, k, var, ftype, c.comps), 1),
            ]
        raise AssertionError(kind)  # pragma: no cover

    body = gen.node(root, "resource", rtype, rtype, emit)
    name = "extract_" + re.sub(r"\W", "_", rtype)
    lines = [(0, f"def {name}(resource):")]
    tables = ", ".join(f"{t!r}: []" for t in _TABLES)
    lines += [(1, f"rows = {{{tables}}}")]
    for t, alias in fv.ROW_ALIASES.items():
        if t in _TABLES:
            lines += [(1, f"{alias} = rows[{t!r}]")]
    for flag, _a in flags:
        lines += [(1, f"{flag} = False")]
    lines += _indent(body, 1)
    for flag, a in flags:
        lines += _indent(_convert(gen, a.convert, a.key, flag, "boolean", a.comps), 1)
    if fallbacks:
        gen.ns["_run_entry"] = _run_entry
        gen.ns["_present"] = _present
        if any(e[4] is not None for e in fallbacks):
            lines += [(1, "present = _present(resource)")]
        for key, walker, convert, comps, fields in fallbacks:
            call = (
                f"_run_entry(rows, resource, {gen.const(walker)}, {gen.const(convert)}, "
                f"{key!r}, {gen.const(comps)})"
            )
            if fields is None:
                lines += [(1, call)]
            else:
                lines += [(1, f"if not {gen.const(fields)}.isdisjoint(present):"), (2, call)]
    self_comps = _self_compartments(rtype)
    if self_comps:
        lines += [
            (1, "rid = resource.get('id')"),
            (1, "if rid:"),
            (2, f"compartment.extend((c, rid) for c in {self_comps!r})"),
        ]
    lines += [
        (1, "for table, lst in rows.items():"),
        (2, "if len(lst) > 1:"),
        (3, "rows[table] = list(dict.fromkeys(lst))"),
        (1, "return rows"),
    ]
    source = "\n".join("    " * d + text for d, text in lines) + "\n"
    code = compile(source, f"<hygie.search.codegen:{rtype}>", "exec")
    exec(code, gen.ns)
    return gen.ns[name], source


def _wrap_comps(gen: _Gen, comps: frozenset[str], call: list) -> list:
    if not comps:
        return call
    n = gen.var("n")
    return [
        (0, f"{n} = len(refs)"),
        *call,
        (0, f"if len(refs) > {n}:"),
        (1, f"_compart(refs, {n}, {gen.const(comps)}, compartment)"),
    ]


def _convert(
    gen: _Gen, convert: Any, key: int | str, var: str, ftype: str, comps: frozenset[str]
) -> list:
    call, handled = fv.convert_call(gen, convert, key, var, ftype, comps)
    return call if handled else _wrap_comps(gen, comps, call)


def _composite_lines(
    gen: _Gen, node: Node, var: str, ftype: str, ctx: str, a: _Composite, emit: Callable
) -> list:
    """The rows of one composite for the element `var` (composite.converter, inlined): the
    second component's items, each under the key of every discriminator of the first's."""
    out: list = []
    # the first component's items and discriminators, shared by the composites of this node
    # (the actions of a node are emitted one after the other in the same block)
    first = gen.firsts.get((id(node), var, a.first))
    if first is None:
        first = gen.firsts[(id(node), var, a.first)] = gen.var("first")
        out += [(0, f"{first} = []"), (0, f"{first}_d = None")]
        out += _relative(gen, node, a.first, var, ftype, ctx, ("collect", first), emit)
    out += _relative(gen, node, a.second, var, ftype, ctx, ("second", a, first), emit)
    return out


def _relative(
    gen: _Gen,
    node: Node,
    expression: str,
    var: str,
    ftype: str,
    ctx: str,
    action: tuple[Any, ...],
    emit: Callable,
) -> list:
    """Lines running `action` on the items of a component walked from `var`."""
    root = Node(None, node.contexts)
    for rel in split_top(expression, "|"):
        _insert(root, split_top(rel, ".")).actions.append(action)
    return gen.node(root, var, ftype, ctx, emit)


# The cache ---------------------------------------------------------------------------------

_cache: dict[str, tuple[Any, Extractor]] = {}
_plan: Callable[[str], Any] | None = None  # index._plan (imported on first use: no cycle)


def extractor(rtype: str) -> Extractor:
    """The generated extractor of `rtype` for the current plan (regenerated when it changes)."""
    global _plan
    if _plan is None:
        from hygie.search.index import _plan
    plan = _plan(rtype)
    hit = _cache.get(rtype)
    if hit is not None and hit[0] is plan:
        return hit[1]
    try:
        fn, _source = generate(rtype, plan)
    except Exception:  # a bug here must not block writes: index the reference way
        log.exception("search index extractor of %s not generated", rtype)
        from hygie.search.index import extract_reference as fn
    _cache[rtype] = (plan, fn)
    return fn


def source(rtype: str) -> str:
    """The generated source for `rtype` (debugging aid)."""
    from hygie.search.index import _plan

    return generate(rtype, _plan(rtype))[1]
