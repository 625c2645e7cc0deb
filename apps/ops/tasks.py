"""Celery tasks of operations: thin."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.metrics import snapshot_take

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def snapshot_metrics() -> int:
    """The gauges over the database, once for every scrape until the next (apps.core.metrics)."""
    snapshot = snapshot_take()
    logger.debug("metrics snapshot: %d gauge(s)", len(snapshot["gauges"]))
    return len(snapshot["gauges"])
