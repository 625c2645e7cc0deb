"""Builders for test data: short, explicit, and named for what they make."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Max, QuerySet
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.roles import MANAGERS_GROUP
from apps.core.actors import Actor
from apps.tasks import services
from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.states import HELD_STATES, TaskStatus

S = TaskStatus
_seq = itertools.count(1)


def make_user(username: str, *, manager: bool = False, admin: bool = False):
    user = get_user_model().objects.create_user(
        username=username, password=f"pw-{username}-{next(_seq)}", email=f"{username}@example.com",
        is_staff=admin, is_superuser=admin,
    )
    if manager:
        user.groups.add(Group.objects.get_or_create(name=MANAGERS_GROUP)[0])
    return user


def make_task_type(key: str | None = None, **fields) -> TaskType:
    """Through the task type service, so other apps' fields (strategy, leave_policy…) are
    written by their owners as the API writes them."""
    key = key or f"type-{next(_seq)}"
    return services.task_type_create(by=Actor.system("tests"), key=key,
                                     name=key.replace("-", " ").title(), **fields)


def create_task(*, by, task_type: TaskType | None = None, **spec) -> Task:
    """A task made the way callers make them: through the service."""
    spec.setdefault("title", f"task {next(_seq)}")
    task, _ = services.task_create(
        spec=services.TaskSpec(task_type=task_type or make_task_type(), **spec),
        by=Actor.for_user(by),
    )
    return task


def task_in_state(status: str, *, creator, assignee=None, task_type: TaskType | None = None,
                  attempts: int | None = None, progress: int | None = None, error: str = "",
                  **spec) -> Task:
    """A task brought to `status` the way the life cycle brings it there: created by `creator`
    and moved by the task services, so every hook runs, each step has its history row and the
    holder's capacity is taken (held states are held by `assignee`, or else by `creator`).

    Each status is reached by its shortest path:
    - draft, queued, scheduled (`run_at`, an hour ahead unless given): as created;
    - blocked: created waiting on a fresh draft of `creator`'s, the only way a task blocks;
    - pending approval, rejected: need a type that requires creation approval (one is made
      when no `task_type` is given; a type without it is refused, not bent); any other status
      with such a type is approved first;
    - cancelled: cancelled from the queue by `creator`, so it may be retried;
    - assigned, running, paused, in review, completed: assigned by the system, then started,
      paused, submitted or completed by the holder (completed through review when the type
      asks for it);
    - failed: failed by the holder until no retry is left (a type made here allows none).
    `attempts` spends that many attempts (each earlier one failed, then promoted or retried);
    `progress` is reported while running; `error` is what the last attempt failed with. The
    other keywords describe the task (title, priority, payload, due_at…) for task_create.

    What the services stamp with now is then moved into the past (see `_backdate`): queued work
    has waited five minutes, and a scheduled task given a `run_at` already past is due.
    `history_since_built(task)` is the history written after this.
    """
    needs_approval = status in (S.PENDING_APPROVAL, S.REJECTED)
    if task_type is None:
        task_type = make_task_type(requires_creation_approval=needs_approval,
                                   max_retries=0 if status == S.FAILED else 3)
    if needs_approval and not task_type.requires_creation_approval:
        raise ValueError(f"a task reaches {status} only with a type needing creation approval")
    holder = assignee or creator
    as_creator, as_holder = Actor.for_user(creator), Actor.for_user(holder)
    system = Actor.system("builder")

    def move(action: str, by: Actor = system, **kwargs) -> None:
        services.task_transition(task_id=task.pk, action=action, by=by, **kwargs)

    spec.setdefault("title", f"task in {status}")
    run_at = spec.pop("run_at", None)
    due = False
    if status == S.SCHEDULED:
        now = timezone.now()
        due = run_at is not None and run_at <= now
        spec["run_at"] = now + timedelta(hours=1) if run_at is None or due else run_at
    elif run_at is not None:
        spec["run_at"] = run_at
    if status == S.BLOCKED:
        spec["depends_on"] = [create_task(by=creator, task_type=task_type, draft=True,
                                          title="what the blocked task waits for").pk]
    task = create_task(by=creator, task_type=task_type, draft=status == S.DRAFT, **spec)
    if status in (S.DRAFT, S.PENDING_APPROVAL):
        return _built(task, status)
    if task.status == S.PENDING_APPROVAL:
        move("reject" if status == S.REJECTED else "approve")
    if status in (S.REJECTED, S.BLOCKED, S.SCHEDULED):
        if due:
            _backdate(task, run_at=run_at)
        return _built(task, status)
    if status == S.CANCELLED:
        move("cancel", by=as_creator)
    if status in (S.QUEUED, S.CANCELLED):
        return _built(task, status)

    def next_attempt() -> None:
        services.task_assign(task_id=task.pk, user=holder, by=system)
        move("start", by=as_holder)

    services.task_assign(task_id=task.pk, user=holder, by=system)
    for _ in range((attempts or 1) - 1):  # earlier attempts, each failed and tried again
        move("start", by=as_holder)
        move("fail", by=as_holder, error="an earlier attempt failed")
        move("promote" if _fresh(task).status == S.SCHEDULED else "retry")
        services.task_assign(task_id=task.pk, user=holder, by=system)
    if status == S.ASSIGNED:
        return _built(task, status)
    move("start", by=as_holder)
    if progress is not None:
        services.task_report_progress(task=task, progress=progress, by=as_holder)
    if status == S.PAUSED:
        move("pause", by=as_holder)
    elif status == S.IN_REVIEW:
        move("submit", by=as_holder)
    elif status == S.COMPLETED:
        if services.task_complete(task_id=task.pk, by=as_holder).status == S.IN_REVIEW:
            move("approve")
    elif status == S.FAILED:
        move("fail", by=as_holder, error=error)
        while _fresh(task).status == S.SCHEDULED:  # retries left: spend them all
            move("promote")
            next_attempt()
            move("fail", by=as_holder, error=error)
    return _built(task, status)


def _fresh(task: Task) -> Task:
    return Task.objects.select_related("task_type", "assignee_user", "created_by").get(
        pk=task.pk)


def _built(task: Task, status: str) -> Task:
    task = _fresh(task)
    if task.status != status:  # e.g. a run_at still to come keeps it scheduled
        raise ValueError(f"asked for a {status} task, the life cycle left it {task.status}")
    if task.queued_at is not None:
        # Work found in the queue has waited there a while, as sweeps that re-drive old
        # queued work expect; the services would stamp it with this very moment.
        _backdate(task, queued_at=timezone.now() - timedelta(minutes=5))
        task.refresh_from_db(fields=["queued_at"])
    task.built_history_id = task.history.aggregate(last=Max("pk"))["last"] or 0
    return task


def history_since_built(task: Task) -> QuerySet[TaskHistory]:
    """The history rows written after `task_in_state` built the task: what the test did,
    without the rows of the path that brought the task to its state."""
    return TaskHistory.objects.filter(task=task, pk__gt=getattr(task, "built_history_id", 0))


def _backdate(task: Task, **moments) -> None:
    """Time passing, which no service can be asked for: they stamp every moment with now, so
    a task whose `run_at` has come is made by scheduling it, then moving that moment into the
    past. Only timestamps move here; the state, history and load are as the services left
    them."""
    Task.objects.filter(pk=task.pk).update(**moments)


def insert_task_row(status: str, *, creator, assignee=None, task_type: TaskType | None = None,
                    **fields) -> Task:
    """A task row inserted straight into `status`: no service, no hook, no history row, no
    load taken. Only for a row no service leaves: a blocked task none of whose dependencies
    is still open (what `release` and its sweep are for), or one with every field filled at
    once to check how rows are shown. Anything else is made with `task_in_state`."""
    now = timezone.now()
    values = {
        "title": f"task in {status}", "task_type": task_type or make_task_type(),
        "status": status, "created_by": creator, **fields,
    }
    if status in HELD_STATES:
        values.setdefault("assignee_user", assignee or creator)
        values.setdefault("assigned_at", now)
        values.setdefault("held_weight", values["task_type"].capacity_weight)
    if status in (S.RUNNING, S.PAUSED, S.IN_REVIEW):
        values.setdefault("attempts", 1)
        values.setdefault("started_at", now)
    if status not in (S.DRAFT, S.PENDING_APPROVAL, S.BLOCKED, S.SCHEDULED, S.REJECTED):
        values.setdefault("queued_at", now - timedelta(minutes=5))
    if status == S.SCHEDULED:
        values.setdefault("run_at", now + timedelta(hours=1))
    return Task.objects.create(**values)


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def make_skill(name: str):
    from apps.staff.models import Skill
    from apps.staff.services import skill_create

    return Skill.objects.filter(name=name).first() or skill_create(name=name)


def make_staff(username: str, *, skills: dict[str, int] | None = None, capacity: int = 3,
               seniority: int = 1, rating: int = 3, team=None, **user_flags):
    """A staff member with a user of the same name and the given skill levels, enrolled by the
    staff service the admin's "add staff" page uses."""
    from apps.staff.services import staff_enrol

    return staff_enrol(
        user=make_user(username, **user_flags), team=team, capacity=capacity,
        seniority=seniority, rating=rating,
        skills=[(make_skill(name), level) for name, level in (skills or {}).items()],
    )


