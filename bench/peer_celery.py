"""The Celery peer of the units benchmark: a minimal Celery app, configured as the product's.

Its worker runs as `python -m celery -A bench.peer_celery worker` with no Django at all (the
product's Celery app would set Django up and autodiscover every app's tasks): what is measured
is Celery and Redis, not our code. The settings that decide how a message is delivered are the
product's (taskmanage/settings.py, CELERY_*): late acknowledgement, one message prefetched per
process, no result backend, JSON, the same visibility and socket timeouts.

Every key of a run (the queue, kombu's unacked bookkeeping, the counters the tasks write) starts
with the run's prefix, so two runs on one Redis never see each other's messages and a run's
cleanup deletes exactly its own keys.

The task bodies do the least that can be observed from outside: one Redis INCR (or RPUSH of
the time the body started). Procrastinate's tasks (bench.peer_procrastinate) do the same.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

# What the worker process is told through its environment (bench.peers sets them).
BROKER_URL_ENV = "BENCH_PEERS_BROKER_URL"
REDIS_URL_ENV = "BENCH_PEERS_REDIS_URL"
KEY_PREFIX_ENV = "BENCH_PEERS_KEY_PREFIX"
QUEUE = "bench-peers"

NOOP = "bench.peers.noop"
STAMP = "bench.peers.stamp"


def done_key(counter_key: str) -> str:
    """Where the task that brings the counter to its total says so (a list to BLPOP on)."""
    return f"{counter_key}:done"


def make_app(broker_url: str, key_prefix: str) -> Celery:
    app = Celery("bench-peers", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": 3600,
            "socket_connect_timeout": 1.0,
            "socket_timeout": 1.0,
            "max_retries": 1,
            # Queues, unacked messages and bindings of this run only.
            "global_keyprefix": key_prefix,
        },
        broker_connection_timeout=1.0,
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    app.task(name=NOOP)(noop)
    app.task(name=STAMP)(stamp)
    return app


_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    # Made on first use, so each prefork child opens its own connection after the fork.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ[REDIS_URL_ENV])
    return _client


def noop(key: str, total: int) -> None:
    """Count one; the task that completes the count tells the bench at once (no polling)."""
    client = _redis()
    if client.incr(key) == total:
        client.rpush(done_key(key), time.time())


def stamp(key: str) -> None:
    """Record when the body started, for the publish-to-start latency."""
    _redis().rpush(key, time.time())


# The worker's app (`celery -A bench.peer_celery`): configured from its environment. The
# bench process builds its own with make_app and never touches this one.
app = make_app(os.environ.get(BROKER_URL_ENV, "memory://"), os.environ.get(KEY_PREFIX_ENV, ""))
