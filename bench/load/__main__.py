"""`python -m bench.load --url URL [options]`: load any FHIR R4 server and report.

Examples:
    python -m bench.load --url http://127.0.0.1:8080/fhir --scenario mixed --duration 30
    python -m bench.load --url https://fhir.example.org/baseR4 --token "$TOKEN" --scenario all
    python -m bench.load --url http://127.0.0.1:8080/fhir --client-id bench \
        --client-secret "$SECRET" --scenario read,search

Writes DIR/load.json, DIR/load.md (and DIR/load.png with --plot) and the request plans in
DIR/plans/. The token may also come from the environment (HYGIE_BENCH_TOKEN), as the client
secret may (HYGIE_BENCH_CLIENT_SECRET): neither is ever printed nor saved.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.load import plans, run
from bench.load.client import client_credentials_token


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Load a FHIR R4 server with wrk; report throughput, latency and errors.",
    )
    ap.add_argument("--url", required=True, help="FHIR base URL, e.g. http://host:8080/fhir")
    ap.add_argument(
        "--scenario",
        action="append",
        help=f"one of {', '.join(plans.SCENARIOS)} or all; repeat or comma-separate "
        "(default: mixed)",
    )
    ap.add_argument("--duration", type=float, default=10, help="measured seconds per scenario")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds per scenario")
    ap.add_argument("--connections", "-c", type=int, default=16)
    ap.add_argument("--threads", "-t", type=int, default=1, help="wrk threads")
    ap.add_argument(
        "--bundle-connections",
        type=int,
        default=4,
        help="connections for transaction and import (each request is many writes)",
    )
    ap.add_argument("--patients", type=int, default=500, help="patient records to seed")
    ap.add_argument("--tx-entries", type=int, default=100, help="entries per transaction")
    ap.add_argument("--import-batch", type=int, default=200, help="entries per import batch")
    ap.add_argument("--token", default=os.environ.get("HYGIE_BENCH_TOKEN"), help="bearer token")
    ap.add_argument("--client-id", help="get a token by the client-credentials grant")
    ap.add_argument("--client-secret", default=os.environ.get("HYGIE_BENCH_CLIENT_SECRET"))
    ap.add_argument(
        "--token-url",
        help="token endpoint (default: from /.well-known/smart-configuration, else /auth/token)",
    )
    ap.add_argument("--scope", help="scope asked with the client-credentials grant")
    ap.add_argument(
        "--no-documents",
        action="store_true",
        help="no DocumentReference in the data (servers with rules on documents)",
    )
    ap.add_argument("--no-ceiling", action="store_true", help="skip the harness ceiling run")
    ap.add_argument("--label", help="name of the target in the report")
    ap.add_argument("--out", type=Path, default=Path("bench/out/load"), help="output directory")
    ap.add_argument("--plot", action="store_true", help="also write DIR/load.png (matplotlib)")
    ap.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    return ap.parse_args(argv)


def scenarios_of(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ["mixed"]:
        for s in v.split(","):
            s = s.strip()
            if s == "all":
                out += [x for x in plans.SCENARIOS if x not in out]
            elif s and s not in out:
                out.append(s)
    bad = [s for s in out if s not in plans.SCENARIOS]
    if bad:
        raise SystemExit(f"unknown scenario(s): {', '.join(bad)}; known: {plans.SCENARIOS}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    token = args.token
    if args.client_id:
        if not args.client_secret:
            raise SystemExit("--client-id needs --client-secret (or HYGIE_BENCH_CLIENT_SECRET)")
        token = client_credentials_token(
            args.url,
            args.client_id,
            args.client_secret,
            args.token_url,
            args.scope,
            verify=not args.insecure,
        )
    result = run(
        args.url,
        scenarios_of(args.scenario),
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        bundle_connections=args.bundle_connections,
        token=token,
        patients=args.patients,
        tx_entries=args.tx_entries,
        import_batch=args.import_batch,
        documents=not args.no_documents,
        ceiling=not args.no_ceiling,
        out_dir=args.out,
        label=args.label,
        verify=not args.insecure,
        log=lambda m: print(f"[bench.load] {m}", file=sys.stderr, flush=True),
    )
    if args.plot:
        from bench.load.plot import plot

        plot([result], args.out / "load.png", title=f"bench.load — {result['label']}")
    print((args.out / "load.md").read_text())
    failed = [s for s, r in result["scenarios"].items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
