"""The assignment app's hooks: it dispatches staff work and keeps its records in step."""

from __future__ import annotations

from django.utils import timezone

from apps.tasks.dispatch import register_dispatcher
from apps.tasks.holding import Change, on_transition
from apps.tasks.states import AssigneeKind, TaskStatus

from .models import LEAVE_REASON_PREFIX, OPEN_OUTCOMES, Assignment, Outcome, Unassignable

# What a transition that takes a task from its holder makes of the open assignment.
RELEASE_OUTCOMES = {
    "decline": Outcome.DECLINED,
    "expire": Outcome.EXPIRED,
    "requeue": Outcome.REVOKED,
    "cancel": Outcome.REVOKED,
}
# Taking a task from someone keeps it from going straight back to them, except when the task
# itself ended (cancel) or they are away (leave): neither says they should not have it.
EXCLUDING_TRANSITIONS = {"decline", "expire", "requeue"}


@on_transition
def keep_assignment_outcome(change: Change) -> None:
    """Runs inside the transition's transaction, so the record never disagrees with the task."""
    now = timezone.now()
    if change.transition in ("accept", "start") and change.from_status == "assigned":
        Assignment.objects.filter(task=change.task, outcome=Outcome.PENDING).update(
            outcome=Outcome.ACCEPTED, decided_at=now)
        return
    if _begins_new_attempt(change):
        # Exclusions belong to the attempt they were earned in.
        Assignment.objects.filter(task=change.task, excludes_assignee=True).update(
            excludes_assignee=False)
    if change.from_status == TaskStatus.QUEUED and change.transition != "assign":
        # Left the queue some other way (cancelled…): no longer waiting for anyone. Bulk
        # hand-overs clear their own rows in one statement (services._finish).
        Unassignable.objects.filter(task=change.task).delete()
    if change.before is None or change.after == change.before:
        return
    outcome = RELEASE_OUTCOMES.get(change.transition, Outcome.FINISHED)
    Assignment.objects.filter(
        task=change.task, assignee_user_id=change.before, outcome__in=OPEN_OUTCOMES
    ).update(outcome=outcome, outcome_reason=change.reason[:200], decided_at=now,
             excludes_assignee=_excludes(change))


def _begins_new_attempt(change: Change) -> bool:
    """A retry, by hand or scheduled after a failure, starts the task afresh."""
    return change.transition == "retry" or (
        change.transition == "fail" and change.task.status == TaskStatus.SCHEDULED)


def _excludes(change: Change) -> bool:
    return (change.transition in EXCLUDING_TRANSITIONS
            and not change.reason.startswith(LEAVE_REASON_PREFIX))


def _assign_now(task_ids):
    from .services import assign_queued

    assign_queued(task_ids=task_ids)


register_dispatcher(AssigneeKind.STAFF, _assign_now)
