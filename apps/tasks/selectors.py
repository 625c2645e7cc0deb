"""Reads shared by the API, the admin, pages and metrics."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from apps.accounts.roles import sees_all_tasks

from .models import Task, TaskHistory, TaskLog
from .states import TaskStatus


def tasks_visible_to(user) -> QuerySet[Task]:
    """Admins and managers see every task; anyone else what they created or hold."""
    qs = Task.objects.select_related("task_type", "assignee_user__staff")
    if sees_all_tasks(user):
        return qs
    return qs.filter(Q(created_by=user) | Q(assignee_user=user))


def task_history(task: Task) -> QuerySet[TaskHistory]:
    return task.history.select_related("actor_user").order_by("created_at", "id")


def task_logs(task: Task, *, attempt: int | None = None) -> QuerySet[TaskLog]:
    qs = task.logs.order_by("id")
    return qs if attempt is None else qs.filter(attempt=attempt)


def task_counts_by_status() -> dict[str, int]:
    counts = dict.fromkeys(TaskStatus.values, 0)
    for row in Task.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts
