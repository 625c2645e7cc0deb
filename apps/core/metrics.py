"""Metrics every app may add to: collectors that read the database at scrape time.

The apps register here (the kernel) rather than with the /metrics endpoint (apps.ops.metrics),
so a domain app never depends on operations: the endpoint reads this list when it serves.
"""

from __future__ import annotations

from prometheus_client import REGISTRY

_database_collectors: list = []


def register_database_collector(collector) -> None:
    """A collector that reads PostgreSQL at scrape time (registered once per process)."""
    if collector in _database_collectors:
        return
    _database_collectors.append(collector)
    REGISTRY.register(collector)


def database_collectors() -> tuple:
    """Every collector registered so far, for a registry built per scrape (multiprocess)."""
    return tuple(_database_collectors)
