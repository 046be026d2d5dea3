"""`python -m bench.identity N [--db URL] [--postgres]`: load N patients, print the figures."""

from __future__ import annotations

import argparse
import json
import tempfile

from bench.identity import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity")
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-load", action="store_true", help="the database already holds them")
    args = parser.parse_args()
    stop = None
    url = args.db
    if args.postgres:
        from bench import pgserver

        url, stop = pgserver.start()
    elif url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='hygie-bench-id-')}/hygie.db"
    try:
        print(
            json.dumps(run(url, args.n, queries=args.queries, skip_load=args.skip_load), indent=2)
        )
    finally:
        if stop:
            stop()


if __name__ == "__main__":
    main()
