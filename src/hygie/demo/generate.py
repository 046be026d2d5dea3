"""`hygie generate`: stream a synthetic population to NDJSON files, one per resource type.

The population is cut into work units (slices of the directory, blocks of `BLOCK_GROUPS`
household groups) whose content depends only on the seed, the population size and the unit.
Each unit is rendered to bytes per resource type (orjson, one line per resource; with `--gzip`
each unit is one gzip member, RFC 1952 §2.2 allows several per file) and the units are written
in order. So the files are byte-identical for a given seed and size whatever the number of
worker processes, and memory stays bounded: at most `2 × workers` units are in flight.
"""

from __future__ import annotations

import gzip
import itertools
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hygie.demo.directory import Directory, organization, practitioner, practitioner_role
from hygie.demo.population import GROUP, group_resources, groups
from hygie.demo.rng import stream

BLOCK_GROUPS = 128  # 512 patients per unit
DIRECTORY_SLICE = 2_000  # organisations or practitioners per unit

Unit = tuple[str, int, int]  # (kind, start, stop)
Rendered = dict[str, bytes]


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    bytes_written: int = 0
    peak_rss_kib: int = 0
    files: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def units(patients: int, seed: int) -> list[Unit]:
    d = Directory.of(patients, seed)
    out: list[Unit] = []
    for start in range(0, d.organizations, DIRECTORY_SLICE):
        out.append(("organizations", start, min(start + DIRECTORY_SLICE, d.organizations)))
    for start in range(0, d.practitioners, DIRECTORY_SLICE):
        out.append(("practitioners", start, min(start + DIRECTORY_SLICE, d.practitioners)))
    total = groups(patients)
    for start in range(0, total, BLOCK_GROUPS):
        out.append(("groups", start, min(start + BLOCK_GROUPS, total)))
    return out


def unit_patients(unit: Unit, patients: int) -> int:
    kind, start, stop = unit
    return min(stop * GROUP, patients) - start * GROUP if kind == "groups" else 0


def render(unit: Unit, patients: int, seed: int, compress: bool) -> tuple[Rendered, Counter[str]]:
    """One unit as NDJSON bytes per resource type (a gzip member each when `compress`)."""
    kind, start, stop = unit
    d = Directory.of(patients, seed)
    lines: dict[str, list[bytes]] = {}
    dumps = orjson.dumps
    for res in _unit_resources(d, kind, start, stop, patients, seed):
        rtype = res["resourceType"]
        bucket = lines.get(rtype)
        if bucket is None:
            bucket = lines[rtype] = []
        bucket.append(dumps(res))
    out: Rendered = {}
    counts: Counter[str] = Counter()
    for rtype, chunk in lines.items():
        data = b"\n".join(chunk) + b"\n"
        out[rtype] = gzip.compress(data, compresslevel=1, mtime=0) if compress else data
        counts[rtype] = len(chunk)
    return out, counts


def _unit_resources(
    d: Directory, kind: str, start: int, stop: int, patients: int, seed: int
) -> Iterator[dict]:
    if kind == "organizations":
        for j in range(start, stop):
            yield from organization(d, j)
    elif kind == "practitioners":
        for k in range(start, stop):
            yield practitioner(d, stream(f"{seed}:practitioner:{k}"), k)
            yield practitioner_role(d, k)
    else:
        for g in range(start, stop):
            yield from group_resources(seed, d, g, patients)


def _render_job(args: tuple[Unit, int, int, bool]) -> tuple[Rendered, Counter[str]]:
    return render(*args)


def _rendered(
    work: list[Unit], patients: int, seed: int, compress: bool, workers: int
) -> Iterator[tuple[Unit, Rendered, Counter[str]]]:
    """Units rendered in order: inline, or by a pool with a bounded window of pending units."""
    if workers <= 1:
        for unit in work:
            yield unit, *render(unit, patients, seed, compress)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[tuple[Unit, Future[tuple[Rendered, Counter[str]]]]] = []
        todo = iter(work)
        for unit in todo:
            pending.append((unit, pool.submit(_render_job, (unit, patients, seed, compress))))
            if len(pending) >= 2 * workers:
                break
        while pending:
            unit, future = pending.pop(0)
            rendered, counts = future.result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_render_job, (nxt, patients, seed, compress))))
            yield unit, rendered, counts


