"""Every change to a task goes through here.

A service runs in one transaction: it locks the rows it changes, applies the django-fsm
transition, writes one history row per transition, and emits domain events that subscribers
(Celery dispatch, live pages, metrics) receive only after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q, QuerySet
from django.utils import timezone
from django_fsm import ConcurrentTransition

from apps.core.actors import Actor
from apps.core.db import insert_rows_together, instance_factory, update_rows
from apps.core.events import emit
from apps.core.exceptions import Conflict, InvalidInput

from . import extensions, holding, selectors
from .dispatch import dispatcher_for
from .models import Task, TaskHistory, TaskLog, TaskType, release_status
from .states import HELD_STATES, LogLevel, TaskStatus

S = TaskStatus

# Two words, one for each side of the state machine: an *action* is what a caller asks for
# (the API's and admin's verbs); a *transition* is the django-fsm method on the model that
# performs it (states.Transition). An action may stand for more than one transition: `submit`
# sends a draft on or a running task to review, depending on where the task is.
ACTIONS: dict[str, tuple[str, ...]] = {
    "submit": ("submit", "submit_for_review"),
    "approve": ("approve", "approve_review"),
    "reject": ("reject", "reject_review"),
    "release": ("release",),
    "promote": ("promote",),
    "assign": ("assign",),
    "split": ("split",),  # these three: INTERNAL_ACTIONS
    "join": ("join",),
    "fail_shards": ("fail_shards",),
    "accept": ("accept",),
    "start": ("start",),
    "decline": ("decline",),
    "expire": ("expire",),
    "pause": ("pause",),
    "resume": ("resume",),
    "complete": ("complete",),
    "fail": ("fail",),
    "requeue": ("requeue",),
    "reassign": ("requeue",),
    "retry": ("retry",),
    "cancel": ("cancel",),
}
_ACTION_OF_TRANSITION = {
    t: a for a, transitions in ACTIONS.items() for t in transitions if a != "reassign"
}


# --- reading what is possible ---------------------------------------------------------------
def task_available_transitions(*, task: Task) -> list[str]:
    return [t.name for t in task.get_available_status_transitions()]


def task_actions_reaching(*, task: Task, status: str, among: Iterable[str]) -> list[str]:
    """The actions, among those offered, that take the task to `status` from where it is."""
    found = []
    for t in task.get_available_status_transitions():
        targets = getattr(t.target, "allowed_states", None) or [t.target]
        action = _ACTION_OF_TRANSITION[t.name]
        if status in targets and action in among and action not in found:
            found.append(action)
    return found


# A sharded parent's own: the system's alone (apps.execution.sharding), never offered.
INTERNAL_ACTIONS = frozenset({"split", "join", "fail_shards"})


def allowed_actions(*, task: Task, among: Iterable[str] | None = None) -> list[str]:
    possible = set(task_available_transitions(task=task))
    names = among if among is not None else ACTIONS.keys() - INTERNAL_ACTIONS
    return sorted(a for a in names if possible.intersection(ACTIONS[a]))


def _transition_for(task: Task, action: str, *, among: Iterable[str] | None) -> str:
    if action not in ACTIONS:
        raise Conflict(f"unknown transition {action!r}", current=task.status,
                       allowed=allowed_actions(task=task, among=among))
    possible = task_available_transitions(task=task)
    for transition in ACTIONS[action]:
        if transition in possible:
            return transition
    raise Conflict(
        f"cannot {action} a task that is {task.status}",
        current=task.status, allowed=allowed_actions(task=task, among=among),
    )


# --- transitions ----------------------------------------------------------------------------
def task_lock(*, task_id: uuid.UUID | str) -> Task:
    # of=("self",): lock the task row only, not the task type it is joined with.
    return (
        Task.objects.select_for_update(of=("self",))
        .select_related("task_type")
        .get(pk=task_id)
    )


def _history_row(task: Task, *, transition: str, from_status: str, by: Actor, reason: str):
    return TaskHistory(
        task=task, transition=transition, from_status=from_status, to_status=task.status,
        actor_kind=by.kind, actor_user=by.user, actor_name=by.name[:150], reason=reason,
    )


def _apply_in_memory(task: Task, transition: str, *, by: Actor, reason: str = "",
                     cause: str = "", capacity_reserved: bool = False,
                     release_counted: bool = False, **kwargs: Any) -> tuple[TaskHistory, dict]:
    """The one way a transition is applied to a locked task, for one task or a batch: the
    model's django-fsm method, the lease and the holder's capacity that follow, and the
    listeners (who may refuse). Returns its history row and its event, for the caller to
    write and emit once the row is written (one task) or with the batch's rows."""
    from_status = task.status
    held_by = holding.holder(from_status, task.assignee_user_id)
    unit_held_by = holding.holder(from_status, task.assignee_unit_id)
    getattr(task, transition)(**kwargs)  # django-fsm refuses a transition not allowed here
    if task.status not in HELD_STATES:
        task.lease_expires_at = None  # a lease is for work a unit holds
    holds = holding.holder(task.status, task.assignee_user_id)
    released = holding.weigh(task, before=held_by, after=holds)
    holding.notify(holding.Change(
        task=task, transition=transition, from_status=from_status, before=held_by, after=holds,
        by=by, reason=reason, cause=cause, released_weight=released,
        capacity_reserved=capacity_reserved, release_counted=release_counted,
        unit_before=unit_held_by, unit_after=holding.holder(task.status, task.assignee_unit_id),
    ))
    event = {
        "task_id": str(task.pk), "transition": transition, "from": from_status,
        "to": task.status, "task_type": task.task_type.key, "actor": by.name,
        "priority": task.priority, "progress": task.progress, **_timings(task, from_status),
        **({"cause": cause} if cause else {}), **_seen_by(task),
    }
    if unit_held_by is not None:
        event["unit_pk"] = unit_held_by  # e.g. a cancel flag for the unit that held it
    return _history_row(task, transition=transition, from_status=from_status, by=by,
                        reason=reason), event


