"""Speed and memory of `hygie generate` (issue 5: ≥ 50,000 resources/s, memory bounded).

Run: `.venv/bin/python -m bench.generate_speed [--patients N] [--workers W] [--gzip]`.

Each measurement runs the generator in a fresh child process (so that the peak resident set
is the generator's own: `resource.getrusage` of the process and of its reaped workers) and
writes into a temporary directory removed afterwards. Two sizes are measured, N/10 and N: a
peak RSS that does not grow with N shows that the population is streamed. Writes
`bench/out/generate.json` and the Markdown section `bench/out/sections/generate.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

_CHILD = """
import json, resource, sys
from pathlib import Path
from hygie.demo.generate import generate
patients, seed, workers, gz, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", Path(sys.argv[5])
def cpu():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
before = cpu()
s = generate(out, patients=patients, seed=seed, compress=gz, workers=workers, progress=False)
print(json.dumps({"counts": dict(s.counts), "seconds": s.seconds, "bytes": s.bytes_written,
                  "cpu": cpu() - before, "peak_rss_kib": s.peak_rss_kib}))
"""


def measure(patients: int, seed: int, workers: int, gz: bool) -> dict:
    """One run of the generator in a child process: counts, wall and CPU time, peak RSS."""
    tmp = Path(tempfile.mkdtemp(prefix="hygie-generate-", dir=OUT))
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(patients),
                str(seed),
                str(workers),
                str(int(gz)),
                str(tmp),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    total = sum(result["counts"].values())
    cpu = result["cpu"]  # generator and its workers, imports excluded
    return {
        "patients": patients,
        "workers": workers,
        "gzip": gz,
        "resources": total,
        "counts": result["counts"],
        "generate_seconds": round(result["seconds"], 2),
        "process_seconds": round(wall, 2),
        "resources_per_second": round(total / result["seconds"]),
        "cpu_seconds": round(cpu, 2),
        "resources_per_cpu_second": round(total / cpu) if cpu else None,
        "megabytes_written": round(result["bytes"] / 1e6, 1),
        "peak_rss_mib": round(result["peak_rss_kib"] / 1024),
    }


def table(runs: list[dict], machine: dict) -> str:
    lines = [
        "## Synthetic population generator (`hygie generate`)",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['system']}, Python {machine['python']};"
        f" measured {machine['when']} with `.venv/bin/python -m bench.generate_speed"
        f" --patients {max(r['patients'] for r in runs)}` (load average at the end:"
        f" {machine['load_average'][0]:.1f}; other work on the machine slows the wall-clock rate,"
        " not the rate per CPU-second). Each run is a fresh process writing"
        " NDJSON files into a temporary directory; the rate counts every resource written"
        " (wall clock, from the first unit to the last byte); CPU-seconds count the generator and"
        " its workers, imports excluded; peak RSS is the largest resident set of the process or"
        " of one worker. Target (issue 5): ≥ 50,000 resources/s,"
        " memory bounded whatever the population.",
        "",
        "| patients | workers | gzip | resources | seconds | resources/s | resources per CPU-second"
        " | MB written | peak RSS (MiB) |",
        "| ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r['patients']:,} | {r['workers']} | {'yes' if r['gzip'] else 'no'}"
            f" | {r['resources']:,} | {r['generate_seconds']} | {r['resources_per_second']:,}"
            f" | {r['resources_per_cpu_second'] or 0:,} | {r['megabytes_written']:,}"
            f" | {r['peak_rss_mib']} |"
        )
    biggest = max(runs, key=lambda r: r["patients"])
    lines += [
        "",
        f"Resources of the {biggest['patients']:,}-patient population: "
        + ", ".join(f"{n:,} {t}" for t, n in sorted(biggest["counts"].items()))
        + ".",
        "",
    ]
    return "\n".join(lines)


def collect(patients: int, seed: int = 2026, workers: int = 1, gz: bool = False) -> dict:
    """Runs at N/10 and N (one worker), at N with one worker per CPU, and optionally gzipped."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sections").mkdir(exist_ok=True)
    sizes = sorted({max(100, patients // 10), patients})
    runs = []
    for n in sizes:
        runs.append(measure(n, seed, workers, False))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "counts"}), flush=True)
    if workers == 1 and (os.cpu_count() or 1) > 1:
        runs.append(measure(patients, seed, os.cpu_count() or 1, False))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "counts"}), flush=True)
    if gz:
        runs.append(measure(patients, seed, workers, True))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "counts"}), flush=True)
    machine = {
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": os.getloadavg(),
    }
    result = {"machine": machine, "runs": runs}
    (OUT / "generate.json").write_text(json.dumps(result, indent=2))
    return result


def run(quick: bool) -> dict:
    """bench/suites.py protocol: 100,000 patients (2,000 when quick), plain and gzipped."""
    return collect(2_000 if quick else 100_000, gz=True)


def markdown(result: dict) -> str:
    """bench/suites.py protocol: the section of docs/benchmarks.md (a `###` heading)."""
    return "#" + table(result["runs"], result["machine"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gzip", action="store_true", help="also measure --gzip at N")
    args = parser.parse_args()
    result = collect(args.patients, args.seed, args.workers, args.gzip)
    (OUT / "sections" / "generate.md").write_text(table(result["runs"], result["machine"]))
    print(f"wrote {OUT / 'generate.json'} and {OUT / 'sections' / 'generate.md'}")


if __name__ == "__main__":
    main()
