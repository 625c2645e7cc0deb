"""The peers' baselines (bench/peers.py) run real workers, count every task, and leave nothing.

Tiny numbers and no timing targets (shared CI machines): what is checked is that each peer
really ran every task once, that the figures are positive and ordered, and that the worker,
the Redis keys and Procrastinate's database are gone afterwards.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.conf import settings
from django.db import connection

from bench.harness import redis_url_with_db
from bench.peers import (
    PEERS_REDIS_DB,
    PeerError,
    celery_figures,
    database_conninfo,
    figures,
    percentile,
    procrastinate_figures,
)

TASKS, SAMPLES = 20, 5


def _assert_sane_and_gone(result: dict, peer: str) -> None:
    assert result["tasks"] == result["counted"] == TASKS
    assert result["samples"] == SAMPLES
    assert result["throughput"] > 0
    assert result["seconds"] >= result["publish_seconds"] > 0
    assert 0 < result["dispatch_p50_ms"] <= result["dispatch_p99_ms"] \
        <= result["dispatch_max_ms"] < 10_000
    assert [f.name for f in figures(peer, result)] == [
        f"peers.{peer}.throughput", f"peers.{peer}.dispatch_p50_ms",
        f"peers.{peer}.dispatch_p99_ms"]
    with pytest.raises(ProcessLookupError):  # the worker's whole process group
        os.killpg(result["worker_pid"], 0)
    client = redis.Redis.from_url(redis_url_with_db(settings.REDIS_URL, PEERS_REDIS_DB))
    try:
        assert list(client.scan_iter(match=f"{result['key_prefix']}*")) == []
    finally:
        client.close()


def test_celery_worker_runs_every_task_once_and_is_stopped():
    result = celery_figures(settings.REDIS_URL, tasks=TASKS, concurrency=2, samples=SAMPLES)

    _assert_sane_and_gone(result, "celery")
    assert result["worker"] == "celery prefork"


def test_a_worker_that_cannot_start_is_an_error_not_a_figure():
    with pytest.raises(PeerError, match="worker exited"):
        celery_figures(settings.REDIS_URL, tasks=TASKS, concurrency=1, samples=SAMPLES,
                       pool="no-such-pool")


@pytest.mark.django_db
def test_procrastinate_runs_every_task_once_in_a_database_it_drops():
    if connection.vendor != "postgresql":
        pytest.skip("Procrastinate needs PostgreSQL")

    result = procrastinate_figures(database_conninfo(), settings.REDIS_URL, tasks=TASKS,
                                   concurrency=2, samples=SAMPLES)

    _assert_sane_and_gone(result, "procrastinate")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                       [result["database"]])
        assert cursor.fetchone()[0] == 0


@pytest.mark.parametrize("size", [{}, {"tasks": 10, "seconds": 1.0}, {"tasks": 0},
                                  {"seconds": 0.0}])
def test_a_run_is_sized_by_tasks_or_by_seconds_not_both(size):
    with pytest.raises(ValueError):  # before any worker is started
        celery_figures(settings.REDIS_URL, concurrency=1, samples=1, **size)


def test_percentile_is_the_harness_rank():
    values = [float(v) for v in range(1, 201)]
    assert (percentile(values, 50), percentile(values, 99), percentile([3.0], 99)) \
        == (101.0, 199.0, 3.0)
