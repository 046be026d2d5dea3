"""Shared fixtures: real databases (SQLite files and a throwaway PostgreSQL server started from
the machine's binaries), the Repository, the ASGI app with an in-process HTTP client, and a real
`hygie serve` subprocess.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the server runs as the
`postgres` system user (or `hygie-pg`, created if neither exists) through `runuser`. Each xdist
worker starts its own server; each test gets a fresh database cloned from a template that already
holds the Hygie schema.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from hygie.rest.app import Settings, create_app
from hygie.store import Repository, open_repository

BACKENDS = ["sqlite", "postgres"]
VENV_BIN = Path(sys.executable).parent
PG_USER = "postgres"  # the database superuser name inside the cluster


# -- PostgreSQL server -------------------------------------------------------------------------


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        pytest.exit("PostgreSQL binaries not found: run `make postgres-binaries`", returncode=3)
    return Path(candidates[0]).parent


def _os_user_for_postgres() -> str | None:
    """The system user that runs the server when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "hygie-pg"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "hygie-pg"],
        check=True,
    )
    return "hygie-pg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1:port."""

    root: Path
    port: int
    fsync: bool
    bindir: Path = field(default_factory=_pg_bindir)
    os_user: str | None = field(default_factory=_os_user_for_postgres)
    template: str = "template0"
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    _spare: Future[str] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}\n{tail}")

    def start(self) -> None:
        if self.os_user:
            shutil.chown(self.root, user=self.os_user)
        initdb = ["initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust", "-E", "UTF8"]
        initdb += ["--locale=C"]
        if not self.fsync:
            initdb.append("--no-sync")
        self._run(*initdb)
        opts = [
            f"-p {self.port}",
            f"-k {self.root}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=300",
            "-c shared_buffers=32MB",
        ]
        if not self.fsync:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            " ".join(opts),
        )

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def prepare_template(self) -> None:
        """A template database holding the Hygie schema, so each new database is one clone."""
        with self.admin() as conn:
            conn.execute("CREATE DATABASE hygie_template TEMPLATE template0")
        open_repository(self.url("hygie_template")).close()
        self.template = "hygie_template"

    def _create(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        return name

    def create_database(self) -> str:
        """A new database with the Hygie schema; the next one is cloned in the background
        while the test runs (a clone takes ~0.2 s, most tests less)."""
        if self._spare is None:
            self._spare = self._pool.submit(self._create)
        name = self._spare.result()
        self._spare = self._pool.submit(self._create)
        return name

    def drop_database(self, name: str) -> None:
        self._pool.submit(self._drop, name)

    def _drop(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_postgres(*, fsync: bool) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="hygie-pg-"))
    server = PostgresServer(root=root, port=free_port(), fsync=fsync)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL per test process (each xdist worker has its own)."""
    server = start_postgres(fsync=False)
    try:
        server.prepare_template()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_factory() -> Iterator[Callable[..., PostgresServer]]:
    """Start extra servers with chosen settings (the durability test wants fsync on)."""
    started: list[PostgresServer] = []

    def start(*, fsync: bool) -> PostgresServer:
        server = start_postgres(fsync=fsync)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@contextlib.contextmanager
def fresh_database(backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'hygie.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of each backend (SQLite file in tmp_path; PostgreSQL clone)."""
    with fresh_database(backend, tmp_path, request) as url:
        yield url


@pytest.fixture
def repo(db_url: str) -> Iterator[Repository]:
    repository = open_repository(db_url)
    try:
        yield repository
    finally:
        repository.close()


# -- the ASGI app in process -------------------------------------------------------------------


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app_settings() -> Settings:
    """Override with `@pytest.mark.parametrize("app_settings", [Settings(...)])`.

    Open (no authentication: every request acts as the server itself), explicitly: these tests
    are about FHIR semantics. The secure app (tokens required) is `secure_app` in tests/auth."""
    return Settings(threads=8, open=True)


@pytest.fixture
def app(db_url: str, app_settings: Settings):
    fhir_app = create_app(db_url, app_settings)
    try:
        yield fhir_app
    finally:
        fhir_app.executor.shutdown(wait=True)
        fhir_app.repo.close()


@pytest.fixture
async def client(app, anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=30
    ) as c:
        yield c


# -- a real `hygie serve` subprocess -----------------------------------------------------------


class LiveServer:
    """`hygie serve` in its own process group, so SIGKILL reaches granian and its workers."""

    def __init__(
        self,
        db_url: str,
        workdir: Path,
        server: str = "granian",
        *,
        secure: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.server = server
        self.secure = secure  # False: `hygie serve --open` (no tokens), explicitly
        self.env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self, timeout: float = 60.0) -> str:
        self.port = free_port()
        self.starts += 1
        log = open(self.workdir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
        cmd = [
            str(VENV_BIN / "hygie"),
            "serve",
            "--db",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--server",
            self.server,
        ]
        if not self.secure:
            cmd.append("--open")
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
            env={**os.environ, **self.env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hygie serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # any HTTP answer means the server listens; /metadata itself is tested elsewhere
                httpx.get(f"{self.base}/metadata", timeout=2)
                return self.base
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"hygie serve did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.workdir.glob("server-*.log"))
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to flush or shut down cleanly."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # the group may hold workers even after the parent exited
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Call with a database URL (and optionally server="uvicorn"; secure=True to require tokens;
    env={…} for HYGIE_* settings); returns a started LiveServer."""
    servers: list[LiveServer] = []

    def start(
        db_url: str,
        server: str = "granian",
        *,
        secure: bool = False,
        env: dict[str, str] | None = None,
    ) -> LiveServer:
        workdir = tmp_path / f"live-{len(servers)}"
        workdir.mkdir()
        live = LiveServer(db_url, workdir, server, secure=secure, env=env)
        servers.append(live)
        live.start()
        return live

    yield start
    for live in servers:
        live.stop()


@pytest.fixture
def live_server(db_url: str, live_server_factory) -> str:
    """Base URL (http://127.0.0.1:PORT/fhir) of a real `hygie serve` on the test's database."""
    return live_server_factory(db_url).base
