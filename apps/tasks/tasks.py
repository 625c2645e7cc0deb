"""Celery tasks: thin. Load by id, call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.logs import report_sweep

from . import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def dispatch_tasks(task_ids: list[str]) -> int:
    return report_sweep(logger, services.tasks_dispatch(task_ids=task_ids),
                        "dispatch: %d queued task(s) handed to their dispatcher")


@shared_task(ignore_result=True)
def promote_due_tasks() -> int:
    return report_sweep(logger, services.tasks_promote_due(), "sweep: %d due task(s) queued")


@shared_task(ignore_result=True)
def release_unblocked_tasks() -> int:
    return report_sweep(logger, services.tasks_release_unblocked(),
                        "sweep: %d task(s) released, their dependencies done")


@shared_task(ignore_result=True)
def redrive_queued_tasks() -> int:
    # DEBUG even when it found some: work nobody can take would be announced every 30 s;
    # what the announcement achieves is logged by dispatch_tasks.
    announced = services.tasks_redrive_queued()
    logger.debug("sweep: %d waiting queued task(s) announced again", announced)
    return announced
