"""A throwaway PostgreSQL server for the benchmarks, started from the machine's binaries.

`start()` returns `(url, stop)`. As root, PostgreSQL refuses to run, so when we are root the
server runs as the `postgres` system user (`runuser -u postgres --`), with its data directory
and unix socket in a temporary directory owned by that user. fsync stays ON (the default): the
benchmarks measure real durability settings.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def find_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for cand in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return cand
    raise RuntimeError(
        f"PostgreSQL binary {name!r} not found (apt-get install postgresql, or put it on PATH)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def version() -> str:
    out = subprocess.run([find_bin("pg_ctl"), "--version"], capture_output=True, text=True)
    return out.stdout.strip()


def start(
    *, port: int | None = None, extra_conf: dict[str, str] | None = None
) -> tuple[str, Callable[[], None]]:
    """Start a fresh cluster; return its URL (TCP on 127.0.0.1) and a callable that stops it."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="hygie-bench-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        os.chmod(tmp, 0o700)
    subprocess.run(
        _as_postgres(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{sock}'",
        "max_connections": "100",
        "shared_buffers": "256MB",
        "fsync": "on",  # durability as in production: never turned off for speed
        "synchronous_commit": "on",
        "log_min_messages": "warning",
    }
    conf.update(extra_conf or {})
    with open(data / "postgresql.conf", "a") as f:
        f.write("\n# hygie bench\n")
        for k, v in conf.items():
            f.write(f"{k} = {v}\n")
    log = tmp / "server.log"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"]),
        check=True,
        capture_output=True,
    )

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)

    stop.data_dir = data  # type: ignore[attr-defined]  # postmaster.pid: the server's CPU
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.time() + 30
    import psycopg

    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            break
        except psycopg.OperationalError:
            if time.time() > deadline:
                stop()
                raise
            time.sleep(0.2)
    return url, stop


def server_pids(data_dir: Path) -> list[int]:
    """The postmaster and its children (backends, walwriter, ...)."""
    from bench.procs import proc_tree

    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return proc_tree(pid)


def create_database(url: str, name: str) -> str:
    """A fresh empty database on the server of `url`; returns its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    u, s = start()
    print(u, version())
    s()
