"""`hygie audit verify` (and `hygie audit seal`): check the audit trail's hash chain."""

from __future__ import annotations

import typer

from hygie.config import DEFAULT_DB

audit_app = typer.Typer(
    help="The audit trail: verify its hash chain, ship and seal records.", no_args_is_help=True
)
DbOption = typer.Option(
    DEFAULT_DB, "--db", help="Database URL: sqlite:///path.db or postgresql://…"
)


def _backend(db: str):  # type: ignore[no-untyped-def]
    """The database, its audit tables created if it has none yet, and the spooled records of
    server processes that are gone shipped in (those of live ones ship themselves)."""
    from hygie.audit import spool_dir
    from hygie.audit.recorder import AuditRecorder
    from hygie.store import open_backend

    backend = open_backend(db)
    recorder = AuditRecorder(backend, spool=spool_dir(backend))
    recorder.close()  # ships, adopting the journals nobody holds, and removes its own
    return backend


@audit_app.command()
def verify(
    db: str = DbOption,
    seal_first: bool = typer.Option(
        True, "--seal/--no-seal", help="Chain the records committed since the last seal first."
    ),
) -> None:
    """Walk the whole chain: exit 1 and list what was deleted, altered or inserted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from hygie.audit.chain import seal_all
    from hygie.audit.chain import verify as run_verify

    backend = _backend(db)
    try:
        if seal_first:
            seal_all(backend)
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn()
        ) as bar:
            task = bar.add_task("verifying", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = run_verify(backend, progress=progress)
    finally:
        backend.close()
    typer.echo(
        f"{report.checked} records checked (sealed gaps included); head {report.head} {report.head_hash}"
    )
    if report.unsealed:
        typer.echo(f"{report.unsealed} records not sealed yet")
    for problem in report.problems:
        typer.echo(f"PROBLEM: {problem}", err=True)
    if not report.ok:
        typer.echo(f"The audit trail was tampered with: {len(report.problems)} problems", err=True)
        raise typer.Exit(1)
    typer.echo("The audit trail is intact.")


@audit_app.command()
def seal(db: str = DbOption) -> None:
    """Chain the records committed since the last seal (the server does it every second)."""
    from hygie.audit.chain import seal_all

    backend = _backend(db)
    try:
        typer.echo(f"{seal_all(backend)} records sealed")
    finally:
        backend.close()


@audit_app.command()
def ship(
    db: str = DbOption,
    every: float = typer.Option(0.2, help="Seconds between shipping rounds."),
    seal_every: float = typer.Option(1.0, help="Seconds between sealings (0: never)."),
    parent: int = typer.Option(
        0, help="Stop when this process is gone (hygie serve passes its own id)."
    ),
) -> None:
    """Run the node's audit shipper: journaled read records of every server process of this
    database into the audit tables, and the hash chain sealed (hygie serve starts it)."""
    from hygie.audit import spool_dir
    from hygie.audit.shipper import run
    from hygie.store import open_backend

    backend = open_backend(db)
    directory = spool_dir(backend)
    if directory is None:
        backend.close()
        raise typer.BadParameter("this database has no audit spool (in-memory, or spool off)")
    try:
        run(backend, directory, every=every, seal_every=seal_every, parent=parent or None)
    finally:
        backend.close()
