"""Checks of Reference values: the literal reference syntax and the allowed target types.

references.html#literal: a reference is relative (`Type/id`, `Type/id/_history/vid`), an
absolute URL, a local `#id` to a contained resource (`#` alone is the container), or, in
Bundles, a `urn:uuid:` / `urn:oid:` fullUrl. Ids, UUIDs and OIDs use the spec's own regexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from hygie.fhir._valid_primitives import spec_regex
from hygie.fhir.definitions import resource_types

_SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

ReportError = Callable[..., None]  # (code, path, text, severity="error")


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    id_ = spec_regex("id")
    return {
        "relative": re.compile(rf"([A-Z][A-Za-z]*)/(?:{id_})(?:/_history/(?:{id_}))?", re.ASCII),
        "local": re.compile(rf"#(?:{id_})?", re.ASCII),
        "absolute": re.compile(r"https?://[^\s/?#]+\S*", re.ASCII),
        "uuid": re.compile(str(spec_regex("uuid")), re.ASCII),
        "oid": re.compile(str(spec_regex("oid")), re.ASCII),
        "conditional": re.compile(r"([A-Z][A-Za-z]*)\?\S+", re.ASCII),
    }


class ReferenceChecker:
    """Checks Reference objects; `conditional` allows `Type?query` (transaction/batch Bundles)."""

    __slots__ = ("report", "conditional")

    def __init__(self, report: ReportError) -> None:
        self.report = report
        self.conditional = False

    def check(self, value: dict[str, Any], targets: frozenset[str] | None, path: str) -> None:
        ref = value.get("reference")
        ref_type = None
        if type(ref) is str and ref:
            ref_type = self._literal(ref, targets, f"{path}.reference")
        declared = value.get("type")
        if type(declared) is str:
            self._declared(declared, ref_type, targets, f"{path}.type")

    def _literal(self, ref: str, targets: frozenset[str] | None, path: str) -> str | None:
        """The resource type a relative or conditional reference names, else None."""
        patterns = _patterns()
        match = patterns["relative"].fullmatch(ref)
        if match is None and self.conditional:
            match = patterns["conditional"].fullmatch(ref)
        if match is not None:
            ref_type = match[1]
            if ref_type not in resource_types():
                self.report("value", path, f"{ref!r} refers to an unknown resource type {ref_type}")
            elif targets is not None and ref_type not in targets:
                allowed = ", ".join(sorted(targets))
                self.report(
                    "invalid", path, f"a {ref_type} is not allowed here (allowed: {allowed})"
                )
            return ref_type
        if ref.startswith("urn:uuid:"):
            valid = patterns["uuid"].fullmatch(ref) is not None
        elif ref.startswith("urn:oid:"):
            valid = patterns["oid"].fullmatch(ref) is not None
        elif ref.startswith("#"):
            valid = patterns["local"].fullmatch(ref) is not None
        else:
            valid = patterns["absolute"].fullmatch(ref) is not None
        if not valid:
            self.report("value", path, f"{ref!r} is not a valid literal reference")
        return None

    def _declared(
        self, declared: str, ref_type: str | None, targets: frozenset[str] | None, path: str
    ) -> None:
        # Reference.type is a URI relative to the StructureDefinition base; only names that are
        # plainly resource type names are judged (the binding is extensible).
        name = declared.removeprefix(_SD_PREFIX)
        if not name or ":" in name or "/" in name:
            return
        if name not in resource_types():
            self.report("value", path, f"{declared!r} is not a known resource type", "warning")
        elif targets is not None and name not in targets:
            allowed = ", ".join(sorted(targets))
            self.report("invalid", path, f"a {name} is not allowed here (allowed: {allowed})")
        elif ref_type is not None and ref_type != name:
            self.report(
                "invalid", path, f"the type {name} does not match the reference to a {ref_type}"
            )
