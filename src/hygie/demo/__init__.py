"""`hygie demo`: a small synthetic French population loaded into the repository.

The generator (`population`) streams resources; `names`, `places`, `clinical` hold the
vocabulary and `nir` the identifier arithmetic. Synthetic data only: INS on the test OID,
RPPS/FINESS numbers in visibly fictitious ranges, phone numbers in the range kept for fiction.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hygie.demo.population import population
from hygie.fhir.outcome import FhirError
from hygie.store import Context, HistoryQuery, Repository, open_repository

__all__ = ["DEFAULT_SEED", "holds_resources", "population", "run_demo"]

DEFAULT_SEED = 2026
T = TypeVar("T")


def holds_resources(repo: Repository, ctx: Context) -> bool:
    """Whether the database holds any resource version at all (one-entry system history)."""
    bundle = repo.history(ctx, HistoryQuery(count=1), base="", extra=[])
    return bool(bundle.get("entry"))


def run_demo(
    db: str,
    *,
    if_empty: bool = False,
    patients: int = 200,
    seed: int = DEFAULT_SEED,
    batch: int = 500,
    console: Console | None = None,
) -> int:
    """Load the demo population; 0 on success (or nothing to do), 1 on failure."""
    out = console or Console()
    repo = open_repository(db)
    ctx = Context.system()
    try:
        if if_empty and holds_resources(repo, ctx):
            out.print("The database already holds resources: demo data not loaded.")
            return 0
        started = time.perf_counter()
        counts = load(repo, ctx, population(patients, seed), batch, out)
        repo.backend.analyze()
    except FhirError as exc:
        out.print(f"[red]Demo data refused:[/] {exc}", highlight=False)
        return 1
    finally:
        repo.close()
    total = sum(counts.values())
    detail = ", ".join(f"{n} {rtype}" for rtype, n in sorted(counts.items()))
    out.print(f"Loaded {total} demo resources in {time.perf_counter() - started:.1f} s: {detail}")
    return 0


def load(
    repo: Repository, ctx: Context, resources: Iterable[dict[str, Any]], batch: int, out: Console
) -> Counter[str]:
    counts: Counter[str] = Counter()
    columns = (
        SpinnerColumn(),
        TextColumn("demo data: {task.completed:,.0f} resources"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("demo", total=None)
        for chunk in batched(resources, batch):
            repo.load(ctx, chunk)
            counts.update(r["resourceType"] for r in chunk)
            progress.advance(task, len(chunk))
    return counts


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
