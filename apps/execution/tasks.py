"""Celery tasks of the execution app: thin, they call a service and say what it did."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def sweep_units() -> int:
    """Persist heartbeats, mark silent units offline and fail their work over, take back
    expired leases."""
    done = services.units_sweep()
    if done.offline or done.online or done.timed_out:
        logger.info("units: %d offline (%d task(s) failed over), %d back online, %d task(s) "
                    "failed past their timeout", done.offline, done.failed_over, done.online,
                    done.timed_out)
    return report_sweep(logger, done.leases_expired,
                        "sweep: %d expired unit lease(s) taken back")


@shared_task(ignore_result=True)
def reconcile_unit_held() -> int:
    return report_sweep(logger, services.units_reconcile_held(),
                        "sweep: %d unit(s) held count corrected")
