"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    attempt = services.delivery_attempt(delivery_id=delivery_id)
    if attempt is not None:
        logger.info("callback %s attempt %s: %s", delivery_id, attempt.number,
                    attempt.status_code or attempt.error)


@shared_task(ignore_result=True)
def send_due_callbacks() -> int:
    return report_sweep(logger, services.deliveries_send_due(),
                        "sweep: %d callback deliveries due")
