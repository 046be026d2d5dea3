"""PostgreSQL: a read nested inside a read on the same thread (the access policy loading
facts while a search's results are checked) reuses the thread's connection. With one pool
connection per thread already taken, asking the pool for a second one deadlocked searches
until the pool timeout."""

from __future__ import annotations

import threading

import pytest

from hygie.store import open_backend


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_nested_reads_never_wait_for_the_pool(db_url: str) -> None:
    from hygie.store.postgres import PostgresBackend

    backend = open_backend(db_url)
    assert isinstance(backend, PostgresBackend)
    size = backend.pool.max_size
    results: list[int] = []
    barrier = threading.Barrier(size)

    def worker() -> None:
        with backend.read() as outer:
            barrier.wait(timeout=10)  # every pool connection is now held by one thread
            with backend.read() as inner:  # would wait for the pool forever (30 s timeout)
                results.append(inner.fetchone("SELECT 1")[0] + outer.fetchone("SELECT 1")[0])

    threads = [threading.Thread(target=worker) for _ in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    backend.close()
    assert results == [2] * size
