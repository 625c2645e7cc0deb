"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def escalate_overdue_approvals() -> int:
    return report_sweep(logger, services.approvals_escalate(),
                        "sweep: %d overdue approval request(s) escalated")