def _seen_by(task: Task) -> dict[str, int | None]:
    """Who sees the task besides admins and managers (the rule of `tasks_visible_to`), as it
    stands after the change: live pages filter each event by these ids in memory, with no
    query per event and connection."""
    return {"created_by": task.created_by_id, "assignee_user": task.assignee_user_id}


def _timings(task: Task, from_status: str) -> dict[str, float]:
    """Seconds waited (creation to an attempt's start) or run (start to the end), for the
    metrics' histograms: measured here, where the timestamps were just set."""
    if task.status == S.RUNNING and from_status in (S.ASSIGNED, S.QUEUED) and task.started_at:
        return {"waited": (task.started_at - task.created_at).total_seconds()}
    if task.status in (S.COMPLETED, S.FAILED) and task.started_at and task.finished_at:
        return {"ran": (task.finished_at - task.started_at).total_seconds()}
    return {}


def task_apply_locked(*, task: Task, transition: str, by: Actor, reason: str, cause: str = "",
                      **kwargs: Any) -> Task:
    """Apply one transition to a locked task, record it, and announce it after commit.

    `cause` is a tag for the listeners (why, in a word they match on); `reason` is the
    history's wording for people."""
    from_status = task.status
    history, event = _apply_in_memory(task, transition, by=by, reason=reason, cause=cause,
                                      **kwargs)
    try:
        task.save()
    except ConcurrentTransition as exc:  # the row changed under us despite the lock
        raise Conflict(str(exc), current=from_status) from exc
    history.save()
    holding.notify_written([task], by)
    emit("task.transitioned", event)
    if task.status == S.QUEUED:
        _announce_queued([task])
    if task.status == S.COMPLETED:
        _release_dependents_of([task], by=by)
    return task


def _announce_queued(tasks: Sequence[Task]) -> None:
    """After commit, tell the dispatchers (the assignment engine, waiting units) of new work."""
    if tasks:
        emit("tasks.queued", {"task_ids": [str(t.pk) for t in tasks],
                              "kinds": sorted({t.task_type.assignee_kind for t in tasks}),
                              "types": sorted({t.task_type.key for t in tasks})})


def _write_batch(tasks: Sequence[Task], fields: list[str], applied: list, *, by: Actor) -> None:
    """A batch's rows in one UPDATE, its history in one INSERT, its events after commit."""
    update_rows(Task, [*fields, "updated_at"], tasks)
    TaskHistory.objects.bulk_create([history for history, _ in applied])
    holding.notify_written(list(tasks), by)
    for _, event in applied:
        emit("task.transitioned", event)


def task_transition(
    *, task_id: uuid.UUID | str, action: str, by: Actor, reason: str = "", cause: str = "",
    among: Iterable[str] | None = None, **kwargs: Any,
) -> Task:
    """Perform `action` on a task, or raise Conflict listing what is allowed.

    Two callers racing on one task are serialised by the row lock: the second one sees the
    state the first one left, so it either performs a transition still allowed from there or
    gets a Conflict. Nothing is overwritten unseen.
    """
    with transaction.atomic():
        task = task_lock(task_id=task_id)
        _check_unit_holds(task, by)
        transition = _transition_for(task, action, among=among)
        return task_apply_locked(task=task, transition=transition, by=by, reason=reason,
                                 cause=cause, **kwargs)


def lease_until(*, now: datetime | None = None) -> datetime:
    """When a unit's lease taken or renewed now runs out (UNIT_LEASE_SECONDS)."""
    return (now or timezone.now()) + timedelta(seconds=settings.UNIT_LEASE_SECONDS)


def _check_unit_holds(task: Task, by: Actor) -> None:
    """A unit acts only on what it holds now: a task taken back (lease expired, unit offline,
    cancelled) and perhaps done elsewhere refuses the stale holder, so no result is written
    twice."""
    if by.kind == "unit" and (task.assignee_unit_id is None or task.assignee_unit_id != by.ref
                              or task.status not in HELD_STATES):
        raise Conflict(f"{by.name} does not hold this task (it is {task.status})",
                       current=task.status, allowed=[])