def require(task_type: TaskType, skills: dict[str, int]) -> TaskType:
    """Add `skills` (name: minimum level) to what `task_type` requires."""
    from apps.staff.services import required_skills_set

    levels = {rs.skill.name: rs.level for rs in task_type.required_skills.select_related("skill")}
    required_skills_set(task_type=task_type, skills=[
        (make_skill(name), level) for name, level in {**levels, **skills}.items()])
    return task_type


# --- staff ---------------------------------------------------------------------------------------
def make_team(name: str, *, manager=None, parent=None):
    from apps.staff.services import team_create

    return team_create(name=name, manager=manager, parent=parent)


def make_leave(staff, *, days_from_now: float = 0, days: float = 7, reason: str = "",
               substitute=None, started_handled_at=None):
    """A leave starting `days_from_now` (negative: already started) and lasting `days`;
    `started_handled_at` says the leave sweep already handed its person's work back."""
    from apps.staff.services import leave_mark_started, leave_request

    start = timezone.now() + timedelta(days=days_from_now)
    leave = leave_request(staff=staff, start=start, end=start + timedelta(days=days),
                          reason=reason, substitute=substitute)
    if started_handled_at is not None:
        leave_mark_started(leave=leave, at=started_handled_at)
    return leave


def field_errors(response) -> dict:
    """A 400's field errors: its body without the `detail` and `code` every error carries."""
    return {k: v for k, v in response.json().items() if k not in ("detail", "code")}
