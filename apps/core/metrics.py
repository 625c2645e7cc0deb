"""/metrics: Prometheus text, correct with one web process or many.

With several web workers (PROMETHEUS_MULTIPROC_DIR set), each process only knows its own
counters; prometheus_client's MultiProcessCollector merges the files they write. Collectors
that read the database (exact whatever the process count) are added to either registry.
"""

from __future__ import annotations

import os

from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

_database_collectors: list = []


def register_database_collector(collector) -> None:
    """A collector that reads PostgreSQL at scrape time (registered once per process)."""
    if collector in _database_collectors:
        return
    _database_collectors.append(collector)
    REGISTRY.register(collector)


def _registry():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in _database_collectors:
        registry.register(collector)
    return registry


@require_GET
def metrics(request):
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