def task_assign(*, task_id: uuid.UUID | str, user, by: Actor, reason: str = "") -> Task:
    return task_transition(task_id=task_id, action="assign", by=by, reason=reason, user=user)


def task_assign_locked(*, task: Task, user, by: Actor, reason: str = "") -> bool:
    """Assign a queued task the caller has locked; False when the assignee refuses it (no
    room), in which case nothing was written and `task` is as it was.

    No savepoint is needed: transition listeners refuse before anything is written (the
    capacity check is a conditional UPDATE that matched no row), and the task row and its
    history are saved only after every listener agreed.
    """
    try:
        task_apply_locked(task=task, transition="assign", by=by, reason=reason, user=user)
    except Conflict:
        task.status, task.assignee_user, task.assigned_at = S.QUEUED, None, None
        task.held_weight = 0
        return False
    return True


def tasks_assign_many(
    *, items: Sequence[tuple[Task, Any, str]], by: Actor, capacity_reserved: bool
) -> None:
    """Assign many queued tasks the caller has locked: the same transition, listeners,
    history and events as `task_assign_locked`, written in two statements for the batch.

    `items` are (task, user, reason). With `capacity_reserved`, the caller has already taken
    each assignee's capacity for these tasks (in one statement) and listeners are told so.
    """
    if not items:
        return
    now = timezone.now()
    applied = []
    for task, user, reason in items:
        applied.append(_apply_in_memory(task, "assign", by=by, reason=reason, user=user,
                                        capacity_reserved=capacity_reserved))
        task.updated_at = now
    _write_batch([t for t, _, _ in items], ["status", "assignee_user", "assigned_at",
                                             "held_weight"], applied, by=by)


def tasks_hand_to_unit(*, tasks: Sequence[Task], unit_pk: int, by: Actor) -> None:
    """Lease queued tasks the caller has locked to an execution unit, and start them: the
    unit has them in hand when its claim returns. Two transitions per task (assign, start),
    with their listeners, history and events, written in three statements for the batch.
    The caller (the unit's claim) took the unit's capacity for them up front."""
    if not tasks:
        return
    now = timezone.now()
    until = lease_until(now=now)
    applied = []
    for task in tasks:
        applied.append(_apply_in_memory(task, "assign", by=by, reason="claimed", unit_id=unit_pk,
                                        lease_until=until, capacity_reserved=True))
        applied.append(_apply_in_memory(task, "start", by=by, reason="claimed",
                                        capacity_reserved=True))
        task.updated_at = now
    _write_batch(tasks, ["status", "assignee_unit", "lease_expires_at", "assigned_at",
                         "attempts", "started_at"], applied, by=by)


def tasks_route_to_units(*, items: Sequence[tuple[Task, int, str]], by: Actor) -> None:
    """Assign queued tasks the caller has locked to the units routing chose, under a lease:
    each unit starts them when it next claims. `items` are (task, unit row id, why). The
    caller took the units' capacity for them up front."""
    if not items:
        return
    now = timezone.now()
    until = lease_until(now=now)
    applied = []
    for task, unit_pk, reason in items:
        applied.append(_apply_in_memory(task, "assign", by=by, reason=reason, unit_id=unit_pk,
                                        lease_until=until, capacity_reserved=True))
        task.updated_at = now
    _write_batch([t for t, _, _ in items], ["status", "assignee_unit", "lease_expires_at",
                                             "assigned_at"], applied, by=by)


def tasks_cancel_locked(*, items: Sequence[tuple[Task, str]], by: Actor) -> None:
    """Cancel open tasks the caller has locked, each with its reason (`items`: task, reason),
    written as one batch: the transition, listeners, history row and event of each, in one
    UPDATE and one history INSERT for them all (a workflow's failure cancelling everything
    downstream of it)."""
    if not items:
        return
    now = timezone.now()
    applied = []
    for task, reason in items:
        applied.append(_apply_in_memory(task, "cancel", by=by, reason=reason))
        task.updated_at = now
    _write_batch([t for t, _ in items], ["status", "finished_at", "lease_expires_at",
                                         "held_weight"], applied, by=by)


def tasks_start_routed(*, unit_pk: int, limit: int, by: Actor) -> list[Task]:
    """The tasks routed to a unit (assigned, not started), locked and started: its claim."""
    tasks = list(Task.objects.filter(assignee_unit_id=unit_pk, status=S.ASSIGNED)
                 .select_for_update(skip_locked=True, of=("self",))
                 .select_related("task_type", "created_by")
                 .order_by("-priority", "queued_at", "pk")[:limit])
    if tasks:
        now = timezone.now()
        applied = [_apply_in_memory(t, "start", by=by, reason="claimed") for t in tasks]
        for task in tasks:
            task.updated_at = now
        _write_batch(tasks, ["status", "attempts", "started_at"], applied, by=by)
    return tasks


