"""The benchmark modules that `python -m bench` (`make bench`) runs after its own measurements.

Protocol (bench/README.md): each entry is an importable module name; the module exposes
    run(quick: bool) -> dict        measures, writes its own JSON under bench/out/, returns it
    markdown(result: dict) -> str   the section(s) of docs/benchmarks.md for that result
`quick=True` must finish in a minute or two (a check that it works, small data).
Its Markdown is inserted in docs/benchmarks.md under "## Suites", in this order; start it with
a `###` heading. `python -m bench --only NAME` runs one (NAME or its last dotted part).
"""

from __future__ import annotations

import importlib
from types import ModuleType

SUITES: list[str] = [
    "bench.scale",  # search and $match at 10 k / 100 k / 1 M (H6); supersedes bench.search/identity
    "bench.policy_overhead",  # access policy + audit on vs off, read and search (H4)
    "bench.generate_speed",  # hygie generate: resources/s and peak RSS at 10 k and 100 k patients (H1)
    "bench.mhd",  # shared record: ITI-65 publications/s, ITI-67 p99 at 1,000 documents (H5)
]


def resolve(name: str) -> str:
    """`scale` or `bench.scale` -> `bench.scale` (a listed suite), else SystemExit."""
    for s in SUITES:
        if name in (s, s.rsplit(".", 1)[-1]):
            return s
    raise SystemExit(f"--only {name}: not http, import, nor a suite of bench/suites.py {SUITES}")


def load(name: str) -> ModuleType:
    mod = importlib.import_module(name)
    for attr in ("run", "markdown"):
        if not callable(getattr(mod, attr, None)):
            raise TypeError(f"{name} has no {attr}() (see bench/suites.py)")
    return mod
