"""The assignment app's hooks: it dispatches staff work and keeps its records in step."""

from __future__ import annotations

from django.utils import timezone

from apps.tasks.dispatch import register_dispatcher
from apps.tasks.holding import Change, on_transition
from apps.tasks.states import AssigneeKind

from .models import OPEN_OUTCOMES, Assignment, Outcome

# What a transition that takes a task from its holder makes of the open assignment.
RELEASE_OUTCOMES = {
    "decline": Outcome.DECLINED,
    "expire": Outcome.EXPIRED,
    "requeue": Outcome.REVOKED,
    "cancel": Outcome.REVOKED,
}


@on_transition
def keep_assignment_outcome(change: Change) -> None:
    """Runs inside the transition's transaction, so the record never disagrees with the task."""
    now = timezone.now()
    if change.transition in ("accept", "start") and change.from_status == "assigned":
        Assignment.objects.filter(task=change.task, outcome=Outcome.PENDING).update(
            outcome=Outcome.ACCEPTED, decided_at=now)
        return
    if change.before is None or change.after == change.before:
        return
    outcome = RELEASE_OUTCOMES.get(change.transition, Outcome.FINISHED)
    Assignment.objects.filter(
        task=change.task, assignee_user_id=change.before, outcome__in=OPEN_OUTCOMES
    ).update(outcome=outcome, outcome_reason=change.reason[:200], decided_at=now)


def _assign_now(task_ids):
    from .services import assign_queued

    assign_queued(task_ids=task_ids)


register_dispatcher(AssigneeKind.STAFF, _assign_now)