def tasks_requeue_from_unit(*, unit_pk: int, by: Actor, reason: str, cause: str,
                            task_ids: Sequence | None = None) -> int:
    """Take back what a unit holds (all of it, or `task_ids`) and queue it again: the unit
    went offline, or its lease ran out. Rows another worker holds are skipped this round."""
    held = Task.objects.filter(assignee_unit_id=unit_pk, status__in=sorted(HELD_STATES))
    if task_ids is not None:
        held = held.filter(pk__in=task_ids)
    with transaction.atomic():
        rows = list(held.select_for_update(skip_locked=True, of=("self",))
                    .select_related("task_type").order_by("pk")[:SWEEP_BATCH])
        for task in rows:
            task_apply_locked(task=task, transition="requeue", by=by, reason=reason, cause=cause)
    return len(rows)


def tasks_lease_expired_ids(*, now: datetime | None = None, limit: int = 500) -> list:
    """Held tasks whose unit's lease ran out, with the unit: (task id, unit row id)."""
    return list(Task.objects.filter(lease_expires_at__lt=now or timezone.now(),
                                    status__in=sorted(HELD_STATES))
                .values_list("pk", "assignee_unit_id")[:limit])


def tasks_renew_leases(*, unit_pks: Sequence[int], now: datetime | None = None) -> int:
    """Units that were heard from keep their leases: one UPDATE for every such unit."""
    if not unit_pks:
        return 0
    return Task.objects.filter(assignee_unit_id__in=unit_pks,
                               status__in=sorted(HELD_STATES)).update(
        lease_expires_at=lease_until(now=now))


def tasks_lock_queued(
    *, kind: str, task_ids=None, task_type_ids=None, limit: int = 200, shards_only: bool = False,
) -> list[Task]:
    """Queued tasks of one assignee kind, locked, in the order they should be served:
    priority first, then age. Rows other workers hold are skipped, not waited for. A sharded
    parent is never among them: its shards are the work (`shards_only`: nothing else)."""
    qs = Task.objects.filter(status=S.QUEUED, task_type__assignee_kind=kind).filter(
        Q(shard_index__isnull=False) if shards_only
        else Q(shard_count__isnull=True) | Q(shard_index__isnull=False))
    if task_ids is not None:
        qs = qs.filter(pk__in=task_ids)
    if task_type_ids is not None:
        qs = qs.filter(task_type_id__in=task_type_ids)
    # With the creator: the claim's answer shows it, and reading it per task cost a query each.
    return list(
        qs.select_for_update(skip_locked=True, of=("self",))
        .select_related("task_type", "created_by")
        .order_by("-priority", "queued_at", "pk")[:limit]
    )


def task_complete(*, task_id, result: Any = None, by: Actor, reason: str = "") -> Task:
    """Complete a running task, or send it to review when its type asks for approval."""
    with transaction.atomic():
        task = task_lock(task_id=task_id)
        _check_unit_holds(task, by)
        needs_review = task.task_type.requires_completion_approval
        transition = _transition_for(task, "submit" if needs_review else "complete",
                                     among=None)
        if transition not in ("complete", "submit_for_review"):
            raise Conflict(f"cannot complete a task that is {task.status}",
                           current=task.status, allowed=allowed_actions(task=task))
        return task_apply_locked(task=task, transition=transition, by=by, reason=reason,
                            result=result)


def task_act(*, task: Task, action: str, by: Actor, reason: str = "", result: Any = None,
             error: str = "", retryable: bool = True,
             among: Iterable[str] | None = None) -> Task:
    """Perform an action a person asked for, as the API and the pages both offer them: one
    path, so a button and an API call can never disagree. `complete` may go to review (the
    task type says), `fail` carries the error, `submit` of running work carries its result.
    `task` is the task as the caller saw it; the transition re-reads it under its lock."""
    if action == "complete":
        return task_complete(task_id=task.pk, result=result, by=by, reason=reason)
    kwargs: dict[str, Any] = {}
    if action == "fail":
        kwargs = {"error": error, "retryable": retryable}
    elif action == "submit" and task.status == S.RUNNING:
        kwargs = {"result": result}
    return task_transition(task_id=task.pk, action=action, by=by, reason=reason, among=among,
                           **kwargs)


@dataclass(frozen=True)
class Report:
    """One result a unit reports: `completed` (with its result) or `failed` (with its error;
    `retryable=False` ends it failed whatever retries remain)."""

    task_id: str
    outcome: str
    result: Any = None
    error: str = ""
    retryable: bool = True


