"""Celery tasks: thin. Load by id, call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name=services.FIRE_TASK, ignore_result=True)
def fire(schedule_id: int) -> str | None:
    """Beat's firing of one schedule (its PeriodicTask names this task)."""
    spawn = services.schedule_fire(schedule_id=schedule_id)
    if spawn is None:
        return None
    logger.info("schedule %s: planned %s spawned %s", schedule_id,
                spawn.planned_time.isoformat(), spawn.task_id or f"nothing ({spawn.skipped})")
    return str(spawn.task_id) if spawn.task_id else None
