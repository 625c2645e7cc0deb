"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def sweep_alerts() -> int:
    return report_sweep(logger, services.alerts_sweep(), "sweep: %d alert(s) sent")


@shared_task(ignore_result=True)
def deliver_alert(alert_id: int) -> None:
    services.alert_deliver(alert_id=alert_id)
