"""Benchmark area `peers`: the queues people pick instead of execution units, on their own.

Celery (a `celery worker` on the configured Redis, configured as the product's worker) and
Procrastinate (its worker on a database of its own on the configured PostgreSQL) doing no-op
tasks: throughput from the first publish to the last acknowledgement, and the latency from
publishing one task to an idle worker starting it (bench/peers.py says exactly how). These are
the baselines `bench units` measures again in its own run, beside the units' figures; this
area shows them alone, with no server under test.

Each peer's throughput run is sized to take about `--seconds` at the rate a short calibration
run of that peer measured, and each measurement is cut off after TIMEOUT_FACTOR times that.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.harness import BenchContext, Figure
from bench.peers import database_conninfo, figures, peer_results

AREA = "peers"
# As many tasks at once as the units area's simulated units take: on 2 cores a Celery prefork
# worker gains nothing beyond this, and Procrastinate's event loop just as little.
CONCURRENCY = 4
SAMPLES = 200
TIMEOUT_FACTOR = 20


def run(ctx: BenchContext) -> Iterator[Figure]:
    from django.conf import settings

    results = peer_results(
        redis_url=settings.REDIS_URL, database_url=database_conninfo(),
        seconds=ctx.seconds, concurrency=CONCURRENCY, samples=SAMPLES,
        timeout=max(60.0, TIMEOUT_FACTOR * ctx.seconds), log=ctx.log,
    )
    for peer, result in results:
        yield from figures(peer, result)
