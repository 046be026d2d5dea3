"""What an import did: per-file counts and every problem with its place, and the summary table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hygie.fhir.outcome import FhirError, Issue

MAX_SHOWN = 200  # problems printed; the count says how many more there are


@dataclass(slots=True)
class Problem:
    """One thing that went wrong: the file, where in it (`line 12`, `entry 3`, or ''), what."""

    path: Path
    where: str
    message: str

    def __str__(self) -> str:
        if self.where.startswith("line "):
            return f"{self.path}:{self.where.removeprefix('line ')}: {self.message}"
        if self.where:
            return f"{self.path} ({self.where}): {self.message}"
        return f"{self.path}: {self.message}"


@dataclass(slots=True)
class FileReport:
    path: Path
    kind: str
    loaded: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, where, message))


def describe_issues(issues: list[Issue]) -> str:
    """The error issues of an OperationOutcome as one line: `expression: diagnostics; …`."""
    errors = [i for i in issues if i.severity in ("error", "fatal")] or issues
    parts = []
    for i in errors:
        text = i.diagnostics
        if i.expression and i.expression not in text:
            text = f"{i.expression}: {text}"
        parts.append(text)
    return "; ".join(parts) or "invalid"


def describe_error(exc: FhirError) -> str:
    return f"{describe_issues(exc.issues)} (HTTP {exc.status})"


def render_summary(console: Console, reports: list[FileReport], seconds: float) -> None:
    table = Table(title="Import summary", show_footer=True)
    total = sum(r.loaded for r in reports)
    errors = sum(len(r.problems) for r in reports)
    rate = total / seconds if seconds > 0 else 0.0
    table.add_column("File", footer=f"{len(reports)} file(s)")
    table.add_column("Kind")
    table.add_column("Resources", justify="right", footer=f"{total:,}")
    table.add_column("Errors", justify="right", footer=f"{errors:,}")
    table.add_column("Seconds", justify="right", footer=f"{seconds:.2f}")
    table.add_column("Resources/s", justify="right", footer=f"{rate:,.0f}")
    for r in reports:
        r_rate = r.loaded / r.seconds if r.seconds > 0 else 0.0
        table.add_row(
            str(r.path),
            r.kind,
            f"{r.loaded:,}",
            f"{len(r.problems):,}",
            f"{r.seconds:.2f}",
            f"{r_rate:,.0f}",
        )
    console.print(table)


def render_problems(console: Console, reports: list[FileReport]) -> None:
    problems = [p for r in reports for p in r.problems]
    if not problems:
        return
    console.print(f"[bold red]{len(problems)} error(s):[/]")
    for p in problems[:MAX_SHOWN]:
        console.print(str(p), markup=False, highlight=False, soft_wrap=True)
    if len(problems) > MAX_SHOWN:
        console.print(f"… and {len(problems) - MAX_SHOWN} more")
