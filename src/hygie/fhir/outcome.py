"""OperationOutcome construction and the error type every layer raises.

A `FhirError` carries an HTTP status and a list of issues; the REST layer renders it as an
OperationOutcome (http.html: errors SHOULD be returned as an OperationOutcome).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Issue:
    """One OperationOutcome.issue: severity, code (issue-type value set), text, location."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = [self.expression]
        return out


@dataclass
class FhirError(Exception):
    """A failure the client caused (or a server failure) with its HTTP status."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        status: int,
        diagnostics: str | None = None,
        code: str = "processing",
        *,
        issues: list[Issue] | None = None,
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics or (issues[0].diagnostics if issues else ""))
        self.status = status
        self.issues = list(issues or [])
        if diagnostics is not None:
            self.issues.insert(0, Issue(code=code, diagnostics=diagnostics, expression=expression))
        self.headers = dict(headers or {})

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


def info_outcome(text: str, code: str = "informational") -> dict[str, Any]:
    return operation_outcome([Issue(code=code, diagnostics=text, severity="information")])


def not_found(rtype: str, rid: str) -> FhirError:
    return FhirError(404, f"Resource {rtype}/{rid} is not known", "not-found")


def gone(rtype: str, rid: str) -> FhirError:
    return FhirError(410, f"Resource {rtype}/{rid} has been deleted", "deleted")


def invalid(diagnostics: str, expression: str | None = None, status: int = 400) -> FhirError:
    return FhirError(status, diagnostics, "invalid", expression=expression)
