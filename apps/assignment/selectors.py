"""Figures about assignment, shared by the stats API, the admin and pages."""

from __future__ import annotations

from django.db.models import Count
from django.utils import timezone

from apps.tasks.models import Task
from apps.tasks.states import AssigneeKind, TaskStatus

from .models import Assignment, Outcome, Unassignable


def assignment_stats() -> dict:
    now = timezone.now()
    outcomes = dict.fromkeys(Outcome.values, 0)
    for row in Assignment.objects.order_by().values("outcome").annotate(n=Count("id")):
        outcomes[row["outcome"]] = row["n"]
    return {
        "queued_for_staff": Task.objects.filter(
            status=TaskStatus.QUEUED, task_type__assignee_kind=AssigneeKind.STAFF).count(),
        "unassignable": Unassignable.objects.filter(task__status=TaskStatus.QUEUED).count(),
        "awaiting_confirmation": outcomes[Outcome.PENDING],
        "confirmation_overdue": Assignment.objects.filter(
            outcome=Outcome.PENDING, expires_at__lte=now).count(),
        "outcomes": outcomes,
    }
