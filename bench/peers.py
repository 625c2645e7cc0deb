"""The peers' baselines for the units benchmark: Celery and Procrastinate doing no-op work.

`bench units` judges TaskManage's execution units against the queues people pick instead,
measured in the same run on the same PostgreSQL and Redis. Each peer is driven the same way:

- throughput: N no-op tasks published in batches of PUBLISH_BATCH while a real worker
  (a subprocess, `concurrency` at once) consumes them: `tasks`, or as many as a calibration
  run says take about `seconds` (so a slow peer is not given minutes of work); tasks/s from
  the first publish until the last one is settled: acknowledged (Celery: nothing left in
  kombu's unacked set) or recorded as done (Procrastinate: no job left `todo` or `doing`).
  Each body INCRs a Redis counter, so every task is seen to have run exactly once, or the
  run fails.
- dispatch latency: the worker idle, one task published at a time; the time from just
  before the publish to the body starting (it RPUSHes time.time(); same clock, same
  machine), `samples` times, each after the previous one settled.

`celery_figures(...)` and `procrastinate_figures(...)` return those numbers as a dict;
`figures(peer, result)` makes the harness's Figures of them. Every process started here is
stopped and everything created (Redis keys, Procrastinate's database) deleted when the call
returns, also on an error, Ctrl-C or SIGTERM (the bench command turns it into SystemExit).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import peer_celery, peer_procrastinate
from bench.harness import (
    Figure,
    _die_with_parent,
    _stop,
    bench_broker_url,
    redis_url_with_db,
    unique_nonce,
)

REPO_DIR = Path(__file__).resolve().parents[1]

# Procrastinate logs every deferral at INFO (under the product's logging settings): thousands
# of lines on the bench's stderr. Its worker, a process of its own, is not affected.
logging.getLogger("procrastinate").setLevel(logging.WARNING)

# The Redis database of the peers' messages and counters: the product uses 0-3 and the bench
# server's broker 15. Every key also carries the run's prefix (see peer_celery).
PEERS_REDIS_DB = 14
KEY_PREFIX = "bench-peers:"
PUBLISH_BATCH = 100
CALIBRATION_TASKS = 200  # the smallest run sized by `seconds`, and the one that sizes it
STARTUP_SECONDS = 60.0
# Procrastinate's databases are named bench_peers_<unix time>_<nonce>; one older than this
# was left by a run that was killed (SIGKILL) and is dropped by the next run.
DATABASE_PREFIX = "bench_peers_"
STALE_DATABASE_SECONDS = 3600
SETTLE_POLL_SECONDS = 0.002


class PeerError(RuntimeError):
    """A peer that did not do all its work: a broken measurement, never a number."""


# --- figures --------------------------------------------------------------------------------


def figures(peer: str, result: dict[str, Any]) -> list[Figure]:
    """`peers.<peer>.throughput`, `.dispatch_p50_ms` and `.dispatch_p99_ms`.

    No targets: these are the baselines the units figures are judged against."""
    setup = {k: result[k] for k in ("concurrency", "worker", "tasks", "samples")}
    return [
        Figure(f"peers.{peer}.throughput", result["throughput"], "tasks/s",
               extra={**setup, "seconds": round(result["seconds"], 3),
                      "publish_seconds": round(result["publish_seconds"], 3),
                      "counted": result["counted"]}),
        Figure(f"peers.{peer}.dispatch_p50_ms", result["dispatch_p50_ms"], "ms", extra=setup),
        Figure(f"peers.{peer}.dispatch_p99_ms", result["dispatch_p99_ms"], "ms",
               extra={**setup, "max_ms": round(result["dispatch_max_ms"], 2)}),
    ]


def percentile(values: list[float], p: float) -> float:
    """The harness's percentile (LoadResult.percentile_ms): the value at rank p% of n."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def peer_results(
    *, redis_url: str, database_url: str | None, concurrency: int, samples: int,
    tasks: int | None = None, seconds: float | None = None, timeout: float = 120.0,
    log: Callable[[str], None] = lambda message: None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(peer, result) for each peer as soon as it is measured, one after the other (never at
    once: each has the machine to itself); Procrastinate only with a PostgreSQL
    `database_url`."""
    size = f"{tasks} tasks" if tasks is not None else f"about {seconds:g} s of tasks"
    common = {"tasks": tasks, "seconds": seconds, "concurrency": concurrency,
              "samples": samples, "timeout": timeout}
    log(f"peers.celery: {size}, concurrency {concurrency}, {samples} samples")
    yield "celery", celery_figures(redis_url, **common)
    if database_url is None:
        log("peers.procrastinate: skipped (needs PostgreSQL)")
        return
    log(f"peers.procrastinate: {size}, concurrency {concurrency}, {samples} samples")
    yield "procrastinate", procrastinate_figures(database_url, redis_url, **common)


def measure_peers(**kwargs: Any) -> dict[str, dict[str, Any]]:
    """Every peer's result by name (the arguments of peer_results)."""
    return dict(peer_results(**kwargs))


