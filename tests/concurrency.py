"""Running work in real concurrent threads, each on its own database connection."""

from __future__ import annotations

import contextlib
import threading
import time

from django.db import DEFAULT_DB_ALIAS, connections


@contextlib.contextmanager
def _pool_room_for(n: int):
    """Give the race a connection pool of its own, n connections opened before it starts, and
    close them all when it ends.

    The web's pool (DB_POOL_MAX, 6) would make a race of 50 threads 6 connections and a
    queue, which on a loaded machine outlasted DB_POOL_TIMEOUT. Widening that pool instead
    left its extra connections open for minutes after the test (a pool shrinks lazily), and
    the other test worker then met "too many clients" (max_connections 100).
    """
    wrapper = connections[DEFAULT_DB_ALIAS]  # `connection` is a proxy to it
    options = wrapper.settings_dict["OPTIONS"].get("pool")
    if wrapper.vendor != "postgresql" or not options or n <= WEB_POOL_ROOM:
        yield
        return
    pools = type(wrapper)._connection_pools
    web_pool = pools.pop(wrapper.alias, None)  # this thread's connection stays its own
    wrapper.settings_dict["OPTIONS"]["pool"] = {
        **(options if isinstance(options, dict) else {}),
        "min_size": n, "max_size": n, "timeout": 60}
    try:
        race_pool = wrapper.pool  # Django builds it from the options, unopened
        race_pool.open(wait=True, timeout=60)  # every connection ready before the start
        yield
    finally:
        wrapper.close_pool()
        wrapper.settings_dict["OPTIONS"]["pool"] = options
        if web_pool is not None:
            pools[wrapper.alias] = web_pool


# A race this small fits the web's pool beside the test's own connection.
WEB_POOL_ROOM = 4


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


def eventually(condition, *, seconds: float) -> bool:
    """Whether `condition()` comes true within `seconds` (polled every 0.1 s)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
