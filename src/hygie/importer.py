"""`hygie import`: load FHIR Bundles and NDJSON files into the repository.

- NDJSON (.ndjson, .ndjson.gz): one resource per line, stored `batch` resources per database
  transaction through Repository.load (resources with an id as update-as-create). An invalid
  line (bad JSON, not a resource, invalid resource) is reported with file:line and skipped;
  the valid lines of its batch are still stored (see `hygie.importing.ndjson`).
- Bundle files (.json, .json.gz): all or nothing per file (see `hygie.importing.bundles`).
- A directory imports every such file under it, sorted by path.

With `workers` > 1, NDJSON batches are parsed, validated and indexed in that many processes
(each with its own connection; SQLite still has one writer at a time). Batches then commit in
any order, so a resource id repeated across batches may end at either version: use one worker
when a file holds several versions of a resource.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hygie.config import DEFAULT_DB
from hygie.importing.bundles import import_bundle_file
from hygie.importing.ndjson import LineProblem, init_worker, load_in_worker, load_lines
from hygie.importing.report import FileReport, render_problems, render_summary
from hygie.importing.sources import BUNDLE, discover, ndjson_batches
from hygie.store import Context, Repository, open_repository

BatchResult = tuple[int, list[LineProblem]]
Lines = list[tuple[int, bytes]]


def run_import(
    paths: Sequence[Path],
    *,
    db: str = DEFAULT_DB,
    batch: int = 1000,
    workers: int = 1,
    console: Console | None = None,
) -> int:
    """Import every file, print the summary; 0 when everything was stored, 1 otherwise."""
    out = console or Console()
    if batch < 1:
        out.print("[red]--batch must be at least 1[/]")
        return 2
    files, refused = discover(paths)
    reports: list[FileReport] = []
    for path, message in refused:
        report = FileReport(path, "-")
        report.problem("", message)
        reports.append(report)
    started = time.perf_counter()
    try:
        repo = open_repository(db)
    except Exception as exc:  # a wrong URL, an unreachable server: say so, no traceback
        out.print(f"[red]Cannot open the database:[/] {exc}", highlight=False)
        return 2
    try:
        with _executor(repo, db, workers) as pool, _progress(files) as (progress, task):
            for path, kind in files:
                progress.update(task, description=f"{path.name}")
                report = FileReport(path, kind)
                t0 = time.perf_counter()
                try:
                    if kind == BUNDLE:
                        import_bundle_file(repo, Context.system(), path, report)
                        progress.advance(task, path.stat().st_size)
                    else:
                        _import_ndjson(pool, workers, path, batch, report, progress, task)
                except (OSError, EOFError) as exc:
                    report.problem("", f"cannot read the file: {exc}")
                except Exception as exc:  # e.g. the database failed: report it, go on
                    report.problem("", f"import failed: {type(exc).__name__}: {exc}")
                report.seconds = time.perf_counter() - t0
                reports.append(report)
        repo.backend.analyze()  # fresh planner statistics for what was just loaded
    finally:
        repo.close()
    render_summary(out, reports, time.perf_counter() - started)
    render_problems(out, reports)
    return 1 if any(r.problems for r in reports) else 0


def _import_ndjson(
    pool: Executor,
    workers: int,
    path: Path,
    batch: int,
    report: FileReport,
    progress: Progress,
    task: TaskID,
) -> None:
    """Submit batches as they are read, at most 2 per worker in flight; collect in order."""
    pending: deque[tuple[Future[BatchResult], int]] = deque()

    def collect() -> None:
        future, nbytes = pending.popleft()
        loaded, problems = future.result()
        report.loaded += loaded
        for number, message in problems:
            report.problem(f"line {number}", message)
        progress.update(
            task, advance=nbytes, resources=progress.tasks[0].fields["resources"] + loaded
        )

    for chunk in ndjson_batches(path, batch):
        if len(pending) >= 2 * workers:
            collect()
        pending.append((pool.submit(load_in_worker, chunk.lines), chunk.nbytes))
    while pending:
        collect()


class _Inline(Executor):
    """Runs each batch at once in this process (one worker): no pickling, same order."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def submit(
        self, fn: Callable[..., BatchResult], /, *args: Lines, **kwargs: object
    ) -> Future[BatchResult]:
        future: Future[BatchResult] = Future()
        future.set_result(load_lines(self.repo, Context.system(), args[0]))
        return future


def _executor(repo: Repository, db: str, workers: int) -> Executor:
    if workers <= 1:
        return _Inline(repo)
    # spawn: a forked child would share the parent's open database connections.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(db,),
    )


class _progress:
    """A Rich progress bar over the total bytes of all files, with the resources stored."""

    def __init__(self, files: list[tuple[Path, str]]) -> None:
        self.total = sum(p.stat().st_size for p, _ in files)
        self.progress = Progress(
            TextColumn("{task.description:<24.24}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[resources]:>10,} resources"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )

    def __enter__(self) -> tuple[Progress, TaskID]:
        self.progress.start()
        task = self.progress.add_task("import", total=self.total, resources=0)
        return self.progress, task

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