def generate(
    out_dir: Path,
    *,
    patients: int,
    seed: int,
    compress: bool = False,
    workers: int = 1,
    progress: bool = True,
) -> Summary:
    """Write `<Type>.ndjson` (or `.ndjson.gz`) files under `out_dir`; existing ones are replaced.
    The files are written as `.part` and renamed once everything is written: an interrupted
    run leaves no file that looks complete."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".ndjson.gz" if compress else ".ndjson"
    for old in out_dir.glob("*.ndjson*"):
        if old.is_file():
            old.unlink()
    work = units(patients, seed)
    workers = max(1, min(workers, len(work)))
    summary = Summary()
    handles: dict[str, IO[bytes]] = {}
    started = time.perf_counter()
    bar = _progress(patients) if progress else None
    task = bar.add_task("generate", total=patients, resources=0, rate=0.0) if bar else None
    rendered_units = _rendered(work, patients, seed, compress, workers)
    # The first unit is taken before the progress bar starts its refresh thread: the worker
    # processes are forked then, without a thread of this process in flight.
    first = list(itertools.islice(rendered_units, 1))
    complete = False
    try:
        if bar:
            bar.start()
        for unit, rendered, counts in itertools.chain(first, rendered_units):
            for rtype, data in rendered.items():
                handle = handles.get(rtype)
                if handle is None:
                    path = out_dir / f"{rtype}{suffix}"
                    handle = handles[rtype] = path.with_name(path.name + ".part").open("wb")
                    summary.files.append(path)
                handle.write(data)
                summary.bytes_written += len(data)
            summary.counts.update(counts)
            if bar is not None and task is not None:
                bar.update(
                    task,
                    advance=unit_patients(unit, patients),
                    resources=summary.total,
                    rate=summary.total / max(time.perf_counter() - started, 1e-9),
                )
        complete = True
    finally:
        for handle in handles.values():
            handle.close()
        if bar:
            bar.stop()
        for path in summary.files:  # all or nothing: the `.part` files become the result
            part = path.with_name(path.name + ".part")
            if complete:
                part.replace(path)
            else:
                part.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    summary.peak_rss_kib = peak_rss_kib()
    summary.files.sort()
    return summary


def peak_rss_kib() -> int:
    """The largest resident set of this process and of any finished worker (Linux: KiB).

    This process's own peak is VmHWM (its address space's high-water mark): `ru_maxrss`
    survives `exec`, so a generator started by a large process would report that process's
    size."""
    own = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    own = int(line.split()[1])
                    break
    except OSError:
        pass
    if not own:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children)


def _progress(patients: int) -> Progress:
    return Progress(
        TextColumn("[bold]generate[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients · {task.fields[resources]:,} resources · {task.fields[rate]:,.0f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def print_summary(summary: Summary, out_dir: Path, console: Console) -> None:
    table = Table(title=f"Generated into {out_dir}", show_edge=False)
    table.add_column("resource type")
    table.add_column("count", justify="right")
    for rtype, n in sorted(summary.counts.items()):
        table.add_row(rtype, f"{n:,}")
    table.add_row("[bold]total[/]", f"[bold]{summary.total:,}[/]")
    console.print(table)
    console.print(
        f"{summary.total:,} resources in {summary.seconds:.1f} s: {summary.rate:,.0f} resources/s;"
        f" {summary.bytes_written / 1e6:,.1f} MB written; peak RSS {summary.peak_rss_kib / 1024:,.0f} MiB",
        highlight=False,
    )


def run_generate(
    out_dir: Path,
    *,
    patients: int,
    seed: int,
    compress: bool,
    workers: int,
    console: Console | None = None,
) -> int:
    out = console or Console()
    if patients < 1:
        out.print("[red]--patients must be at least 1[/]")
        return 2
    if workers < 1:
        workers = os.cpu_count() or 1
    try:
        summary = generate(
            out_dir, patients=patients, seed=seed, compress=compress, workers=workers,
            progress=sys.stderr.isatty() or console is None,
        )  # fmt: skip
    except OSError as exc:
        out.print(f"[red]Cannot write to {out_dir}:[/] {exc}", highlight=False)
        return 1
    print_summary(summary, out_dir, out)
    return 0


__all__ = ["Summary", "generate", "render", "run_generate", "units"]