def tasks_finish_many(*, reports: Sequence[Report], by: Actor) -> list[str | Conflict]:
    """Complete or fail many tasks a unit holds, in one transaction and a handful of
    statements: each one's transition, listeners, history row and events as `task_complete`
    or a `fail` would write them. Returns, for each report in order, the task's status after
    it, or the Conflict that refused it alone (not held by this unit any more, no such task,
    reported twice): the others stand.

    The rows are locked together, in id order, so two batches never deadlock; the holder's
    capacity is given back by the caller, in one statement (`release_counted`)."""
    ids = sorted({str(r.task_id) for r in reports})
    outcomes: list[str | Conflict] = []
    # No savepoint of its own inside a caller's transaction (a unit's batch of results): it
    # catches nothing of ours, so a failure here fails the caller's transaction either way.
    with transaction.atomic(savepoint=False):
        locked = {str(t.pk): t for t in Task.objects.filter(pk__in=ids)
                  .select_for_update(of=("self",)).select_related("task_type").order_by("pk")}
        now, changed, applied, completed = timezone.now(), [], [], []
        for report in reports:
            task = locked.get(str(report.task_id))
            try:
                if task is None:
                    raise Conflict("no such task", current=None)
                _check_unit_holds(task, by)
                applied.append(_finish_in_memory(task, report, by=by))
            except Conflict as exc:
                outcomes.append(exc)
                continue
            task.updated_at = now
            changed.append(task)
            outcomes.append(task.status)
            if task.status == S.COMPLETED:
                completed.append(task)
        _write_batch(changed, ["status", "result", "error", "progress", "finished_at",
                               "attempts", "run_at", "assignee_unit", "assignee_user",
                               "lease_expires_at", "assigned_at", "held_weight"], applied,
                     by=by)
        _release_dependents_of(completed, by=by)
    return outcomes


def _finish_in_memory(task: Task, report: Report, *, by: Actor) -> tuple[TaskHistory, dict]:
    """One report's transition (complete, submit for review, or fail), applied in memory."""
    if report.outcome == "completed":
        needs_review = task.task_type.requires_completion_approval
        transition = _transition_for(task, "submit" if needs_review else "complete",
                                     among=None)
        kwargs = {"result": report.result}
    else:
        transition = _transition_for(task, "fail", among=None)
        kwargs = {"error": report.error, "retryable": report.retryable}
    # The unit's capacity comes back for the whole batch in one statement (release_counted).
    return _apply_in_memory(task, transition, by=by, release_counted=True, **kwargs)


def _release_dependents_of(completed: Sequence[Task], *, by: Actor) -> None:
    """The one release path, for one completed task (task_apply_locked) or a unit's batch
    (tasks_finish_many): blocked tasks waiting on any of `completed` whose every dependency
    is now done go on, to the queue or the clock, in the completing transaction. They are
    written as any batch of transitions is (`_write_batch`: one UPDATE, one history INSERT,
    listeners and events for each), so releasing 100 dependants costs the four statements
    releasing one does, and nothing waiting costs one."""
    if not completed:
        return
    links = Task.depends_on.through.objects.filter(to_task_id__in=[t.pk for t in completed])
    ready = _lock_ready(links.values("from_task_id"))
    if not ready:
        return
    reason = (f"dependency {completed[0].pk} completed" if len(completed) == 1
              else "its dependencies completed")
    _release_locked(ready, by=by, reason=reason)


def _release_locked(ready: Sequence[Task], *, by: Actor, reason: str) -> None:
    """Release blocked tasks the caller locked and found with no open dependency (in one
    statement for them all, so the transition does not ask again for each)."""
    now = timezone.now()
    applied = []
    for task in ready:
        applied.append(_apply_in_memory(task, "release", by=by, reason=reason,
                                        dependencies_done=True))
        task.updated_at = now
    _write_batch(ready, ["status", "queued_at"], applied, by=by)
    _announce_queued([t for t in ready if t.status == S.QUEUED])


