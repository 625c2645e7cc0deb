"""Reads about staff shared by the API, the admin, commands and pages."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest

from apps.accounts.roles import is_admin, managed_team_ids
from apps.tasks.models import Task
from apps.tasks.selectors import tasks_visible_to
from apps.tasks.states import OPEN_STATES

from .models import Leave, Staff


def on_leave_now() -> Exists:
    """True while a leave covers this moment: one EXISTS in the query, not one query a row."""
    return Exists(Leave.objects.covering().filter(staff=OuterRef("pk")))


def staff_directory() -> QuerySet[Staff]:
    return (
        Staff.objects.select_related("user", "team")
        .prefetch_related("staff_skills__skill")
        .annotate(on_leave_now=on_leave_now())
    )


def staff_visible_managed_by(*, user) -> QuerySet[Staff]:
    """The staff this user may manage: everyone for admins, their teams' members for managers."""
    if is_admin(user):
        return Staff.objects.all()
    return Staff.objects.filter(team_id__in=managed_team_ids(user))


def open_task_counts() -> Subquery:
    """Open tasks each person holds or has been handed, as a correlated count."""
    counts = (
        Task.objects.filter(assignee_user_id=OuterRef("user_id"), status__in=OPEN_STATES)
        .order_by().values("assignee_user_id").annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def staff_workload() -> list[dict[str, Any]]:
    """One row per staff member, in one query: who, team, load, capacity, open tasks."""
    rows = (
        Staff.objects.order_by("user__username")
        .annotate(
            free=Greatest(F("capacity") - F("load"), Value(0), output_field=IntegerField()),
            open_tasks=open_task_counts(),
        )
        .values("user__username", "user__first_name", "user__last_name", "team__name",
                "load", "capacity", "free", "open_tasks", "availability")
    )
    return [_workload_row(row) for row in rows]


def _workload_row(row: dict[str, Any]) -> dict[str, Any]:
    full = f"{row['user__first_name']} {row['user__last_name']}".strip()
    return {
        "username": row["user__username"], "name": full or row["user__username"],
        "team": row["team__name"] or "", "load": row["load"], "capacity": row["capacity"],
        "free_capacity": row["free"], "open_tasks": row["open_tasks"],
        "availability": row["availability"],
    }


def tasks_for_me(*, user, base: QuerySet[Task] | None = None) -> QuerySet[Task]:
    """The caller's own open work, whatever else their role lets them see.

    `base` lets a caller bring its own loading (the task API's joins and prefetches); it must
    be narrower than or equal to tasks_visible_to(user=user).
    """
    qs = tasks_visible_to(user=user) if base is None else base
    return qs.filter(assignee_user=user, status__in=OPEN_STATES)


def load_by_team_and_availability() -> list[dict[str, Any]]:
    """Members, load and capacity summed per (team, availability): the metrics snapshot."""
    return list(Staff.objects.order_by().values("team__name", "availability")
                .annotate(members=Count("pk"), load=Sum("load"), capacity=Sum("capacity")))
