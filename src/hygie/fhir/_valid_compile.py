"""Compiles the base StructureDefinition snapshots into trees the validator walks.

A `Node` is one JSON object shape (a resource, a datatype or a BackboneElement): the JSON
properties it allows, each with what its value must be. Each type is compiled once, on first
use, then cached; cycles (Extension in Extension, `contentReference`) share the same `Node`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from threading import RLock
from typing import Any

from hygie.fhir._valid_primitives import PrimitiveCheck, primitive_checks
from hygie.fhir._valid_terminology import Expansion, expand
from hygie.fhir.definitions import load, resource_types, structure_definitions

# What an element's JSON value is.
PRIMITIVE = 0  # a JSON scalar of a primitive type
COMPLEX = 1  # a JSON object of a datatype or BackboneElement
RESOURCE = 2  # a whole resource, typed by its own resourceType
COMPANION = 3  # the `_name` object(s) holding a primitive's id and extensions (json.html#primitive)
IGNORED = 4  # `resourceType`, checked separately

_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
_SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
_ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})
# `Elem.targets` of anything that is not a Reference (None means a Reference to any type).
NO_REFERENCE: frozenset[str] = frozenset({"(not a Reference)"})


@dataclass(slots=True, eq=False)
class Node:
    """One JSON object shape: its allowed properties and the elements it requires."""

    name: str
    children: dict[str, Elem] = field(default_factory=dict)
    # (element name as shown in expressions, JSON keys any of which satisfies it)
    required: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(slots=True, eq=False)
class Elem:
    """One JSON property of a Node."""

    key: str  # the JSON property name
    label: str  # the name in expressions (`given` for `_given`)
    kind: int
    type: str  # FHIR type code (resource type or "Resource" for RESOURCE)
    many: bool  # max != "1": a JSON array
    choice: str | None = None  # "value[x]" for every variant of a choice element
    check: PrimitiveCheck | None = None
    node: Node | None = None  # COMPLEX: the object shape; COMPANION: the primitive's Element
    codes: frozenset[str] | None = None  # required binding on a code
    systems: Expansion | None = None  # required binding on a Coding/CodeableConcept
    value_set: str | None = None  # the required binding's ValueSet, when it can be checked
    targets: frozenset[str] | None = NO_REFERENCE  # Reference: allowed target types, None = any


# Compiling registers unfinished nodes (for cycles); the lock keeps other threads from seeing them.
_lock = RLock()
_type_nodes: dict[str, Node] = {}


@cache
def resource_node(resource_type: str) -> Node:
    """The compiled tree of a concrete resource type (with `resourceType` allowed)."""
    with _lock:
        node = _compile(structure_definitions()[resource_type])
        node.children["resourceType"] = Elem(
            "resourceType", "resourceType", IGNORED, "string", False
        )
        return node


def type_node(type_name: str) -> Node:
    """The compiled tree of a datatype; for a primitive, its `id`/`extension` companion shape."""
    with _lock:
        node = _type_nodes.get(type_name)
        return node if node is not None else _compile(structure_definitions()[type_name])


def _compile(sd: dict[str, Any]) -> Node:
    elements = sd["snapshot"]["element"]
    root = elements[0]["path"]
    by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for element in elements[1:]:
        by_parent[element["path"].rpartition(".")[0]].append(element)
    builder = _Builder(sd, by_parent)
    if sd.get("kind") != "resource":
        # Registered before its children are built, so recursive types reuse it.
        builder.nodes[root] = _type_nodes.setdefault(sd["type"], Node(sd["type"]))
    return builder.build(root)


class _Builder:
    def __init__(self, sd: dict[str, Any], by_parent: dict[str, list[dict[str, Any]]]) -> None:
        self.sd = sd
        self.by_parent = by_parent
        self.nodes: dict[str, Node] = {}
        self.started: set[str] = set()
        self.primitive = sd.get("kind") == "primitive-type"

    def build(self, path: str) -> Node:
        node = self.nodes.get(path)
        if path in self.started and node is not None:
            return node  # a contentReference to an element being built
        self.started.add(path)
        if node is None:
            node = self.nodes[path] = Node(path)
        required = []
        for element in self.by_parent[path]:
            name = element["path"].rpartition(".")[2]
            if (self.primitive and name == "value") or element.get("max") == "0":
                continue  # the primitive's JSON value is checked by its check; max 0 is absent
            elems = self._elements(element, name)
            for elem in elems:
                node.children[elem.key] = elem
            if element.get("min", 0) >= 1:
                required.append((name, tuple(e.key for e in elems)))
        node.required = tuple(required)
        return node

    def _elements(self, element: dict[str, Any], name: str) -> list[Elem]:
        many = element.get("max", "*") != "1"
        if "contentReference" in element:
            target = self.build(element["contentReference"].lstrip("#"))
            return [Elem(name, name, COMPLEX, target.name, many, node=target)]
        out: list[Elem] = []
        types = element.get("type", [])
        is_choice = name.endswith("[x]")
        for t in types:
            code = self._type_code(t, element, name)
            key = name[:-3] + code[0].upper() + code[1:] if is_choice else name
            elem = Elem(key, key, COMPLEX, code, many)
            elem.choice = name if is_choice else None
            self._fill(elem, element, t, code)
            out.append(elem)
            if elem.kind == PRIMITIVE and code != "xhtml":
                # xhtml has no extensions in JSON: `div` never has a `_div` (json.html#xhtml).
                out.append(
                    Elem("_" + key, key, COMPANION, code, many, elem.choice, node=type_node(code))
                )
        return out

    def _type_code(self, t: dict[str, Any], element: dict[str, Any], name: str) -> str:
        code = t["code"]
        if not code.startswith(_SYSTEM_PREFIX):
            return code
        # R4 types the primitives' own parts with FHIRPath system types; the FHIR type is in an
        # extension, except that Resource.id says "string" where the JSON schema says "id".
        fhir_type = next(
            (x["valueUrl"] for x in t.get("extension", []) if x.get("url") == _FHIR_TYPE_EXT),
            "string",
        )
        if self.sd.get("kind") == "resource" and element["path"].count(".") == 1:
            prop = load("fhir.schema")["definitions"].get(self.sd["type"], {})
            ref = prop.get("properties", {}).get(name, {}).get("$ref", "")
            fhir_type = ref.rpartition("/")[2] or fhir_type
        return fhir_type

    def _fill(self, elem: Elem, element: dict[str, Any], t: dict[str, Any], code: str) -> None:
        checks = primitive_checks()
        if code in checks:
            elem.kind, elem.check = PRIMITIVE, checks[code]
        elif code in _ABSTRACT_RESOURCES or code in resource_types():
            elem.kind = RESOURCE
        elif self.by_parent.get(element["path"]):
            elem.node = self.build(element["path"])
        else:
            elem.node = type_node(code)
        if code == "Reference":
            elem.targets = _targets(t.get("targetProfile", []))
        binding = element.get("binding") or {}
        if binding.get("strength") == "required" and "valueSet" in binding:
            expansion = expand(binding["valueSet"])
            if expansion is not None:
                elem.value_set = binding["valueSet"].partition("|")[0]
            if expansion is not None and code == "code":
                elem.codes = frozenset().union(*expansion.values())
            elif expansion is not None and code in ("Coding", "CodeableConcept"):
                elem.systems = expansion


def _targets(profiles: list[str]) -> frozenset[str] | None:
    names = {p.removeprefix(_SD_PREFIX) for p in profiles}
    if not names or "Resource" in names or not names <= resource_types():
        return None
    return frozenset(names)
