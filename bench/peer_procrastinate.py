"""The Procrastinate peer of the units benchmark: a PostgreSQL-based queue, as shipped.

Its worker runs as `python -m procrastinate --app bench.peer_procrastinate.app worker` on a
database of its own that bench.peers creates and drops (the product's tables are never
touched), with Procrastinate's defaults: LISTEN/NOTIFY on (an idle worker wakes when a job is
deferred), jobs kept after they ran. Tasks are coroutines, Procrastinate's cheapest kind: the
worker runs `concurrency` of them at once on its event loop.

The bodies do what the Celery peer's do (bench.peer_celery): one Redis INCR, or an RPUSH of
the time the body started, so both peers are observed the same way.
"""

from __future__ import annotations

import os
import time

import procrastinate
import redis.asyncio

from bench.peer_celery import NOOP, REDIS_URL_ENV, STAMP, done_key

CONNINFO_ENV = "BENCH_PEERS_PG_CONNINFO"
CONCURRENCY_ENV = "BENCH_PEERS_CONCURRENCY"
QUEUE = "bench-peers"


def make_app(conninfo: str, *, concurrency: int = 1) -> procrastinate.App:
    # A connection per job running at once, one for LISTEN and one for fetching the next
    # jobs: a smaller pool would make jobs wait for connections, not for the queue.
    size = concurrency + 2
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=size, max_size=size)
    app = procrastinate.App(connector=connector)
    app.task(name=NOOP, queue=QUEUE)(noop)
    app.task(name=STAMP, queue=QUEUE)(stamp)
    return app


_client: redis.asyncio.Redis | None = None


def _redis() -> redis.asyncio.Redis:
    global _client
    if _client is None:
        _client = redis.asyncio.Redis.from_url(os.environ[REDIS_URL_ENV])
    return _client


async def noop(key: str, total: int) -> None:
    client = _redis()
    if await client.incr(key) == total:
        await client.rpush(done_key(key), time.time())


async def stamp(key: str) -> None:
    await _redis().rpush(key, time.time())


# The worker's app, configured from its environment; the bench process makes its own.
app = make_app(os.environ.get(CONNINFO_ENV, ""),
               concurrency=int(os.environ.get(CONCURRENCY_ENV, "1")))