# --- the worker subprocess ------------------------------------------------------------------


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise PeerError(f"the {self.name} worker exited with {self.process.returncode}:\n"
                            f"{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # Without it Celery's Django fix-up would set up the product in the worker.
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def _worker(name: str, argv: list[str], env: dict[str, str]) -> Iterator[_Worker]:
    """A worker in its own process group (our Ctrl-C is not its; we stop it, all of it),
    killed by the kernel if this process dies without stopping it."""
    fd, log_name = tempfile.mkstemp(prefix=f"bench-peers-{name}-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            argv, cwd=REPO_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, process_group=0,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    worker = _Worker(name, process, Path(log_name))
    try:
        yield worker
    finally:
        _stop(process)
        worker.log_path.unlink(missing_ok=True)


# --- what is common to both peers -----------------------------------------------------------


@dataclass
class _Driver:
    """How the measurement talks to one peer."""

    worker: _Worker
    client: redis.Redis  # the counters' Redis
    prefix: str
    publish_noops: Callable[[str, int, int], None]  # (counter key, total, how many now)
    publish_stamp: Callable[[str], None]  # (list key)
    settled: Callable[[], bool]  # nothing published is left unacknowledged / unfinished

    def wait_done(self, key: str, deadline: float) -> None:
        """Until the task that completes `key`'s count has run (BLPOP: no polling load)."""
        while time.monotonic() < deadline:
            self.worker.check_alive()
            if self.client.blpop([peer_celery.done_key(key)], timeout=1):
                return
        raise PeerError(f"{self.worker.name}: {self.count(key)} tasks counted by the deadline\n"
                        f"{self.worker.log_tail()}")

    def wait_settled(self, deadline: float) -> None:
        while not self.settled():
            if time.monotonic() >= deadline:
                raise PeerError(f"{self.worker.name}: tasks ran but were not all settled")
            time.sleep(SETTLE_POLL_SECONDS)

    def count(self, key: str) -> int:
        return int(self.client.get(key) or 0)

    def warm_up(self, concurrency: int) -> None:
        """Work through a few tasks first: the worker is connected, its processes or
        connections started, before anything is timed."""
        key, total = f"{self.prefix}warm", 2 * concurrency
        self.publish_noops(key, total, total)
        deadline = time.monotonic() + STARTUP_SECONDS
        self.wait_done(key, deadline)
        self.wait_settled(deadline)

    def throughput(self, tasks: int, deadline: float, name: str = "throughput") -> dict[str, Any]:
        key = f"{self.prefix}{name}"
        started = time.perf_counter()
        published = 0
        while published < tasks:
            batch = min(PUBLISH_BATCH, tasks - published)
            self.publish_noops(key, tasks, batch)
            published += batch
        publish_seconds = time.perf_counter() - started
        self.wait_done(key, deadline)
        self.wait_settled(deadline)
        seconds = time.perf_counter() - started
        counted = self.count(key)
        if counted != tasks:  # more would be a task run twice
            raise PeerError(f"{self.worker.name}: {counted} of {tasks} tasks counted")
        return {"throughput": tasks / seconds, "seconds": seconds,
                "publish_seconds": publish_seconds, "tasks": tasks, "counted": counted}

    def dispatch(self, samples: int, deadline: float) -> dict[str, Any]:
        key = f"{self.prefix}stamp"
        latencies: list[float] = []
        while len(latencies) < samples and time.monotonic() < deadline:
            published_at = time.time()
            self.publish_stamp(key)
            popped = None
            while popped is None and time.monotonic() < deadline:
                self.worker.check_alive()
                popped = self.client.blpop([key], timeout=1)
            if popped is None:
                break
            latencies.append(float(popped[1]) - published_at)
            self.wait_settled(deadline)  # idle again before the next one
        if not latencies:
            raise PeerError(f"{self.worker.name}: no dispatch sample by the deadline")
        ms = [value * 1000 for value in latencies]
        return {"dispatch_p50_ms": percentile(ms, 50), "dispatch_p99_ms": percentile(ms, 99),
                "dispatch_max_ms": max(ms), "samples": len(ms)}


def _measure(driver: _Driver, *, tasks: int | None, seconds: float | None, concurrency: int,
             samples: int, timeout: float) -> dict[str, Any]:
    driver.warm_up(concurrency)
    if tasks is None:
        assert seconds is not None
        calibration = driver.throughput(CALIBRATION_TASKS, time.monotonic() + timeout,
                                        name="calibration")
        tasks = max(CALIBRATION_TASKS, round(calibration["throughput"] * seconds))
    result = driver.throughput(tasks, time.monotonic() + timeout)
    result.update(driver.dispatch(samples, time.monotonic() + timeout))
    return result


def _delete_keys(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for at in range(0, len(keys), 1000):
        client.delete(*keys[at:at + 1000])


def _check_arguments(tasks: int | None, seconds: float | None, concurrency: int,
                     samples: int) -> None:
    if (tasks is None) == (seconds is None):
        raise ValueError("give either tasks or seconds")
    if (min(concurrency, samples) < 1 or (tasks is not None and tasks < 1)
            or (seconds is not None and seconds <= 0)):
        raise ValueError("tasks, seconds, concurrency and samples must be positive")


# --- Celery ---------------------------------------------------------------------------------


def celery_figures(
    redis_url: str, *, concurrency: int, samples: int, tasks: int | None = None,
    seconds: float | None = None, pool: str = "prefork", timeout: float = 120.0,
) -> dict[str, Any]:
    """Celery on `redis_url`'s server: a `celery worker` (`pool`, `concurrency`) configured as
    the product's (bench.peer_celery). `timeout` bounds each of the two measurements."""
    _check_arguments(tasks, seconds, concurrency, samples)
    prefix = f"{KEY_PREFIX}{unique_nonce()}:"
    counters_url = redis_url_with_db(redis_url, PEERS_REDIS_DB)
    broker_url = bench_broker_url(redis_url, PEERS_REDIS_DB)
    client = redis.Redis.from_url(counters_url)
    app = peer_celery.make_app(broker_url, prefix)
    argv = [sys.executable, "-m", "celery", "-A", "bench.peer_celery", "worker",
            "--pool", pool, "--concurrency", str(concurrency), "-Q", peer_celery.QUEUE,
            "--hostname", f"bench-peers-{prefix.split(':')[1]}@%h",
            # Talking to other workers at start-up only delays it; nothing else changes.
            "--without-mingle", "--without-gossip", "--loglevel", "warning"]
    env = _worker_env({peer_celery.BROKER_URL_ENV: broker_url,
                       peer_celery.REDIS_URL_ENV: counters_url,
                       peer_celery.KEY_PREFIX_ENV: prefix})

    def publish_noops(key: str, total: int, count: int) -> None:
        # One producer (one connection, one channel) for the whole batch.
        with app.producer_or_acquire() as producer:
            for _ in range(count):
                app.send_task(peer_celery.NOOP, (key, total), producer=producer)

    def publish_stamp(key: str) -> None:
        app.send_task(peer_celery.STAMP, (key,))

    def settled() -> bool:
        # kombu keeps each delivered, unacknowledged message in this hash until its ack.
        return not client.exists(f"{prefix}unacked") and not client.llen(
            f"{prefix}{peer_celery.QUEUE}")

    try:
        with _worker("celery", argv, env) as worker:
            driver = _Driver(worker, client, prefix, publish_noops, publish_stamp, settled)
            result = _measure(driver, tasks=tasks, seconds=seconds, concurrency=concurrency,
                              samples=samples, timeout=timeout)
    finally:
        app.close()
        _delete_keys(client, prefix)
        client.close()
    return {**result, "concurrency": concurrency, "worker": f"celery {pool}",
            "worker_pid": worker.process.pid, "key_prefix": prefix}


# --- Procrastinate --------------------------------------------------------------------------


def procrastinate_figures(
    database_url: str, redis_url: str, *, concurrency: int, samples: int,
    tasks: int | None = None, seconds: float | None = None, timeout: float = 120.0,
) -> dict[str, Any]:
    """Procrastinate on `database_url`'s PostgreSQL server, in a database of its own created
    and dropped here; its tasks count in `redis_url`'s Redis, as the Celery peer's do."""
    import psycopg

    _check_arguments(tasks, seconds, concurrency, samples)
    nonce = unique_nonce()
    prefix = f"{KEY_PREFIX}{nonce}:"
    counters_url = redis_url_with_db(redis_url, PEERS_REDIS_DB)
    client = redis.Redis.from_url(counters_url)
    database = f"{DATABASE_PREFIX}{int(time.time())}_{nonce}"
    conninfo = psycopg.conninfo.make_conninfo(database_url, dbname=database)
    _drop_stale_databases(database_url)
    _create_database(database_url, database)
    try:
        app = peer_procrastinate.make_app(conninfo)
        with app.open(), psycopg.connect(conninfo, autocommit=True) as watcher:
            app.schema_manager.apply_schema()
            argv = [sys.executable, "-m", "procrastinate", "--app",
                    "bench.peer_procrastinate.app", "worker", "--queues",
                    peer_procrastinate.QUEUE, "--concurrency", str(concurrency),
                    "--listen-notify"]
            env = _worker_env({peer_procrastinate.CONNINFO_ENV: conninfo,
                               peer_procrastinate.CONCURRENCY_ENV: str(concurrency),
                               peer_celery.REDIS_URL_ENV: counters_url})
            noop, stamp = app.tasks[peer_celery.NOOP], app.tasks[peer_celery.STAMP]

            def publish_noops(key: str, total: int, count: int) -> None:
                # One INSERT … SELECT of the whole batch, one transaction.
                noop.batch_defer(*({"key": key, "total": total} for _ in range(count)))

            def publish_stamp(key: str) -> None:
                stamp.defer(key=key)

            def settled() -> bool:
                row = watcher.execute("SELECT count(*) FROM procrastinate_jobs "
                                      "WHERE status IN ('todo', 'doing')").fetchone()
                return row is not None and row[0] == 0

            with _worker("procrastinate", argv, env) as worker:
                driver = _Driver(worker, client, prefix, publish_noops, publish_stamp, settled)
                result = _measure(driver, tasks=tasks, seconds=seconds,
                                  concurrency=concurrency, samples=samples, timeout=timeout)
    finally:
        _drop_database(database_url, database)
        _delete_keys(client, prefix)
        client.close()
    return {**result, "concurrency": concurrency, "worker": "procrastinate (asyncio)",
            "worker_pid": worker.process.pid, "key_prefix": prefix, "database": database}


def _create_database(database_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(database_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    if not name.startswith(DATABASE_PREFIX):  # never anything but ours
        raise ValueError(f"refusing to drop {name!r}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        # FORCE: a worker that is still being killed may hold a connection.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def _drop_stale_databases(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [DATABASE_PREFIX.replace("_", r"\_") + "%"])]
    now = time.time()
    for name in names:
        with suppress(ValueError, IndexError):
            if now - int(name[len(DATABASE_PREFIX):].split("_")[0]) > STALE_DATABASE_SECONDS:
                _drop_database(database_url, name)


def database_conninfo() -> str | None:
    """A libpq connection string for the configured (Django) database, None if it is not
    PostgreSQL."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    if connection.vendor != "postgresql":
        return None
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"],
              "password": db["PASSWORD"], "dbname": db["NAME"]}
    return make_conninfo(**{k: str(v) for k, v in params.items() if v})
