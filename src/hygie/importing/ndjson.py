"""Store one batch of NDJSON lines: parse with orjson, one Repository.load (one transaction).

An invalid line fails only itself: when the batch is refused, every resource of the batch is
validated on its own, the invalid ones are reported with their line, and the valid rest is
stored in one transaction. The fast path (a batch with no invalid line) validates each resource
once, inside Repository.load.
"""

from __future__ import annotations

from typing import Any

import orjson

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate
from hygie.importing.report import describe_error, describe_issues
from hygie.store import Context, Repository

LineProblem = tuple[int, str]


def load_lines(
    repo: Repository, ctx: Context, lines: list[tuple[int, bytes]]
) -> tuple[int, list[LineProblem]]:
    """Resources stored, and (line number, message) for every line that was not."""
    numbers, resources, problems = _parse(lines)
    if not resources:
        return 0, problems
    try:
        return repo.load(ctx, resources), problems
    except FhirError as exc:
        if exc.status != 400:
            return 0, problems + _not_stored(numbers, describe_error(exc))
    keep_numbers, keep = [], []
    for number, res in zip(numbers, resources, strict=True):
        errors = [i for i in validate(res) if i.severity in ("error", "fatal")]
        if errors:
            problems.append((number, f"invalid {label(res)}: {describe_issues(errors)}"))
        else:
            keep_numbers.append(number)
            keep.append(res)
    loaded = 0
    if keep:
        try:
            loaded = repo.load(ctx, keep)
        except FhirError as exc:
            problems += _not_stored(keep_numbers, describe_error(exc))
    problems.sort()
    return loaded, problems


def _parse(lines: list[tuple[int, bytes]]) -> tuple[list[int], list[Any], list[LineProblem]]:
    loads = orjson.loads
    numbers: list[int] = []
    resources: list[Any] = []
    problems: list[LineProblem] = []
    for number, raw in lines:
        try:
            res = loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append((number, f"invalid JSON: {exc}"))
            continue
        if type(res) is not dict:
            problems.append((number, "expected a JSON object (one resource per line)"))
            continue
        numbers.append(number)
        resources.append(res)
    return numbers, resources, problems


def _not_stored(numbers: list[int], why: str) -> list[LineProblem]:
    return [(n, f"not stored, its batch failed: {why}") for n in numbers]


def label(res: dict[str, Any]) -> str:
    rtype = res.get("resourceType", "resource")
    rid = res.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) else str(rtype)


# -- worker processes (`hygie import --workers N`) -------------------------------------------
_worker_repo: Repository | None = None


def init_worker(db: str) -> None:
    global _worker_repo
    from hygie.store import open_repository

    _worker_repo = open_repository(db)


def load_in_worker(lines: list[tuple[int, bytes]]) -> tuple[int, list[LineProblem]]:
    assert _worker_repo is not None, "init_worker was not called"
    return load_lines(_worker_repo, Context.system(), lines)
