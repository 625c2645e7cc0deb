"""Reads shared by the API, the admin and the command."""

from __future__ import annotations

from django.db.models import Max, Prefetch, Q, QuerySet

from .models import Schedule, Spawn

# Where a page of schedules keeps each fixed-delay schedule's latest spawn (a list of at most
# one), so the next run of every row comes from one query for the whole page.
LATEST_SPAWN = "latest_spawn_rows"


def schedules_with_last_spawn() -> QuerySet[Schedule]:
    # The latest spawn of each fixed-delay schedule, with only what delay_next reads of its
    # task: a sliced prefetch is one query (ROW_NUMBER per schedule) whatever the page holds.
    latest = (Spawn.objects.filter(schedule__delay_seconds__isnull=False)
              .select_related("task")
              .only("schedule_id", "planned_time", "created_at", "task_id", "task__status",
                    "task__finished_at", "task__updated_at")
              .order_by("-planned_time")[:1])
    return (Schedule.objects.select_related("task_type")
            .annotate(last_spawned_at=Max("spawns__created_at",
                                          filter=Q(spawns__task__isnull=False)))
            .prefetch_related(Prefetch("spawns", queryset=latest, to_attr=LATEST_SPAWN))
            .order_by("name"))


def latest_spawn(*, schedule: Schedule) -> Spawn | None:
    """The schedule's spawn with the latest planned time, with its task: from the page's
    prefetch when the schedule came from `schedules_with_last_spawn`, else one query."""
    prefetched = getattr(schedule, LATEST_SPAWN, None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return schedule.spawns.select_related("task").order_by("-planned_time").first()