def _lock_ready(candidates) -> list[Task]:
    """Lock the blocked tasks among `candidates`, then read which of them are ready.

    Two steps, not one: two last dependencies completing at once in two transactions would
    each read the other's as still open (READ COMMITTED reads what was committed when the
    statement began) and neither would release their dependant. Locking it first makes the
    second wait for the first to commit; its readiness is then read by a new statement,
    which sees the first's completion. Locked in id order, so two completions cannot
    deadlock."""
    locked = list(Task.objects.filter(status=S.BLOCKED, pk__in=candidates)
                  .select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    if not locked:
        return []
    return list(_ready_to_release().filter(pk__in=locked).select_related("task_type")
                .order_by("pk"))


def _ready_to_release() -> QuerySet[Task]:
    """Blocked tasks none of whose dependencies is still open."""
    open_dependency = Task.depends_on.through.objects.filter(from_task=OuterRef("pk")).exclude(
        to_task__status=S.COMPLETED
    )
    return Task.objects.filter(status=S.BLOCKED).exclude(Exists(open_dependency))


def task_report_progress(
    *, task: Task, progress: int, estimated_completion: datetime | None = None, by: Actor,
) -> None:
    """Progress is not a transition: a conditional UPDATE that only a running task takes.

    `task` is the caller's loaded row (it checked who may report on it); the UPDATE decides on
    the row as it is now, and the event names the row's creator and holder for live pages."""
    changes: dict[str, Any] = {"progress": progress, "updated_at": timezone.now()}
    if estimated_completion is not None:
        changes["estimated_completion"] = estimated_completion
    running = Task.objects.filter(pk=task.pk, status=S.RUNNING)
    if by.kind == "unit":
        # Only from the unit that holds it, and a report renews its lease.
        running = running.filter(assignee_unit_id=by.ref)
        changes["lease_expires_at"] = lease_until()
    if not running.update(**changes):
        now = Task.objects.get(pk=task.pk)  # DoesNotExist → 404 for the caller
        _check_unit_holds(now, by)
        raise Conflict(f"progress is reported only while running, the task is {now.status}",
                       current=now.status, allowed=allowed_actions(task=now))
    emit("task.progress", {"task_id": str(task.pk), "progress": progress, "actor": by.name,
                           **_seen_by(task)})


def task_log_append(*, task: Task, lines: Sequence[tuple[str, str]], by: Actor) -> list[TaskLog]:
    """Append execution log lines to the task's current attempt."""
    _check_unit_holds(task, by)
    rows = TaskLog.objects.bulk_create(
        TaskLog(task=task, attempt=task.attempts, level=level or LogLevel.INFO, message=message)
        for level, message in lines
    )
    emit("task.logged", {"task_id": str(task.pk), "lines": len(rows), "actor": by.name,
                         **_seen_by(task)})
    return rows


EDITABLE_FIELDS = frozenset({"title", "priority", "payload", "reference", "labels", "due_at"})


def task_update(*, task_id, changes: dict[str, Any], by: Actor) -> Task:
    """Edit what describes a task; what its life cycle owns (status, assignee…) is not here."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(fields={name: ["This field cannot be changed here."]
                                   for name in sorted(unknown)})
    with transaction.atomic():
        task = task_lock(task_id=task_id)
        if not task.is_open:
            raise Conflict(f"a task that is {task.status} cannot be edited",
                           current=task.status, allowed=allowed_actions(task=task))
        for name, value in changes.items():
            setattr(task, name, value)
        task.save(update_fields=[*changes, "updated_at"])
        emit("task.updated", {"task_id": str(task.pk), "fields": sorted(changes),
                              "actor": by.name})
    return task


# --- creation -------------------------------------------------------------------------------
@dataclass
class TaskSpec:
    """What a caller asks for; validated by the API serializer before it gets here."""

    title: str
    task_type: TaskType
    priority: int | None = None
    payload: dict = field(default_factory=dict)
    reference: str = ""
    labels: list[str] = field(default_factory=list)
    run_at: datetime | None = None
    due_at: datetime | None = None
    depends_on: list[uuid.UUID] = field(default_factory=list)
    idempotency_key: str | None = None
    parent_id: uuid.UUID | None = None
    shard_index: int | None = None
    shard_count: int | None = None
    draft: bool = False
    # Chosen by the caller when other specs of the same batch name this task in `depends_on`
    # (a workflow's graph, created in one batch); otherwise a fresh one.
    id: uuid.UUID | None = None
    # Values of fields other apps add to a create (apps.tasks.extensions), by field name.
    extras: dict[str, Any] = field(default_factory=dict)


def task_create(*, spec: TaskSpec, by: Actor) -> tuple[Task, bool]:
    """Create one task; with an idempotency key already used, return that task instead."""
    (task,), created = tasks_create_batch(specs=[spec], by=by)
    return task, bool(created)


def tasks_create_batch(*, specs: Sequence[TaskSpec], by: Actor) -> tuple[list[Task], list[Task]]:
    """Create many tasks in one transaction: all of them or none.

    Returns (every task in the order asked, the ones newly created). Work per item is kept
    to building objects; the database sees a handful of bulk statements whatever the size.
    """
    try:
        return _create_batch(specs, by)
    except IntegrityError:
        # A possible race: another request inserted the same idempotency key between our
        # lookup and our insert. The transaction was rolled back; now the lookup finds it.
        return _create_batch(specs, by)


def _create_batch(specs: Sequence[TaskSpec], by: Actor) -> tuple[list[Task], list[Task]]:
    now = timezone.now()
    with transaction.atomic():
        existing = _existing_by_key(specs, by)
        dep_status = _dependency_status(specs)
        tasks: list[Task] = []
        new: list[Task] = []
        make = instance_factory(
            Task, created_by_id=getattr(by.user, "pk", None), created_at=now, updated_at=now
        )
        for spec in specs:
            if spec.idempotency_key and spec.idempotency_key in existing:
                tasks.append(existing[spec.idempotency_key])
                continue
            task = _build(spec, make=make, by=by, now=now, dep_status=dep_status)
            tasks.append(task)
            new.append(task)
        if new:
            _insert(new, specs=[s for s in specs if not _is_known(s, existing)], by=by, now=now)
    return tasks, new


def _is_known(spec: TaskSpec, existing: dict[str, Task]) -> bool:
    return bool(spec.idempotency_key and spec.idempotency_key in existing)


def _existing_by_key(specs: Sequence[TaskSpec], by: Actor) -> dict[str, Task]:
    keys = [s.idempotency_key for s in specs if s.idempotency_key]
    if not keys:
        return {}
    found = Task.objects.filter(created_by=by.user, idempotency_key__in=keys).select_related(
        "task_type"
    )
    return {t.idempotency_key: t for t in found}


def _dependency_status(specs: Sequence[TaskSpec]) -> dict[uuid.UUID, str]:
    # Dependencies inside the batch are not written yet: they are open, no need to ask.
    ids = {dep for s in specs for dep in s.depends_on} - {s.id for s in specs if s.id}
    if not ids:
        return {}
    return dict(Task.objects.filter(pk__in=ids).values_list("pk", "status"))


def _initial_status(spec: TaskSpec, dep_status: dict[uuid.UUID, str], now: datetime) -> str:
    if spec.draft:
        return S.DRAFT
    if spec.task_type.requires_creation_approval and spec.shard_index is None:
        return S.PENDING_APPROVAL  # a shard's approval was its parent's
    open_deps = any(dep_status.get(d) != S.COMPLETED for d in spec.depends_on)
    return release_status(has_open_dependencies=open_deps, run_at=spec.run_at, now=now)


def _build(spec: TaskSpec, *, make, by: Actor, now: datetime, dep_status) -> Task:
    status = _initial_status(spec, dep_status, now)
    task = make(
        id=spec.id or uuid.uuid4(), title=spec.title, task_type_id=spec.task_type.pk,
        priority=spec.task_type.priority if spec.priority is None else spec.priority,
        status=status, payload=spec.payload, reference=spec.reference, labels=spec.labels,
        run_at=spec.run_at, due_at=spec.due_at, idempotency_key=spec.idempotency_key,
        parent_id=spec.parent_id, shard_index=spec.shard_index, shard_count=spec.shard_count,
        queued_at=now if status == S.QUEUED else None,
    )
    # Related objects the caller has: reading them later costs no query.
    _TASK_TYPE.set_cached_value(task, spec.task_type)
    _CREATED_BY.set_cached_value(task, by.user)
    return task


_TASK_TYPE = Task._meta.get_field("task_type")
_CREATED_BY = Task._meta.get_field("created_by")


def _insert(tasks: list[Task], *, specs: Sequence[TaskSpec], by: Actor, now: datetime) -> None:
    make = instance_factory(
        TaskHistory, transition="create", from_status="", actor_kind=by.kind,
        actor_user_id=getattr(by.user, "pk", None), actor_name=by.name[:150], created_at=now,
    )
    history = [
        make(task_id=t.pk, to_status=t.status,
             reason="" if t.status == S.DRAFT else "submitted on creation")
        for t in tasks
    ]
    # Not bulk_create: COPY on PostgreSQL (a fraction of the CPU per row), and one statement
    # for a single task and its history.
    insert_rows_together([(Task, tasks), (TaskHistory, history)])
    links = [
        Task.depends_on.through(from_task_id=t.pk, to_task_id=dep)
        for t, spec in zip(tasks, specs, strict=True)
        for dep in spec.depends_on
    ]
    if links:
        Task.depends_on.through.objects.bulk_create(links)
    extensions.write_task_create_fields(tasks, [s.extras for s in specs], by=by)
    holding.notify_created(tasks, by)
    emit("tasks.created", {
        "task_ids": [str(t.pk) for t in tasks], "actor": by.name,
        "by_status": _count_by(str(t.status) for t in tasks),
        "by_type": _count_by(t.task_type.key for t in tasks),
        "by_type_priority": [[key, priority, n] for (key, priority), n in
                             _count_by((t.task_type.key, t.priority) for t in tasks).items()],
    })
    queued = [t for t in tasks if t.status == S.QUEUED]
    if queued:
        emit("tasks.queued", {
            "task_ids": [str(t.pk) for t in queued],
            "kinds": sorted({t.task_type.assignee_kind for t in queued}),
            "types": sorted({t.task_type.key for t in queued}),
        })


def _count_by(keys: Iterable) -> dict:
    counts: dict = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


# --- sweeps: PostgreSQL decides what is pending ------------------------------------------------
SWEEP_BATCH = 500


def _sweep(queryset, transition: str, *, reason: str) -> int:
    """Apply `transition` to a batch of rows the queryset selects, skipping rows others hold.

    SKIP LOCKED lets several beat/worker processes sweep at once without waiting on (or
    double-processing) each other's rows.
    """
    by = Actor.system("sweep")
    with transaction.atomic():
        rows = list(
            queryset.select_for_update(skip_locked=True, of=("self",))
            .select_related("task_type")[:SWEEP_BATCH]
        )
        for task in rows:
            task_apply_locked(task=task, transition=transition, by=by, reason=reason)
    return len(rows)


def tasks_promote_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = Task.objects.filter(status=S.SCHEDULED, run_at__lte=now).order_by("run_at")
    return _sweep(due, "promote", reason="run_at reached")


def tasks_release_unblocked() -> int:
    """Blocked tasks whose dependencies are all done, released in one batch per sweep: what
    no completing transaction could release (a task created blocked while its last
    dependency was completing, which the completion did not see yet)."""
    with transaction.atomic():
        ready = list(_ready_to_release().order_by("pk")
                     .select_for_update(skip_locked=True, of=("self",))
                     .select_related("task_type")[:SWEEP_BATCH])
        _release_locked(ready, by=Actor.system("sweep"), reason="dependencies done")
    return len(ready)


def tasks_queued_ids(*, older_than_seconds: int = 0, limit: int = 1000) -> list[str]:
    """Queued work in the order it should be taken: priority first, then age."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    qs = Task.objects.filter(status=S.QUEUED, queued_at__lte=cutoff).order_by(
        "-priority", "queued_at"
    )
    return [str(pk) for pk in qs.values_list("pk", flat=True)[:limit]]


