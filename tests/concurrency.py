"""Running work in real concurrent threads, each on its own database connection."""

from __future__ import annotations

import contextlib
import threading

from django.db import connection, connections


@contextlib.contextmanager
def _pool_room_for(n: int):
    """Let n threads hold a pooled connection at once, for as long as the race runs.

    The PostgreSQL pool is sized for the web's threads (DB_POOL_MAX). A race of more threads
    than that would not be concurrent at all: the extra threads would queue for a connection,
    and on a loaded machine time out after DB_POOL_TIMEOUT before the holders finish. The
    connections are opened before the race starts: the pool grows one connection at a time,
    which under load took longer than that timeout too.
    """
    pool = getattr(connection, "pool", None)
    needed = n + 1  # and the test's own connection, which it may be holding
    if pool is None or pool.max_size >= needed:
        yield
        return
    min_size, max_size = pool.min_size, pool.max_size
    pool.resize(needed, needed)
    try:
        pool.wait(timeout=60)
        yield
    finally:
        pool.resize(min_size, max_size)


def race(n: int, work) -> list:
    """Run `work(i)` in n threads released together; return what each returned or raised."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            outcomes[i] = exc
        finally:
            connections.close_all()

    with _pool_room_for(n):
        threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    return outcomes
