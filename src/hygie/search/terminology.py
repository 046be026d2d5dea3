"""Token modifiers that need terminology (search.html#token): `:in`, `:not-in`, `:above`, `:below`.

A ValueSet or CodeSystem is found by canonical URL (or `ValueSet/id`) among the resources
stored in the server first, then among the official R4 ones vendored with Hygie. Expansion
follows ValueSet.compose: included concepts, whole code systems, `is-a` / `descendent-of` /
`is-not-a` / `=` (concept) filters over hierarchical CodeSystems, imported value sets, and
excluded concepts; or a stored `expansion.contains`. A value set that cannot be expanded here is
a 400 naming the parameter, never a silently wrong answer. `:below`/`:above` use the code
system's concept hierarchy; a code of an unknown system is subsumed only by itself.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from hygie.fhir.definitions import bundle_resources
from hygie.search.keys import param_key
from hygie.search.query import AnyOf, Chain, Has, Leaf, Node
from hygie.store.base import Cursor

# (system, code); code None = every code of the system, system None = the code in any system
Concept = tuple[str | None, str | None]
MODIFIERS = ("in", "not-in", "above", "below")
MAX_DEPTH = 8


class NotExpandable(ValueError):
    pass


@cache
def _vendored() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for res in bundle_resources("valuesets"):
        if res.get("url"):
            out[(res["resourceType"], res["url"])] = res
    return out


class Terminology:
    """Look-ups for one search (stored resources through `cur`, then the vendored ones)."""

    def __init__(self, cur: Cursor) -> None:
        self.cur = cur

    def find(self, rtype: str, ref: str) -> dict[str, Any] | None:
        url = ref.split("|", 1)[0]
        if url.startswith(f"{rtype}/") and url.count("/") == 1:
            row = self.cur.fetchone(
                "SELECT content FROM resources WHERE rtype = ? AND id = ? AND deleted = 0",
                (rtype, url.split("/", 1)[1]),
            )
        else:
            row = self.cur.fetchone(
                "SELECT r.content FROM idx_uri u JOIN resources r ON r.rid = u.rid"
                " WHERE u.param = ? AND u.value = ? AND r.deleted = 0 ORDER BY r.rid DESC LIMIT 1",
                (param_key(rtype, "url"), url),
            )
        if row is not None:
            content = row[0]
            return content if isinstance(content, dict) else orjson.loads(content)
        return _vendored().get((rtype, url))

    # -- code systems ---------------------------------------------------------------------------
    def _hierarchy(self, system: str) -> dict[str, list[str]] | None:
        """code -> child codes of a CodeSystem (nested concepts and `parent` properties)."""
        cs = self.find("CodeSystem", system)
        if cs is None or cs.get("content") not in (None, "complete", "fragment", "example"):
            return None
        children: dict[str, list[str]] = {}

        def visit(concepts: list[dict[str, Any]], parent: str | None) -> None:
            for c in concepts:
                code = c.get("code")
                if not code:
                    continue
                children.setdefault(code, [])
                if parent is not None:
                    children[parent].append(code)
                for prop in c.get("property", ()):
                    if prop.get("code") in ("parent", "subsumedBy") and prop.get("valueCode"):
                        children.setdefault(prop["valueCode"], []).append(code)
                visit(c.get("concept", ()), code)

        visit(cs.get("concept", ()), None)
        return children

    def below(self, system: str, code: str) -> set[str] | None:
        tree = self._hierarchy(system)
        if tree is None:
            return None
        out, todo = set(), [code]
        while todo:
            c = todo.pop()
            if c not in out:
                out.add(c)
                todo.extend(tree.get(c, ()))
        return out

    def above(self, system: str, code: str) -> set[str] | None:
        tree = self._hierarchy(system)
        if tree is None:
            return None
        parents: dict[str, list[str]] = {}
        for p, kids in tree.items():
            for k in kids:
                parents.setdefault(k, []).append(p)
        out, todo = set(), [code]
        while todo:
            c = todo.pop()
            if c not in out:
                out.add(c)
                todo.extend(parents.get(c, ()))
        return out

    # -- value sets -----------------------------------------------------------------------------
    def expand(self, ref: str, depth: int = 0) -> set[Concept]:
        if depth > MAX_DEPTH:
            raise NotExpandable(f"value set imports nest too deeply at '{ref}'")
        vs = self.find("ValueSet", ref)
        if vs is None:
            raise NotExpandable(f"unknown value set '{ref}'")
        contains = (vs.get("expansion") or {}).get("contains")
        if contains:
            return set(_flatten(contains))
        compose = vs.get("compose")
        if not compose:
            raise NotExpandable(f"value set '{ref}' has neither compose nor expansion")
        result: set[Concept] = set()
        for inc in compose.get("include", ()):
            result |= self._include(inc, depth)
        for exc in compose.get("exclude", ()):
            removed = self._include(exc, depth)
            if any(code is None for _s, code in removed) or any(
                code is None for _s, code in result
            ):
                raise NotExpandable(f"value set '{ref}' excludes from a whole code system")
            result -= removed
        return result

    def _include(self, inc: dict[str, Any], depth: int) -> set[Concept]:
        system = inc.get("system")
        part: set[Concept] | None = None
        if system:
            if inc.get("concept"):
                part = {(system, c["code"]) for c in inc["concept"] if c.get("code")}
            elif inc.get("filter"):
                part = {(system, c) for c in self._filtered(system, inc["filter"])}
            else:
                codes = self._all_codes(system)
                part = {(system, c) for c in codes} if codes is not None else {(system, None)}
        for imported in inc.get("valueSet", ()):
            other = self.expand(imported, depth + 1)
            part = other if part is None else _intersect(part, other)
        return part or set()

    def _all_codes(self, system: str) -> set[str] | None:
        cs = self.find("CodeSystem", system)
        if cs is None or cs.get("content") != "complete":
            return None
        tree = self._hierarchy(system)
        return set(tree) if tree is not None else None

    def _filtered(self, system: str, filters: list[dict[str, Any]]) -> set[str]:
        result: set[str] | None = None
        for f in filters:
            op, prop, value = f.get("op"), f.get("property"), f.get("value", "")
            if op in ("is-a", "descendent-of") or (op == "=" and prop == "concept"):
                codes = self.below(system, value) if op != "=" else {value}
                if codes is None:
                    raise NotExpandable(f"code system '{system}' is not available")
                if op == "descendent-of":
                    codes = codes - {value}
            elif op == "is-not-a":
                every, sub = self._all_codes(system), self.below(system, value)
                if every is None or sub is None:
                    raise NotExpandable(f"code system '{system}' is not available")
                codes = every - sub
            else:
                raise NotExpandable(f"filter '{prop} {op} {value}' on '{system}' is not supported")
            result = codes if result is None else result & codes
        return result or set()


def _flatten(contains: list[dict[str, Any]]) -> list[Concept]:
    out: list[Concept] = []
    for c in contains:
        if c.get("code") and not c.get("abstract"):
            out.append((c.get("system"), c["code"]))
        out.extend(_flatten(c.get("contains", ())))
    return out


def _intersect(a: set[Concept], b: set[Concept]) -> set[Concept]:
    whole_a = {s for s, c in a if c is None}
    whole_b = {s for s, c in b if c is None}
    return {x for x in a if x in b or x[0] in whole_b} | {x for x in b if x[0] in whole_a}


def concepts(term: Terminology, modifier: str, value: Any) -> set[Concept]:
    """The concepts a `:in`/`:not-in` (value = URL) or `:above`/`:below` (system, code) selects."""
    if modifier in ("in", "not-in"):
        return term.expand(value)
    system, code = value
    if code is None:
        raise NotExpandable("a code is required")
    if system is None:
        return {(None, code)}
    codes = term.below(system, code) if modifier == "below" else term.above(system, code)
    return {(system, c) for c in (codes or {code})}


def longest_span(cur: Cursor, keys: list[int]) -> int | None:
    """The longest indexed [low, high) of these parameters (the `idx_date_span` index)."""
    longest = None
    for key in keys:
        row = cur.fetchone("SELECT MAX(high / 2 - low / 2) FROM idx_date WHERE param = ?", [key])
        if row is None or row[0] is None:
            continue
        longest = max(longest or 0, 2 * int(row[0]) + 2)
    return longest


def bind(cur: Cursor, nodes: list[Node]) -> None:
    """Complete leaves with what only the database knows: the concepts of terminology
    modifiers (FhirError 400 if impossible), the longest value of date parameters."""
    from hygie.search.parse import bad

    term: Terminology | None = None
    for node in nodes:
        if isinstance(node, Leaf) and node.type == "date" and node.modifier in (None, "all"):
            node.span = longest_span(cur, [p.key for p in node.params])
        elif isinstance(node, Leaf) and node.type == "token" and node.modifier in MODIFIERS:
            term = term or Terminology(cur)
            found: set[Concept] = set()
            try:
                for v in node.values:
                    found |= concepts(term, node.modifier, v)
            except NotExpandable as exc:
                raise bad(f"{node.code}:{node.modifier}", str(exc)) from None
            node.values = [frozenset(found)]
        elif isinstance(node, Chain | Has):
            bind(cur, [node.inner])
        elif isinstance(node, AnyOf):
            bind(cur, node.nodes)
