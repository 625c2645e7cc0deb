"""/metrics: Prometheus text, correct whichever process counted.

With PROMETHEUS_MULTIPROC_DIR set, every process of the host (web workers, Celery worker and
pool, beat) writes its samples to a file there (taskmanage/multiproc.py), and
prometheus_client's MultiProcessCollector merges them per scrape. The collectors the apps
register through apps.core.metrics (the snapshot's gauges: one cache read, no query) are added
to either registry.

Who may scrape: a request with `Authorization: Bearer <METRICS_TOKEN>`, or from an address in
METRICS_ALLOWED_IPS. With neither configured, only loopback in DEBUG; otherwise nobody (403):
the figures describe the business (task counts by state, traffic), not for the public.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from apps.core.clients import address_in, client_ip, networks
from apps.core.metrics import database_collectors

LOOPBACK = networks(["127.0.0.0/8", "::1"])


def _registry():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in database_collectors():
        registry.register(collector)
    return registry


def scrape_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and constant_time_compare(presented.strip(), token):
            return True
    if settings.METRICS_ALLOWED_IPS:
        return address_in(client_ip(request), networks(settings.METRICS_ALLOWED_IPS))
    if token:
        return False
    return settings.DEBUG and address_in(client_ip(request), LOOPBACK)


@require_GET
def metrics(request):
    if not scrape_allowed(request):
        return HttpResponseForbidden(
            "Metrics need METRICS_TOKEN or METRICS_ALLOWED_IPS.\n", content_type="text/plain"
        )
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
