"""The `hygie` command line: serve, import, demo, generate."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from hygie.config import DEFAULT_DB, Config

app = typer.Typer(
    help="Hygie: France's digital-health services on HL7 FHIR R4.", no_args_is_help=True
)

DbOption = typer.Option(
    DEFAULT_DB, "--db", help="Database URL: sqlite:///path.db or postgresql://…"
)


@app.command()
def serve(
    db: str = DbOption,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, help="Server processes."),
    max_body: int = typer.Option(16 * 1024 * 1024, help="Largest accepted request body, bytes."),
    public_base: str = typer.Option("", help="Public FHIR base URL when behind a proxy."),
    server: str = typer.Option(
        "granian", help="HTTP server: granian (its native RSGI interface) or uvicorn (ASGI)."
    ),
    open_: bool = typer.Option(
        False,
        "--open",
        help="No authentication: every request acts as the server itself. For benchmarks and "
        "development only; by default every FHIR request needs a bearer token.",
    ),
) -> None:
    """Serve the platform (FHIR base /fhir; login and OpenID Connect provider under /auth)."""
    cfg = Config(db=db, max_body=max_body, public_base=public_base or None, open=open_)
    os.environ.update(cfg.to_env())
    from hygie.store import open_repository

    open_repository(db).close()  # create the schema once, before workers start
    if not open_:
        from hygie.auth.install import prepare

        prepare(db)  # the authentication tables and the first signing key, once
        _start_background(db)
    mode = "OPEN: no authentication (development only)" if open_ else "tokens required"
    typer.echo(f"Hygie serving http://{host}:{port}/fhir  (database {_redact(db)}; {mode})")
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            "hygie.rest.asgi:app", host=host, port=port, workers=workers, log_level="warning"
        )
        return
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "hygie.rest.asgi:app",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        log_level="warning",
        backlog=2048,
    ).serve()


def _start_background(db: str) -> None:
    """The node's background process (hygie/background.py): the audit shipper, unless
    HYGIE_AUDIT_SHIPPER=thread or the database has no spool (the workers then only journal),
    and the outbox dispatcher (patient notifications)."""
    from hygie.audit import spool_dir
    from hygie.background import supervise
    from hygie.store import open_backend

    ship = os.environ.get("HYGIE_AUDIT_SHIPPER", "process") == "process"
    if ship:
        backend = open_backend(db)
        try:
            ship = spool_dir(backend) is not None
        finally:
            backend.close()
    if ship:
        os.environ["HYGIE_AUDIT_SHIPPER"] = "process"  # read by the workers (audit.install)
    supervise(db, ship=ship)


@app.command()
def background(
    db: str = DbOption,
    ship: bool = typer.Option(
        True, "--ship/--no-ship", help="Ship and seal the workers' audit records here."
    ),
    parent: int = typer.Option(0, help="Stop when this process is gone (serve passes its id)."),
) -> None:
    """The node's background process (hygie serve starts it): audit shipper and sealer, outbox
    dispatcher (patient notifications)."""
    from hygie.background import run

    run(db, ship=ship, parent=parent or None)


@app.command("import")
def import_(
    paths: list[Path] = typer.Argument(  # noqa: B008 (typer's declaration style)
        ..., help="Bundle (.json, .json.gz) or NDJSON (.ndjson, .ndjson.gz) files, or directories."
    ),
    db: str = DbOption,
    batch: int = typer.Option(1000, help="Resources per database transaction for NDJSON."),
    workers: int = typer.Option(
        1,
        help="Processes that parse, validate and index NDJSON batches; with more than one, "
        "batches commit in any order.",
    ),
) -> None:
    """Load FHIR Bundles (transaction, batch, collection…) and NDJSON files.

    NDJSON: one resource per line, --batch resources per transaction. Invalid lines (bad JSON, invalid resource) are reported as file:line and skipped; the valid rest of their batch is still stored.

    Bundles: a transaction or collection Bundle file is all or nothing (invalid entries are reported by index, nothing of the file is stored); batch Bundle entries succeed or fail one by one.

    Exit code 1 if anything was not stored, 2 if the database cannot be opened.
    """
    from hygie.importer import run_import

    code = run_import(paths, db=db, batch=batch, workers=workers)
    raise typer.Exit(code)


@app.command()
def demo(
    db: str = DbOption,
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing when the database already holds resources."
    ),
    patients: int = typer.Option(200, help="Number of synthetic patients."),
    seed: int = typer.Option(2026, help="Seed of the generator (same seed, same data)."),
) -> None:
    """Load a small synthetic French population (test INS, RPPS, FINESS) for demonstration."""
    from hygie.demo import run_demo

    code = run_demo(db, if_empty=if_empty, patients=patients, seed=seed)
    if code == 0:  # the demo login accounts (README.md, "Demo accounts"); idempotent
        from hygie.auth.demo_accounts import ensure_demo_accounts

        ensure_demo_accounts(db)
    raise typer.Exit(code)


@app.command()
def generate(
    out: Path = typer.Option(  # noqa: B008 (typer's declaration style)
        ...,
        "--out",
        help="Directory for the NDJSON files (created; its .ndjson files are replaced).",
    ),
    patients: int = typer.Option(1000, help="Number of synthetic patients."),
    seed: int = typer.Option(2026, help="Seed (same seed and size, byte-identical files)."),
    gzip: bool = typer.Option(False, "--gzip", help="Write .ndjson.gz files."),
    workers: int = typer.Option(
        0, help="Processes that render blocks of patients (0: one per CPU); same output."
    ),
) -> None:
    """Write a synthetic French population as NDJSON, one file per resource type.

    Families with legal representatives, test INS/NIR, practitioners (RPPS), organisations (FINESS), encounters, observations, conditions, immunizations, prescriptions and dispensations, documents with small PDF reports, imaging studies, appointments (teleconsultations included).

    Every reference resolves inside the files: load them with `hygie import DIR`. A progress bar and a summary (counts, rate, peak memory) are printed.
    """
    from hygie.demo.generate import run_generate

    raise typer.Exit(
        run_generate(out, patients=patients, seed=seed, compress=gzip, workers=workers)
    )


@app.command()
def reindex(
    db: str = DbOption,
    chunk: int = typer.Option(500, help="Resources per transaction."),
    contained: bool = typer.Option(
        False,
        "--contained",
        help="Index the contained resources of resources stored before 2026-11-27 (chains such "
        "as ITI-67 author.family look inside them), instead of the custom-parameter jobs.",
    ),
) -> None:
    """Index existing resources for new or changed custom SearchParameters (resumable: run it
    again after an interruption; the server may keep serving meanwhile)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from hygie import search
    from hygie.store import open_repository

    repo = open_repository(db)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ) as bar:
            tasks: dict[int, object] = {}

            def progress(job: int, done: int, total: int) -> None:
                if job not in tasks:
                    label = f"job {job}" if job else "contained resources"
                    tasks[job] = bar.add_task(label, total=total)
                bar.update(tasks[job], completed=done, total=total)  # type: ignore[arg-type]

            if contained:
                count = search.reindex_contained(repo.backend, chunk=chunk, progress=progress)
            else:
                count = search.run_reindex(repo.backend, chunk=chunk, progress=progress)
        typer.echo(f"Reindexed {count} resources.")
    finally:
        repo.close()


def _redact(url: str) -> str:
    """Never print a database password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def _mount_auth() -> None:
    from hygie.auth.cli import client_app, keys_app, user_app

    app.add_typer(user_app, name="user")
    app.add_typer(client_app, name="client")
    app.add_typer(keys_app, name="keys")


_mount_auth()


def _mount_audit() -> None:
    from hygie.audit.cli import audit_app

    app.add_typer(audit_app, name="audit")


_mount_audit()

if __name__ == "__main__":
    app()
