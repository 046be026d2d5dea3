"""`make bench` = `python -m bench`: every measurement in one run, then docs/benchmarks.md.

Order: data files -> HTTP ceiling (minimal ASGI app, granian, 1 worker) -> in-process write
costs -> for SQLite then PostgreSQL: database ceiling, bulk import, HTTP loads against
`hygie serve --open` through bench.load (seeding through the API, then read, create, update,
search, transaction, import, mixed, each beside the harness's own ceiling), in-process creates,
profiles where a target is missed -> the suites of bench/suites.py (other benchmark modules,
each with `run(quick)` and `markdown(result)`). Raw results go to bench/out/ (gitignored);
tables to docs/benchmarks.md, the load plot to docs/benchmarks-load.png.

Options: --duration S (measured seconds per wrk run, default 10), --warmup S (default 3),
--backends sqlite,postgres, --no-profile, --import-patients N (x5 resources),
--load-patients N (patient records seeded through the API), --no-doc,
--quick (short runs: 3 s per load, small data sets, no profiles, suites in quick mode),
--only NAME (one part: `http`, `import`, or a suite such as `bench.scale`; prints its result
and leaves docs/benchmarks.md alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

import bench.load
from bench import data, dbceiling, inproc, pgserver, profile, report, suites
from bench.load import plans, runner
from bench.pgserver import free_port
from bench.procs import Server

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DATA = OUT / "data"
LOGS = OUT / "logs"
BIN = Path(sys.executable).parent
READ_PATIENTS = 10_000
CONNS = 16
DB_PIDS = None  # set to a callable returning the PostgreSQL server's pids while it runs
TX_CONNS = 4  # a 100-entry bundle is 100 writes: 4 in flight keep the server busy
LOAD_SCENARIOS = ["read", "create", "update", "search", "transaction", "import", "mixed"]
PLOT = ROOT / "docs" / "benchmarks-load.png"
ONLY_STEPS = {"http": ("http",), "import": ("import",)}  # --only NAME: the steps it runs


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- data files -------------------------------------------------------------------------------
def write_data(import_patients: int) -> dict[str, Any]:
    DATA.mkdir(parents=True, exist_ok=True)
    ids = [f"pat-{i}" for i in range(READ_PATIENTS)]
    # the ceiling's read plan: GET of the Patients it holds (bench/ceiling_app.py)
    plans.write(
        {"read": (1, [plans.Request("GET", f"/fhir/Patient/{i}") for i in ids])},
        DATA / "ceiling-read.plan",
    )
    resources = data.import_set(import_patients, 4)
    imp = DATA / "import"
    shutil.rmtree(imp, ignore_errors=True)
    imp.mkdir()
    with open(imp / "Patient.ndjson", "wb") as fp, open(imp / "Observation.ndjson", "wb") as fo:
        for r in resources:
            (fp if r["resourceType"] == "Patient" else fo).write(orjson.dumps(r) + b"\n")
    return {"ids": ids, "import": resources}


# -- HTTP ceiling -----------------------------------------------------------------------------
def http_ceiling(args, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    variants = [
        ("raw ASGI", "app", [1, 2], 1),
        ("Starlette", "starlette_app", [1], 1),
        ("raw ASGI", "app", [1], 2),  # beside Hygie with 2 workers (one per core)
    ]
    for label, app, threads, workers in variants:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "bench.ceiling_app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--app",
            app,
        ]
        srv = Server(
            f"ceiling {label}",
            cmd,
            port,
            "/fhir/Patient/pat-0",
            {"BENCH_CEILING_N": str(READ_PATIENTS), "PYTHONPATH": str(ROOT)},
            LOGS / f"ceiling-{app}.log",
        )
        with srv:
            for t in threads:
                log(f"HTTP ceiling {label}, wrk -t{t}")
                r = runner.run(
                    srv.base,
                    DATA / "ceiling-read.plan",
                    threads=t,
                    conns=CONNS,
                    duration=args.duration,
                    warmup=args.warmup,
                    server_pids=srv.pids,
                    quiet=not args.quick,
                )
                r["server_command"] = "python -m bench.ceiling_app " + " ".join(cmd[3:])
                out[f"{app}_t{t}" if workers == 1 else f"{app}_w{workers}_t{t}"] = r
    return out


# -- Hygie over HTTP --------------------------------------------------------------------------
def hygie_server(url: str, tmp: Path, name: str, workers: int = 1) -> Server:
    port = free_port()
    cmd = [
        str(BIN / "hygie"),
        "serve",
        "--db",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--server",
        "granian",
        "--open",  # the bare FHIR path, no tokens (the policy-on runs say otherwise)
    ]
    log_name = f"hygie-{name}.log" if workers == 1 else f"hygie-{name}-w{workers}.log"
    return Server(f"hygie {name}", cmd, port, "/fhir/metadata", {}, LOGS / log_name)


def http_loads(args, url: str, tmp: Path, name: str, results: dict[str, Any]) -> None:
    """bench.load against `hygie serve`; the read, create, update and transaction figures are
    also kept under their old keys (the targets and findings of report.py use them)."""
    log(f"{name}: preloading {READ_PATIENTS} patients (Repository.load, for the in-process runs)")
    pre = inproc.bulk_load(url, [data.patient(i, rid=f"pat-{i}") for i in range(READ_PATIENTS)])
    results["preload"] = pre
    results["serve_db"] = url
    srv = hygie_server(url, tmp, name)
    title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(name, name)
    with srv:
        results["server_command"] = " ".join(srv.cmd)
        load = bench.load.run(
            srv.base + "/fhir",
            LOAD_SCENARIOS,
            duration=args.duration,
            warmup=args.warmup,
            connections=CONNS,
            threads=1,
            bundle_connections=TX_CONNS,
            patients=args.load_patients,
            tx_entries=100,
            import_batch=50 if args.quick else 200,
            ceiling=True,
            out_dir=OUT / f"load-{name}",
            label=f"Hygie on {title}",
            server_pids=srv.pids,
            db_pids=DB_PIDS,
            quiet=not args.quick,
            log=lambda m: log(f"{name}: {m}"),
        )
        results["load"] = load
        for scen in ("read", "create", "update", "transaction"):
            if scen in load["scenarios"]:
                results[scen] = load["scenarios"][scen]
        results["probes"] = {
            f"{scen}:{kind}": p
            for scen, kinds in load.get("probes", {}).items()
            for kind, p in kinds.items()
        }
        read_plan = load["scenarios"].get("read", {}).get("plan")
        if read_plan:  # as the -t2 ceiling run, for the same comparison
            log(f"{name}: wrk read -t2")
            results["read_t2"] = _guarded(
                lambda: runner.run(
                    srv.base + "/fhir",
                    Path(read_plan),
                    threads=2,
                    conns=CONNS,
                    duration=args.duration,
                    warmup=args.warmup,
                    server_pids=srv.pids,
                    db_pids=DB_PIDS,
                    quiet=not args.quick,
                )
            )
    results["server_log_tail"] = _tail(srv.log)
    if not read_plan:
        return
    # Reads again with one server process per core, beside the 2-worker ceiling.
    srv2 = hygie_server(url, tmp, name, workers=2)
    with srv2:
        log(f"{name}: wrk read, 2 workers")
        results["read_w2"] = _guarded(
            lambda: runner.run(
                srv2.base + "/fhir",
                Path(read_plan),
                conns=CONNS,
                threads=1,
                duration=args.duration,
                warmup=args.warmup,
                server_pids=srv2.pids,
                db_pids=DB_PIDS,
                quiet=not args.quick,
            )
        )


def _guarded(fn) -> dict[str, Any]:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return {"error": repr(e)}


def _tail(path: Path | None, n: int = 30) -> str:
    if not path or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


# -- bulk import ------------------------------------------------------------------------------
def bulk_import(args, make_url, resources, rows, name: str, results: dict[str, Any]) -> None:
    n = len(resources)
    log(f"{name}: database ceiling ({n} resources, {dbceiling.count_rows(rows)} rows)")
    if name == "sqlite":
        results["db_ceiling"] = dbceiling.sqlite_executemany(
            make_url("ceiling")[len("sqlite:///") :], rows
        )
    else:
        results["db_ceiling"] = dbceiling.postgres_copy(make_url("ceiling_copy"), rows)
        results["db_ceiling_executemany"] = dbceiling.postgres_executemany(
            make_url("ceiling_em"), rows
        )
    log(f"{name}: Repository.load, batches of 1000")
    results["load_inproc"] = inproc.bulk_load(make_url("load"), resources)
    empty = DATA / "empty" / "Empty.ndjson"
    empty.parent.mkdir(exist_ok=True)
    empty.write_text("")
    t0 = time.perf_counter()
    subprocess.run(
        [str(BIN / "hygie"), "import", str(empty), "--db", make_url("import0")],
        capture_output=True,
        cwd=ROOT,
    )
    results["import_cli_startup_s"] = time.perf_counter() - t0
    for workers in (1, 2):
        url = make_url(f"import{workers}")
        cmd = [
            str(BIN / "hygie"),
            "import",
            str(DATA / "import"),
            "--db",
            url,
            "--batch",
            "1000",
            "--workers",
            str(workers),
        ]
        log(f"{name}: hygie import --workers {workers}")
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        secs = time.perf_counter() - t0
        stored = _count_resources(url)
        results[f"import_cli_w{workers}"] = {
            "command": " ".join(cmd),
            "returncode": p.returncode,
            "seconds": secs,
            "resources": n,
            "stored": stored,
            "resources_per_s": (stored or 0) / secs,
            "output_tail": (p.stdout + p.stderr)[-1500:],
        }


def _count_resources(url: str) -> int | None:
    try:
        if url.startswith("sqlite"):
            import sqlite3

            with sqlite3.connect(url[len("sqlite:///") :]) as c:
                return c.execute("SELECT count(*) FROM resources").fetchone()[0]
        import psycopg

        with psycopg.connect(url) as c:
            return c.execute("SELECT count(*) FROM resources").fetchone()[0]
    except Exception:  # noqa: BLE001
        return None


# -- the run ----------------------------------------------------------------------------------
def backend_run(
    args, name: str, make_url, dataset, rows, tmp: Path, ceiling_rps: float
) -> dict[str, Any]:
    res: dict[str, Any] = {"backend": name}
    steps = [
        ("import", lambda: bulk_import(args, make_url, dataset["import"], rows, name, res)),
        ("http", lambda: http_loads(args, make_url("serve"), tmp, name, res)),
        (
            "inproc_create",
            lambda: res.update(inproc_create=inproc.single_creates(make_url("creates"), 1000)),
        ),
        (
            "asgi_inproc",
            lambda: res.update(
                asgi_read=inproc.asgi_requests(res["serve_db"], "read", 3000),
                asgi_create=inproc.asgi_requests(res["serve_db"], "create", 500),
            ),
        ),
    ]
    for step, fn in steps:
        if args.only and step not in ONLY_STEPS.get(args.only, ()):
            continue
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one broken step must not hide the others
            log(f"{name}: step {step} FAILED: {e!r}")
            res.setdefault("failures", {})[step] = traceback.format_exc()[-3000:]
    if not args.no_profile and not args.only:
        profiles(args, name, make_url, dataset, tmp, ceiling_rps, res)
    return res


def profiles(args, name, make_url, dataset, tmp, ceiling_rps, res) -> None:
    """py-spy around the server for the HTTP figures that miss a target; cProfile for import."""
    prof: dict[str, Any] = {}
    read = res.get("read", {}).get("ok_rps", 0)
    create = res.get("create", {}).get("ok_rps", 0)
    wanted = []
    if read < 0.5 * ceiling_rps:
        wanted.append("read")
    if create < 2000:
        wanted.append("create")
    if wanted:
        url = res["serve_db"]  # the database the HTTP loads ran on (seeded, and more)
        for scen in wanted:
            plan = res.get(scen, {}).get("plan")
            if not plan:
                continue
            log(f"{name}: py-spy profile of {scen}")
            try:
                prof[scen] = profile.record(
                    hygie_server(url, tmp, f"{name}-prof-{scen}"),
                    OUT / f"pyspy-{name}-{scen}.txt",
                    Path(plan),
                    duration=min(args.duration, 8),
                )
            except Exception as e:  # noqa: BLE001
                prof[scen] = {"error": repr(e)}
    best_import = max(
        (res.get(f"import_cli_w{w}", {}).get("resources_per_s", 0) for w in (1, 2)), default=0
    )
    if best_import < 10_000:
        log(f"{name}: cProfile of Repository.load")
        try:
            prof["import"] = inproc.bulk_load(
                make_url("loadprof"), dataset["import"][:5000], profile=True
            )["profile"]
        except Exception as e:  # noqa: BLE001
            prof["import"] = {"error": repr(e)}
    if read < 0.5 * ceiling_rps:
        log(f"{name}: cProfile of the ASGI app serving reads")
        try:
            prof["read_asgi_inproc"] = inproc.asgi_requests(
                res["serve_db"], "read", 2000, profile=True
            )["profile"]
        except Exception as e:  # noqa: BLE001
            prof["read_asgi_inproc"] = {"error": repr(e)}
    if create < 2000:
        log(f"{name}: cProfile of Repository.create")
        try:
            prof["create_inproc"] = inproc.profile_creates(make_url("createprof"), 500)
        except Exception as e:  # noqa: BLE001
            prof["create_inproc"] = {"error": repr(e)}
    res["profiles"] = prof


def validation_speed() -> dict[str, Any]:
    script = ROOT / "bench" / "validation_speed.py"
    if not script.exists():
        return {"missing": True}
    p = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return {"returncode": p.returncode, "output": p.stdout.strip(), "stderr": p.stderr[-1500:]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="measured seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--import-patients", type=int, default=2000)
    ap.add_argument("--load-patients", type=int, default=1000, help="records seeded by bench.load")
    ap.add_argument("--no-doc", action="store_true", help="leave docs/benchmarks.md alone")
    ap.add_argument("--quick", action="store_true", help="short runs on small data (a check)")
    ap.add_argument(
        "--only",
        help="one part: http (ceilings + bench.load), import, or a suite of bench/suites.py "
        "(e.g. bench.scale); prints it, does not rewrite docs/benchmarks.md",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = min(args.duration, 3), min(args.warmup, 1)
        args.import_patients = min(args.import_patients, 300)
        args.load_patients = min(args.load_patients, 100)
        args.no_profile = True
    if args.only:
        args.only = suites.resolve(args.only) if args.only not in ONLY_STEPS else args.only
        args.no_doc = True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.time()
    OUT.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "args": vars(args),
        "machine": report.machine_info(),
        "connections": CONNS,
    }
    suite_only = bool(args.only) and args.only not in ONLY_STEPS
    if not suite_only:
        measure_backends(args, results)
    results["suites"] = run_suites(args)
    results["elapsed_s"] = time.time() - started
    results["git_end"] = report.git_state()
    path = _save(results)
    log(f"raw results: {path.relative_to(ROOT)}")
    loads = [results[b]["load"] for b in ("sqlite", "postgres") if "load" in results.get(b, {})]
    if args.only:
        print(report.render_only(results, args.only))
        return
    if loads and not args.no_doc:
        try:
            from bench.load.plot import plot

            plot(loads, PLOT, title=f"bench.load against hygie serve — {results['started']}")
            results["plot"] = str(PLOT.relative_to(ROOT))
            _save(results)  # re-rendering later (`python -m bench.report`) keeps the picture
        except Exception as e:  # noqa: BLE001 - the tables matter more than the picture
            log(f"plot failed: {e!r}")
    if not args.no_doc:
        doc = ROOT / "docs" / "benchmarks.md"
        doc.write_text(report.render(results))
        log(f"wrote {doc.relative_to(ROOT)} in {results['elapsed_s']:.0f} s")
    else:
        print(report.render(results))


def measure_backends(args, results: dict[str, Any]) -> None:
    log("writing data files to bench/out/data")
    dataset = write_data(args.import_patients)
    tmp = Path(tempfile.mkdtemp(prefix="hygie-bench-"))
    stop_pg = None
    try:
        ceiling_rps = 0.0
        if not args.only or args.only == "http":
            results["ceiling"] = http_ceiling(args, tmp)
            ceiling_rps = results["ceiling"]["app_t1"]["ok_rps"]
        rows = None
        if not args.only:
            log("in-process write costs")
            results["write_steps"] = inproc.write_steps()
            results["validation_speed"] = validation_speed()
        if not args.only or args.only == "import":
            log("preparing the rows of the import set (for the database ceiling)")
            rows = dbceiling.prepare_rows(dataset["import"])
        for name in args.backends.split(","):
            if name == "sqlite":

                def make_url(label: str) -> str:
                    return f"sqlite:///{tmp}/{label}.db"
            elif name == "postgres":
                log("starting a throwaway PostgreSQL")
                pg_url, stop_pg = pgserver.start()
                global DB_PIDS
                DB_PIDS = lambda d=stop_pg.data_dir: pgserver.server_pids(d)  # noqa: E731
                results["machine"]["postgresql"] = _pg_version(pg_url)

                def make_url(label: str, pg_url=pg_url) -> str:
                    return pgserver.create_database(pg_url, f"bench_{label}")
            else:
                raise SystemExit(f"unknown backend {name}")
            results[name] = backend_run(args, name, make_url, dataset, rows, tmp, ceiling_rps)
            _save(results)
    finally:
        if stop_pg:
            stop_pg()
        shutil.rmtree(tmp, ignore_errors=True)


def run_suites(args) -> dict[str, Any]:
    """Every module of bench/suites.py (or the one of --only): its run(quick) result."""
    out: dict[str, Any] = {}
    if args.only in ONLY_STEPS:
        return out
    for name in suites.SUITES:
        if args.only and name != args.only:
            continue
        log(f"suite {name} ({'quick' if args.quick else 'full'})")
        t0 = time.time()
        try:
            out[name] = {"result": suites.load(name).run(quick=args.quick)}
        except Exception as e:  # noqa: BLE001 - one broken suite must not hide the others
            log(f"suite {name} FAILED: {e!r}")
            out[name] = {"error": traceback.format_exc()[-3000:]}
        out[name]["elapsed_s"] = round(time.time() - t0, 1)
    return out


def _pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as c:
        return c.execute("SHOW server_version").fetchone()[0]


def _save(results: dict[str, Any]) -> Path:
    """bench/out/results.json (what `python -m bench.report` renders) for full runs only;
    --quick and --only runs go to results-quick.json / results-only-NAME.json."""
    a = results["args"]
    name = (
        f"results-only-{a['only']}.json"
        if a.get("only")
        else "results-quick.json"
        if a.get("quick")
        else "results.json"
    )
    path = OUT / name
    blob = json.dumps(results, indent=1, default=str)
    path.write_text(blob)
    stamp = results["started"][:16].replace(" ", "T").replace(":", "")
    (OUT / f"{path.stem}-{stamp}.json").write_text(blob)
    return path


if __name__ == "__main__":
    main()
