"""FHIR operations (`$name`) by registration: a small registry the Router consults first.

An operation is registered for a resource type (or None: any type, or the system level), a
name and a level (system `/$op`, type `/Patient/$op`, instance `/Patient/1/$op`), with the HTTP
methods it answers. Its handler takes (ctx, req, rtype, rid) and returns a Response. Unknown
operations fall through to the Router, which answers 404 (operations.html, R4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from hygie.fhir.outcome import FhirError
from hygie.rest.http import Request, Response, json_body
from hygie.store import Context

Handler = Callable[[Context, Request, str | None, str | None], Response]
SYSTEM, TYPE, INSTANCE = "system", "type", "instance"


@dataclass(frozen=True, slots=True)
class Operation:
    handler: Handler
    methods: frozenset[str]


class OperationRegistry:
    def __init__(self) -> None:
        self._ops: dict[tuple[str | None, str, str], Operation] = {}

    def register(
        self,
        rtype: str | None,
        name: str,
        level: str,
        handler: Handler,
        methods: tuple[str, ...] = ("GET", "POST"),
    ) -> None:
        if not name.startswith("$"):
            raise ValueError(f"an operation name starts with '$': {name!r}")
        self._ops[(rtype, name, level)] = Operation(handler, frozenset(methods))

    def find(self, rtype: str | None, name: str, level: str) -> Operation | None:
        return self._ops.get((rtype, name, level)) or self._ops.get((None, name, level))

    def route(
        self, method: str, seg: list[str], ctx: Context, req: Request
    ) -> tuple[Callable[[], Response], bool] | None:
        """(handler, quick) when `seg` names a registered operation; None otherwise."""
        n = len(seg)
        if n == 0 or not seg[-1].startswith("$") or n > 3:
            return None
        level = (SYSTEM, TYPE, INSTANCE)[n - 1]
        rtype = seg[0] if n > 1 else None
        rid = seg[1] if n == 3 else None
        op = self.find(rtype, seg[-1], level)
        if op is None:
            return None
        if method not in op.methods:
            allowed = ", ".join(sorted(op.methods))
            raise FhirError(
                405, f"{seg[-1]} answers {allowed}", "not-supported", headers={"Allow": allowed}
            )
        return (lambda: op.handler(ctx, req, rtype, rid)), False


class OpParams:
    """An operation's inputs, from the query string and, on POST, a Parameters body."""

    def __init__(self, req: Request) -> None:
        self.values: dict[str, list[Any]] = {}
        for k, v in req.query:
            self.values.setdefault(k, []).append(v)
        if req.method == "POST" and req.body:
            body = json_body(req)
            if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
                raise FhirError(400, "the operation takes a Parameters resource", "structure")
            for p in body.get("parameter") or []:
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    self.values.setdefault(p["name"], []).append(_value(p))

    def all(self, name: str) -> list[Any]:
        return self.values.get(name, [])

    def first(self, name: str) -> Any:
        got = self.values.get(name)
        return got[0] if got else None

    def text(self, name: str) -> str | None:
        value = self.first(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise FhirError(400, f"parameter '{name}' must be a simple value", "invalid")
        return value

    def resource(self, name: str) -> dict[str, Any] | None:
        value = self.first(name)
        if value is not None and not isinstance(value, dict):
            raise FhirError(400, f"parameter '{name}' must be a resource", "invalid")
        return value

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value not in (None, "true", "false"):
            raise FhirError(400, f"parameter '{name}' must be true or false", "invalid")
        return value == "true"

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not value.isdigit():
            raise FhirError(400, f"parameter '{name}' must be a non-negative integer", "invalid")
        return int(value)


def _value(p: dict[str, Any]) -> Any:
    if "resource" in p:
        return p["resource"]
    for key, value in p.items():
        if not key.startswith("value"):
            continue
        if key == "valueBoolean":
            return "true" if value else "false"
        if key == "valueIdentifier" and isinstance(value, dict):
            return f"{value.get('system', '')}|{value.get('value', '')}"
        if key == "valueReference" and isinstance(value, dict):
            return value.get("reference")
        if key == "valueCoding" and isinstance(value, dict):
            return value.get("code")
        return str(value) if isinstance(value, int | float) else value
    return None


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(status, orjson.dumps(body))