def tasks_redrive_queued(*, older_than_seconds: int = 30) -> int:
    """Announce queued work again: a dispatch message may have been lost with Redis."""
    ids = tasks_queued_ids(older_than_seconds=older_than_seconds)
    if ids:
        emit("tasks.queued", {"task_ids": ids, "redrive": True})
    return len(ids)


def tasks_dispatch(*, task_ids: Sequence[str]) -> int:
    """Hand queued tasks to the dispatcher of their kind (e.g. the assignment engine)."""
    by_kind: dict[str, list[str]] = {}
    rows = Task.objects.filter(pk__in=task_ids, status=S.QUEUED).values_list(
        "pk", "task_type__assignee_kind"
    )
    for pk, kind in rows:
        by_kind.setdefault(kind, []).append(str(pk))
    dispatched = 0
    for kind, ids in by_kind.items():
        dispatcher = dispatcher_for(kind)
        if dispatcher is not None:
            dispatcher(ids)
            dispatched += len(ids)
    return dispatched


# --- dead letters ----------------------------------------------------------------------------
def tasks_replay_dead(*, by: Actor, task_type_key: str | None = None,
                      since: datetime | None = None, limit: int = 1000,
                      task_ids: Collection[uuid.UUID] | None = None) -> int:
    """Retry dead letters, each on its own (its own lock and history row): one that moved on
    meanwhile is skipped, not an error. `task_ids` narrows them to those (the rows a page
    showed and its user may retry: the caller checks who may, as for a single retry)."""
    replayed = 0
    dead = selectors.dead_letters(task_type_key=task_type_key, since=since)
    if task_ids is not None:
        dead = dead.filter(pk__in=list(task_ids))
    for task_id in dead.values_list("pk", flat=True)[:limit]:
        try:
            task_transition(task_id=task_id, action="retry", by=by, reason="dead letter replay")
        except (Conflict, Task.DoesNotExist):
            continue
        replayed += 1
    return replayed


