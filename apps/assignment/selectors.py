"""Figures about assignment, shared by the stats API, the admin and pages."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, prefetch_related_objects
from django.utils import timezone

from apps.tasks.models import Task, TaskType
from apps.tasks.states import AssigneeKind, TaskStatus

from .models import Assignment, AssignmentPolicy, Outcome, Unassignable, default_strategy_for


def unassignable_count() -> int:
    """Queued tasks the engine found nobody for (a record left by its last try)."""
    return Unassignable.objects.filter(task__status=TaskStatus.QUEUED).count()


def assignment_stats() -> dict:
    now = timezone.now()
    outcomes = dict.fromkeys(Outcome.values, 0)
    for row in Assignment.objects.order_by().values("outcome").annotate(n=Count("id")):
        outcomes[row["outcome"]] = row["n"]
    return {
        "queued_for_staff": Task.objects.filter(
            status=TaskStatus.QUEUED, task_type__assignee_kind=AssigneeKind.STAFF).count(),
        "unassignable": unassignable_count(),
        "awaiting_confirmation": outcomes[Outcome.PENDING],
        "confirmation_overdue": Assignment.objects.filter(
            outcome=Outcome.PENDING, expires_at__lte=now).count(),
        "outcomes": outcomes,
    }


# --- policies ---------------------------------------------------------------------------------
def policy_of(*, task_type: TaskType) -> AssignmentPolicy:
    """The type's assignment policy, or the defaults when it has no row (never saved from
    here). Reads what load_policies or a select_related put on the type: no query then."""
    try:
        return task_type.assignment_policy
    except AssignmentPolicy.DoesNotExist:
        # By id, not by instance: setting the instance would cache this unsaved default on
        # the type (possibly a shared, cached one) as if it were its row.
        policy = AssignmentPolicy(task_type_id=task_type.pk)
        policy.strategy = default_strategy_for(task_type.assignee_kind)
        return policy


def load_policies(*, task_types: Iterable[TaskType]) -> None:
    """Put every type's policy (or its absence) on it in one query, for a batch of tasks
    whose types were each loaded with their task."""
    prefetch_related_objects([t for t in task_types if t.pk is not None], "assignment_policy")
