"""Celery tasks: thin. Each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep
from apps.staff.services import staff_reconcile_load

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def assign_queued_tasks() -> int:
    return report_sweep(logger, services.assign_queued().assigned, "sweep: %d task(s) assigned")


@shared_task(ignore_result=True)
def expire_assignments() -> int:
    return report_sweep(logger, services.assignments_expire(),
                        "sweep: %d unconfirmed assignment(s) expired")


@shared_task(ignore_result=True)
def start_leaves() -> int:
    return report_sweep(logger, services.leaves_start(),
                        "sweep: %d task(s) handed back from people whose leave began")


@shared_task(ignore_result=True)
def requeue_timed_out_tasks() -> int:
    return report_sweep(logger, services.tasks_requeue_timed_out(),
                        "sweep: %d timed-out task(s) queued again")


@shared_task(ignore_result=True)
def reconcile_staff_load() -> int:
    return report_sweep(logger, staff_reconcile_load(), "sweep: %d wrong load(s) corrected")
