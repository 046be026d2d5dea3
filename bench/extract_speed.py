"""Micro-benchmark of search index extraction: µs per resource, by resource type, of the
reference extractor (`index.extract_reference`: one walker and converter per parameter) and
of the generated one (`index.extract`: codegen.py), on the demo population.

Run: `.venv/bin/python bench/extract_speed.py [--patients N] [--rounds R]`. CPU time
(`time.process_time`), best of R interleaved rounds (the machine may be shared); also the
Python function calls per resource (deterministic).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hygie.demo.population import population
from hygie.search.index import extract, extract_reference

Resource = dict[str, Any]


def cpu(fn: Callable[[Resource], Any], resources: list[Resource]) -> float:
    start = time.process_time()
    for r in resources:
        fn(r)
    return time.process_time() - start


def calls(fn: Callable[[Resource], Any], resources: list[Resource]) -> float:
    """Function calls (Python and C) per resource: a deterministic measure of the work."""
    n = 0

    def count(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal n
        if event in ("call", "c_call"):
            n += 1

    sys.setprofile(count)
    try:
        for r in resources:
            fn(r)
    finally:
        sys.setprofile(None)
    return n / len(resources)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()

    resources = list(population(args.patients, args.seed))
    by_type: dict[str, list[Resource]] = defaultdict(list)
    for r in resources:
        by_type[r["resourceType"]].append(r)
    groups = {"(all)": resources, **dict(sorted(by_type.items(), key=lambda kv: -len(kv[1])))}
    for r in resources:  # compile plans and extractors, warm the memo caches
        extract_reference(r)
        extract(r)

    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for name, group in groups.items():
            for label, fn in (("reference", extract_reference), ("generated", extract)):
                t = cpu(fn, group) / len(group) * 1e6
                best[name, label] = min(best.get((name, label), t), t)

    print(
        f"{len(resources)} resources (population({args.patients}, {args.seed})),"
        f" best of {args.rounds} rounds, CPU µs per resource"
    )
    print(
        f"{'type':<18}{'n':>6}{'reference':>12}{'generated':>12}{'speed-up':>10}"
        f"{'calls ref':>11}{'calls gen':>11}"
    )
    for name, group in groups.items():
        ref, gen = best[name, "reference"], best[name, "generated"]
        cr, cg = calls(extract_reference, group), calls(extract, group)
        print(
            f"{name:<18}{len(group):>6}{ref:>12.1f}{gen:>12.1f}{ref / gen:>9.1f}×"
            f"{cr:>11.0f}{cg:>11.0f}"
        )


if __name__ == "__main__":
    main()
