"""Reads about execution units shared by the API, the admin and commands."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.db.models import Count, QuerySet, Sum

from apps.tasks.models import Task
from apps.tasks.states import HELD_STATES

from . import beats
from .models import ExecutionUnit, UnitQueue

logger = logging.getLogger(__name__)


def units_listed() -> QuerySet[ExecutionUnit]:
    return ExecutionUnit.objects.order_by("unit_id")


@dataclass(frozen=True)
class Heard:
    """When each unit was last heard from, by unit row id (None: never)."""

    at: dict[int, datetime | None]
    # False when Redis could not be asked: `at` is then the database's last_heartbeat_at,
    # which trails the live heartbeats by up to one sweep, and the live figure is unknown.
    live: bool


def last_heard(*, units: Sequence[ExecutionUnit]) -> Heard:
    """The latest heartbeat of each unit: Redis holds the live one (a heartbeat writes no
    row), the database the one the sweep last persisted; the newer wins. One Redis round trip
    whatever the number of units; Redis down is an answer (`live=False`), not an error."""
    stored = {u.pk: u.last_heartbeat_at for u in units}
    try:
        heard = beats.latest_at(list(stored))
    except redis.RedisError:
        logger.warning("unit pages: live heartbeats unavailable (Redis)")
        return Heard(at=stored, live=False)
    at = {}
    for pk, persisted in stored.items():
        live = heard.get(pk)
        moment = datetime.fromtimestamp(live, tz=UTC) if live is not None else None
        at[pk] = max((m for m in (moment, persisted) if m is not None), default=None)
    return Heard(at=at, live=True)


def held_task_ids(*, unit: ExecutionUnit) -> list:
    return list(Task.objects.filter(assignee_unit=unit, status__in=sorted(HELD_STATES))
                .order_by("started_at", "pk").values_list("pk", flat=True))


def workers_stats() -> dict:
    """Units by type and status, their load against capacity, and heartbeats per minute."""
    rows = (ExecutionUnit.objects.values("unit_type", "status").order_by("unit_type", "status")
            .annotate(units=Count("pk"), held=Sum("held"), capacity=Sum("capacity"),
                      reported_load=Sum("reported_load")))
    try:
        per_minute = beats.per_minute(minutes=5)
    except redis.RedisError:
        logger.warning("worker stats: heartbeat counts unavailable (Redis)")
        per_minute = None
    return {
        "units": [dict(r) for r in rows],
        "heartbeats_per_minute": per_minute[-1] if per_minute else None,
        "heartbeats_last_minutes": per_minute,
    }


_ACCEPTING_TTL = 5.0
_accepting: dict[str, tuple[float, frozenset[int]]] = {}


def task_types_accepting(*, unit_type: str) -> frozenset[int]:
    """Ids of the task types that list `unit_type` among further unit types they accept.
    Few types list any: read them all and keep the answer for a few seconds per process (a
    change made elsewhere applies here up to _ACCEPTING_TTL s later)."""
    now = time.monotonic()
    cached = _accepting.get(unit_type)
    if cached is not None and cached[0] > now:
        return cached[1]
    found = frozenset(pk for pk, types in UnitQueue.objects
                      .values_list("pk", "unit_types") if unit_type in (types or []))
    _accepting[unit_type] = (now + _ACCEPTING_TTL, found)
    return found


def forget_accepting() -> None:
    _accepting.clear()


def unit_queue_of(*, task_type) -> UnitQueue:
    """The type's queue control, or the defaults it runs with (unpaused, unlimited): never
    saved here, so reading a type writes nothing."""
    try:
        return task_type.unit_queue  # prefetched for lists
    except UnitQueue.DoesNotExist:
        return UnitQueue(task_type=task_type)


def units_by_type_and_status() -> list[dict]:
    """Units, held tasks, capacity and reported load per (type, status): the metrics snapshot."""
    return list(ExecutionUnit.objects.order_by().values("unit_type", "status").annotate(
        units=Count("pk"), held=Sum("held"), capacity=Sum("capacity"),
        reported=Sum("reported_load")))
