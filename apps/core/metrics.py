"""Metrics every app may add to: gauges read from a periodic snapshot, and scrape collectors.

The apps register here (the kernel) rather than with the /metrics endpoint (apps.ops.metrics),
so a domain app never depends on operations: the endpoint reads these lists when it serves.

Gauges over the database (tasks by status, queue depth, staff load, units online) are never
counted per scrape: with a million tasks, every Prometheus (and every replica of it) would pay
a scan each 15 s, and a slow scrape would hold a web thread. Instead one periodic Celery task
(`ops.snapshot_metrics`, every METRICS_SNAPSHOT_INTERVAL_SECONDS) runs each registered
reader once and keeps the figures in the cache (Redis, shared by every process); a scrape reads
that one key. `taskmanage_metrics_snapshot_age_seconds` says how old the figures are, so a
snapshot that stopped (beat down) is seen and alerted on, not silently served.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.cache import cache
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "metrics:snapshot"
Samples = Iterable[tuple[tuple[str, ...], float]]

_database_collectors: list = []


@dataclass(frozen=True)
class SnapshotGauge:
    name: str
    documentation: str
    labels: tuple[str, ...] = ()


# A reader runs in the snapshot task, never in a scrape, and returns samples (label values,
# value) for each of its gauges by name: several gauges may come from one query.
Reader = Callable[[], dict[str, Samples]]
_snapshot_gauges: dict[str, SnapshotGauge] = {}
_readers: list[Reader] = []


def register_database_collector(collector) -> None:
    """A collector asked at every scrape (registered once per process). It must be cheap: read
    the snapshot or memory, not a large table."""
    if collector in _database_collectors:
        return
    _database_collectors.append(collector)
    REGISTRY.register(collector)


def database_collectors() -> tuple:
    """Every collector registered so far, for a registry built per scrape (multiprocess)."""
    return tuple(_database_collectors)


def register_snapshot(*, gauges: Iterable[SnapshotGauge], read: Reader) -> None:
    """Gauges whose samples `read` computes in the periodic snapshot."""
    for gauge in gauges:
        _snapshot_gauges[gauge.name] = gauge
    if read not in _readers:
        _readers.append(read)


def snapshot_take() -> dict:
    """Run every registered reader and keep the figures for scrapes; returns what was kept.

    A reader that fails is logged and left out of this snapshot: the others still count.
    """
    figures: dict[str, list] = {}
    for read in _readers:
        try:
            for name, samples in read().items():
                figures[name] = [[list(labels), float(value)] for labels, value in samples]
        except Exception:  # one broken reader must not blind the others
            logger.exception("metrics snapshot: %r failed", read)
    snapshot = {"taken_at": time.time(), "gauges": figures}
    cache.set(SNAPSHOT_KEY, snapshot, timeout=None)
    return snapshot


class SnapshotCollector:
    """The snapshot's gauges at scrape time: one cache read, no database."""

    age_name = "taskmanage_metrics_snapshot_age_seconds"

    def describe(self):
        # Nothing at registration: the gauges are registered later, by each app's ready().
        return []

    def collect(self):
        try:
            snapshot = cache.get(SNAPSHOT_KEY)
        except Exception:  # a scrape must answer even when Redis does not
            logger.warning("metrics snapshot unavailable", exc_info=True)
            return
        if not snapshot:
            return
        age = GaugeMetricFamily(self.age_name, "Seconds since the gauges' snapshot was taken")
        age.add_metric([], max(time.time() - snapshot["taken_at"], 0.0))
        yield age
        for name, samples in snapshot["gauges"].items():
            gauge = _snapshot_gauges.get(name)
            if gauge is None:  # kept by a newer release; this process does not know it
                continue
            family = GaugeMetricFamily(name, gauge.documentation, labels=gauge.labels)
            for labels, value in samples:
                family.add_metric(labels, value)
            yield family


register_database_collector(SnapshotCollector())
