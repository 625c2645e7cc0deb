"""Reads shared by the API, the admin and the command."""

from __future__ import annotations

from django.db.models import Max, Q, QuerySet

from .models import Schedule


def schedules_with_last_spawn() -> QuerySet[Schedule]:
    return (Schedule.objects.select_related("task_type")
            .annotate(last_spawned_at=Max("spawns__created_at",
                                          filter=Q(spawns__task__isnull=False)))
            .order_by("name"))