# --- task types -----------------------------------------------------------------------------
# Fields of the task type itself that callers set; other apps' fields (required skills, the
# assignment policy) arrive through apps.tasks.extensions and are written by their owners.
TASK_TYPE_FIELDS = frozenset(
    f.name for f in TaskType._meta.concrete_fields
    if f.name not in {"id", "created_at", "updated_at"}
)


def _split_task_type_fields(fields: dict[str, Any]):
    own, shares, unknown = extensions.split_task_type_values(fields, own=TASK_TYPE_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: ["Not a task type field."] for name in unknown})
    return own, shares


def task_type_create(*, by: Actor, **fields: Any) -> TaskType:
    """A new task type, with what other apps keep for it (each app's write hook), at once."""
    own, shares = _split_task_type_fields(fields)
    with transaction.atomic():
        task_type = TaskType.objects.create(**own)
        extensions.write_task_type_shares(task_type, shares, created=True, by=by)
    return task_type


def task_type_update(*, task_type: TaskType, by: Actor, **fields: Any) -> TaskType:
    """Change a task type; its `key` only while no task uses it.

    Clients create tasks by sending the key, and reports and schedules keep it: renaming a
    type that has tasks would leave them all under a name nobody sends any more. The row lock
    makes two admins' edits of one type take turns (other apps' shares included).
    """
    own, shares = _split_task_type_fields(fields)
    with transaction.atomic():
        locked = TaskType.objects.select_for_update().get(pk=task_type.pk)
        new_key = own.get("key", locked.key)
        if new_key != locked.key:
            used = Task.objects.filter(task_type=locked).count()
            if used:
                raise Conflict(
                    f"key cannot change: {used} task(s) use task type {locked.key!r} and "
                    "clients send its key; create a new type and deactivate this one")
        for name, value in own.items():
            setattr(locked, name, value)
        locked.save()
        extensions.write_task_type_shares(locked, shares, created=False, by=by)
    return locked


def task_type_delete(*, task_type: TaskType, by: Actor) -> None:
    """Delete a type no task uses; one that has tasks is kept (deactivate it instead)."""
    refused = Conflict("task type has tasks; deactivate it instead", current=None)
    with transaction.atomic():
        # Asked first: Django's PROTECT check would load every task of the type to list them.
        if Task.objects.filter(task_type_id=task_type.pk).exists():
            raise refused
        found = TaskType.objects.filter(pk=task_type.pk).first()
        if found is None:  # deleted meanwhile: nothing left to do
            return
        try:
            with transaction.atomic():
                found.delete()
        except ProtectedError:  # a task created since: PROTECT refuses
            raise refused from None


def task_type_key_in_use(*, task_type: TaskType) -> bool:
    return task_type.pk is not None and Task.objects.filter(task_type=task_type).exists()
