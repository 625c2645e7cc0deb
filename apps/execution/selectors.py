"""Reads about execution units shared by the API, the admin and commands."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.tasks.models import Task
from apps.tasks.states import HELD_STATES

from .models import ExecutionUnit


def units_listed() -> QuerySet[ExecutionUnit]:
    return ExecutionUnit.objects.order_by("unit_id")


def held_task_ids(*, unit: ExecutionUnit) -> list:
    return list(Task.objects.filter(assignee_unit=unit, status__in=sorted(HELD_STATES))
                .order_by("started_at", "pk").values_list("pk", flat=True))
