"""Every change to an approval request goes through here.

A decision runs in one transaction: it locks the task, then the request (the order every
task transition uses, so a decision and a cancellation never deadlock), checks the request is
still pending and the caller may decide it, applies the request's transition, and moves the
task with apps.tasks.services in the same transaction. Notifications (email, live pages) go
out after commit, through apps.core.events subscribers: a failing mail never undoes a decision.

Requests are opened and closed by the task hooks (apps.tasks.holding) inside the task's own
transaction: a task waiting for a decision always has exactly one pending request, and a task
that stops waiting (cancelled, decided) leaves none behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from apps.core.actors import Actor
from apps.core.events import emit
from apps.core.exceptions import Conflict, InvalidInput, PermissionDenied
from apps.tasks.holding import Change
from apps.tasks.models import Task
from apps.tasks.services import task_lock, task_log_append, task_transition
from apps.tasks.states import LogLevel, TaskStatus, Transition

from .models import ApprovalKind, ApprovalRequest, ApprovalStatus
from .policies import is_own, may_decide, may_withdraw
from .selectors import admin_recipient_ids, escalation_manager

A = ApprovalStatus
K = ApprovalKind
S = TaskStatus
T = Transition

# The task state that waits for each kind of decision, and back.
WAITING_STATE = {K.CREATION: S.PENDING_APPROVAL, K.COMPLETION: S.IN_REVIEW}
KIND_WAITING_IN = {state: kind for kind, state in WAITING_STATE.items()}

# What each decision does to the task (apps.tasks.services.ACTIONS picks the transition the
# task's state offers: `approve` is approve or approve_review, `reject` reject or reject_review).
TASK_ACTION = {
    ("approve", K.CREATION): "approve",  # → queued | blocked | scheduled
    ("reject", K.CREATION): "reject",  # → rejected
    ("withdraw", K.CREATION): "cancel",  # the ask is taken back: nothing to do
    ("approve", K.COMPLETION): "approve",  # → completed
    ("reject", K.COMPLETION): "reject",  # → running, for rework
    ("withdraw", K.COMPLETION): "reject",  # → running: the assignee takes it back
}
# When a task leaves its waiting state by some other path, its pending request follows.
_CLOSING_VERB = {
    T.APPROVE: "approve", T.APPROVE_REVIEW: "approve",
    T.REJECT: "reject", T.REJECT_REVIEW: "reject",
}
SWEEP_BATCH = 500
SYSTEM = "approvals"


def _due(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.APPROVAL_ESCALATE_AFTER)


SYSTEM_ACTOR = Actor.system(SYSTEM)


# --- opening: called by the task hooks, inside the task's transaction ------------------------
def requests_open_for_created(tasks: Sequence[Task], by: Actor) -> list[ApprovalRequest]:
    # A creation listener (apps.tasks.holding.on_created): called positionally, like all.
    """A creation request for each new task that waits for approval, in one INSERT."""
    now = timezone.now()
    rows = [
        ApprovalRequest(kind=K.CREATION, task=task, requester=by.user, created_at=now,
                        due_at=_due(now))
        for task in tasks if task.status == S.PENDING_APPROVAL
    ]
    if not rows:
        return []
    rows = ApprovalRequest.objects.bulk_create(rows)
    emit("approval.requested", {
        "kind": K.CREATION, "request_ids": [r.pk for r in rows],
        "task_ids": [str(r.task_id) for r in rows], "actor": by.name,
    })
    return rows


def request_open(*, task: Task, kind: str, by: Actor) -> ApprovalRequest:
    now = timezone.now()
    row = ApprovalRequest.objects.create(
        kind=kind, task=task, requester=by.user, created_at=now, due_at=_due(now)
    )
    emit("approval.requested", {
        "kind": kind, "request_ids": [row.pk], "task_ids": [str(task.pk)], "actor": by.name,
    })
    return row


def requests_follow_task(change: Change) -> None:
    """A task entered or left a state that waits for a decision: keep its requests in step.

    Runs inside the task's transition, after the task changed and before it is saved; the
    task row is locked, so the request rows are locked after it (the decision order too).
    """
    to_status = change.task.status
    if to_status == change.from_status:
        return
    closed_kind = KIND_WAITING_IN.get(change.from_status)
    if closed_kind is not None:
        _close_pending(change, closed_kind)
    opened_kind = KIND_WAITING_IN.get(to_status)
    if opened_kind is not None:
        request_open(task=change.task, kind=opened_kind, by=change.by)


def _close_pending(change: Change, kind: str) -> None:
    """The task stopped waiting without a decision from here (cancelled, or moved by hand):
    its pending request takes the same way, so none is left to decide on a task that moved."""
    pending = ApprovalRequest.objects.select_for_update(of=("self",)).filter(
        task_id=change.task.pk, kind=kind, status=A.PENDING
    )
    verb = _CLOSING_VERB.get(change.transition, "withdraw")
    comment = change.reason or f"the task was {change.task.status}"
    for request in pending:
        getattr(request, verb)(decider=change.by.user, comment=comment)
        _save(request)
        _announce(request, change.by)


# --- deciding -------------------------------------------------------------------------------
def approval_approve(*, request_id: int, by: Actor, comment: str = "") -> ApprovalRequest:
    return _decide(request_id, "approve", by=by, comment=comment)


def approval_reject(*, request_id: int, by: Actor, comment: str) -> ApprovalRequest:
    if not comment or not comment.strip():
        raise InvalidInput.on("comment", "A rejection says why.")
    return _decide(request_id, "reject", by=by, comment=comment.strip())


def approval_withdraw(*, request_id: int, by: Actor = SYSTEM_ACTOR,
                      comment: str = "") -> ApprovalRequest:
    """The requester takes the question back (or the system, e.g. expiry)."""
    return _decide(request_id, "withdraw", by=by, comment=comment)


def approval_request_lock(*, request_id: int) -> ApprovalRequest:
    """Lock the request's task, then the request: the order the task hooks take them in."""
    task_id = (
        ApprovalRequest.objects.filter(pk=request_id).values_list("task_id", flat=True).first()
    )
    if task_id is None:
        raise ApprovalRequest.DoesNotExist(f"no approval request {request_id}")
    task_lock(task_id=task_id)
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("requester__staff", "task__assignee_user__staff",
                        "task__created_by__staff")
        .get(pk=request_id)
    )


