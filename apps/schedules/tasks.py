"""Celery tasks: thin. Load by id, call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from . import services

logger = logging.getLogger(__name__)


@shared_task(name=services.FIRE_TASK, ignore_result=True)
def fire(schedule_id: int, token: int | None = None) -> str | None:
    """Beat's firing of one schedule (its PeriodicTask names this task)."""
    spawn = services.schedule_fire(schedule_id=schedule_id, token=token)
    if spawn is None:
        return None
    logger.info("schedule %s: planned %s spawned %s", schedule_id,
                spawn.planned_time.isoformat(), spawn.task_id or f"nothing ({spawn.skipped})")
    return str(spawn.task_id) if spawn.task_id else None


@shared_task(name=services.FIRE_MANY_TASK, ignore_result=True)
def fire_many(token: int, firings: list) -> dict:
    """A beat leader's batch: [[schedule id, planned time (ISO 8601) or null], ...]."""
    parsed = [(int(schedule_id), parse_datetime(planned) if planned else None)
              for schedule_id, planned in firings]
    outcome = services.schedules_fire_many(token=int(token), firings=parsed)
    if outcome.spawned or outcome.refused:
        logger.info("schedules: token %s: %d spawned, %d spawned before, %d dropped, "
                    "%d refused", token, outcome.spawned, outcome.already, outcome.dropped,
                    outcome.refused)
    return {"spawned": outcome.spawned, "already": outcome.already,
            "dropped": outcome.dropped, "refused": outcome.refused}
