"""`python -m bench.search [--sizes 10000 100000] [--backends sqlite postgres]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.search import markdown, run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/out/search.json"))
    args = parser.parse_args()
    report = run_benchmark(args.sizes, args.backends, repeat=args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(markdown(report))


if __name__ == "__main__":
    main()