def _decide(request_id: int, verb: str, *, by: Actor, comment: str) -> ApprovalRequest:
    actor, user = by, by.user  # the policies and the request record the person, if any
    with transaction.atomic():
        request = approval_request_lock(request_id=request_id)
        if not request.is_pending:
            raise Conflict(f"the approval request is already {request.status}",
                           current=request.status)
        allowed = (may_withdraw(user, request) if verb == "withdraw"
                   else may_decide(user, request))
        if not allowed:
            raise PermissionDenied(_refusal(verb, user, request))
        waiting = WAITING_STATE[request.kind]
        if request.task.status != waiting:  # the hooks keep this from happening; never guess
            raise Conflict(f"the task is {request.task.status}, not {waiting}",
                           current=request.task.status)
        getattr(request, verb)(decider=user, comment=comment)
        _save(request)
        task = task_transition(
            task_id=request.task_id, action=TASK_ACTION[verb, request.kind], by=actor,
            reason=comment or f"{request.kind} approval #{request.pk} {request.status}",
        )
        if verb == "reject" and request.kind == K.COMPLETION:
            # The assignee reads their logs while reworking: say there why it came back.
            task_log_append(task=task, by=actor, lines=[
                (LogLevel.WARNING, f"Review rejected by {actor.name}: {comment}")])
        _announce(request, actor)
    return request


def _refusal(verb: str, user, request: ApprovalRequest) -> str:
    if verb == "withdraw":
        return "Only the requester may withdraw an approval request."
    if user is not None and user.is_authenticated and is_own(user, request):
        return "Nobody decides their own request or their own work."
    return f"You may not {verb} this request."


def _save(request: ApprovalRequest) -> None:
    try:
        request.save()
    except ConcurrentTransition as exc:  # changed under us despite the lock
        raise Conflict(str(exc), current=A.PENDING) from exc


def _announce(request: ApprovalRequest, by: Actor) -> None:
    emit("approval.decided", {
        "request_id": request.pk, "kind": request.kind, "status": request.status,
        "task_id": str(request.task_id), "requester_id": request.requester_id,
        "decider_id": request.decider_id, "actor": by.name, "comment": request.comment,
        **({"waited": (request.decided_at - request.created_at).total_seconds()}
           if request.decided_at else {}),
    })


# --- escalation and expiry: PostgreSQL decides what is overdue --------------------------------
def approvals_escalate(*, now: datetime | None = None) -> int:
    """Mark pending requests past their deadline as escalated (once) and tell someone above.

    The recipients are the manager of the parent team of the team concerned (the manager's
    manager), or all admins when there is none; the mail goes out after commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            ApprovalRequest.objects.filter(
                status=A.PENDING, due_at__lte=now, escalated_at__isnull=True
            )
            .select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "task", "requester__staff__team__parent__manager",
                "task__assignee_user__staff__team__parent__manager",
                "task__created_by__staff__team__parent__manager",
            )
            .order_by("due_at", "pk")[:SWEEP_BATCH]
        )
        if not rows:
            return 0
        ApprovalRequest.objects.filter(pk__in=[r.pk for r in rows]).update(escalated_at=now)
        admins: list[int] | None = None
        for request in rows:
            boss = escalation_manager(request=request)
            if boss is not None:
                to, recipients = "manager", [boss.pk]
            else:
                if admins is None:
                    admins = admin_recipient_ids()
                to, recipients = "admins", admins
            emit("approval.escalated", {
                "request_id": request.pk, "kind": request.kind, "task_id": str(request.task_id),
                "to": to, "recipient_ids": recipients, "due_at": request.due_at.isoformat(),
            })
    return len(rows)


def approvals_expire(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Withdraw, as the system, pending requests asked longer ago than `older_than`.

    Each goes through approval_withdraw on its own: one decided meanwhile is skipped.
    """
    cutoff = (now or timezone.now()) - older_than
    ids = list(
        ApprovalRequest.objects.filter(status=A.PENDING, created_at__lte=cutoff)
        .order_by("created_at", "pk").values_list("pk", flat=True)
    )
    expired = 0
    for pk in ids:
        try:
            approval_withdraw(request_id=pk, comment="expired")
        except (Conflict, ApprovalRequest.DoesNotExist):
            continue
        expired += 1
    return expired
