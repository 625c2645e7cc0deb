"""What the pages read, built on the domain apps' own selectors and policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.roles import sees_all_tasks
from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.approvals.policies import allowed_actions as approval_actions
from apps.approvals.selectors import approval_counts, approvals_visible_to
from apps.assignment.models import Assignment
from apps.execution.models import LIVE_STATES, ExecutionUnit, UnitEvent
from apps.execution.selectors import last_heard
from apps.staff.models import Leave, Staff, StaffSkill
from apps.staff.selectors import tasks_for_me
from apps.stats.selectors import PersonStats, staff_stats
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory, TaskLog
from apps.tasks.policies import API_ACTIONS, may_act
from apps.tasks.selectors import task_counts_by_status, task_history, tasks_visible_to
from apps.tasks.states import HELD_STATES, TERMINAL_STATES, TaskStatus

S = TaskStatus
# The log lines a task page shows: the latest ones (the API pages through all of them).
LOG_TAIL = 200
# Counting tasks by status reads the whole table: the dashboard shares one answer for this
# many seconds across every viewer and process instead of counting per page view.
COUNTS_CACHE_SECONDS = 10
INBOX_LIMIT = 100


def task_list(*, user) -> QuerySet[Task]:
    """The tasks `user` sees, joined with what a row of the list shows (no query per row)."""
    return tasks_visible_to(user=user).select_related("created_by")


def task_for_page(*, user, pk) -> Task | None:
    return task_list(user=user).filter(pk=pk).first()


def task_buttons(*, user, task: Task) -> list[str]:
    """The transitions `user` may ask for on `task` now: exactly what the API would accept,
    by the API's own two rules (the policy, then the state machine among the API's actions)."""
    possible = task_services.allowed_actions(task=task, among=API_ACTIONS)
    return [a for a in API_ACTIONS if a in possible and may_act(user, task, a)]


def may_report(*, user, task: Task) -> dict[str, bool]:
    """Progress (running work only, as the service insists) and log lines."""
    return {
        "progress": task.status == S.RUNNING and may_act(user, task, "progress"),
        "log": may_act(user, task, "log"),
    }


@dataclass
class TaskPage:
    task: Task
    history: list[TaskHistory]
    logs: list[TaskLog]
    assignments: list[Assignment]
    approvals: list[tuple[ApprovalRequest, list[str]]]
    buttons: list[str]
    reports: dict[str, bool]


def task_page(*, user, task: Task) -> TaskPage:
    """Everything the task page shows, in a fixed number of queries."""
    logs = list(task.logs.order_by("-id")[:LOG_TAIL])[::-1]
    approvals = [
        (request, approval_actions(user, request))
        for request in approvals_visible_to(user=user).filter(task=task).order_by("created_at")
    ]
    return TaskPage(
        task=task,
        history=list(task_history(task=task)),
        logs=logs,
        assignments=list(task.assignments.select_related("assignee_user", "delegated_from")
                         .order_by("created_at", "id")),
        approvals=approvals,
        buttons=task_buttons(user=user, task=task),
        reports=may_report(user=user, task=task),
    )


def my_tasks(*, user) -> list[tuple[Task, list[str], dict[str, bool]]]:
    """The caller's own open work, each with what they may do with it."""
    rows = tasks_for_me(user=user).order_by("-priority", "created_at")
    return [(t, task_buttons(user=user, task=t), may_report(user=user, task=t)) for t in rows]


def my_leaves(*, staff) -> QuerySet[Leave]:
    return staff.leaves.select_related("substitute__user").order_by("-start")[:20]


def inbox(*, user, filterset_qs: QuerySet[ApprovalRequest] | None = None):
    """Pending requests `user` sees, oldest first, each with what they may do about it."""
    qs = filterset_qs if filterset_qs is not None else approvals_visible_to(user=user)
    rows = qs.filter(status=ApprovalStatus.PENDING).order_by("created_at", "pk")[:INBOX_LIMIT]
    return [(r, approval_actions(user, r)) for r in rows]


def approval_for_page(*, user, pk: int) -> ApprovalRequest | None:
    return approvals_visible_to(user=user).filter(pk=pk).first()


# --- staff workload and units ------------------------------------------------------------------
# A unit page's tail of status changes, and of the work it ended over the last day.
UNIT_EVENTS = 20
UNIT_ENDED = 10
UNIT_HELD_SHOWN = 200


@dataclass
class PersonRow:
    figures: PersonStats  # the stats API's figures for this person, as /api/v1/stats/staff
    skills: list[tuple[str, int]] = field(default_factory=list)  # (name, level), by name
    leave_now: dict | None = None  # the leave covering this moment: start, end, reason
    next_leave: dict | None = None  # the next one to begin


@dataclass
class Workload:
    rows: list[PersonRow]
    since: datetime
    load_gini: float
    skill_match_rate: float | None
    load: int
    capacity: int


def staff_workload(*, people: QuerySet[Staff], hours: int,
                   now: datetime | None = None) -> Workload:
    """The staff page: the stats API's per-person figures (load, open tasks, completion,
    on-time and skill-match rates over the last `hours`, the Gini of load) for `people`,
    with each person's skills and current or next leave. At most seven queries whatever
    the number of people: the stats' five, the skills, the leaves."""
    now = now or timezone.now()
    figures = staff_stats(people=people, since=now - timedelta(hours=hours), now=now)
    rows = {p.user_id: PersonRow(figures=p) for p in figures.staff}
    if rows:
        for user_id, name, level in (StaffSkill.objects.filter(staff__user_id__in=list(rows))
                                     .order_by("skill__name")
                                     .values_list("staff__user_id", "skill__name", "level")):
            rows[user_id].skills.append((name, level))
        # Leaves not over yet, soonest first: the first covering now is the current one,
        # the first starting later the next.
        for leave in (Leave.objects.filter(staff__user_id__in=list(rows), end__gt=now)
                      .order_by("start").values("staff__user_id", "start", "end", "reason")):
            row = rows[leave["staff__user_id"]]
            if leave["start"] <= now:
                row.leave_now = row.leave_now or leave
            elif row.next_leave is None:
                row.next_leave = leave
    return Workload(
        rows=list(rows.values()), since=figures.since, load_gini=figures.load_gini,
        skill_match_rate=figures.skill_match_rate,
        load=sum(p.load for p in figures.staff), capacity=sum(p.capacity for p in figures.staff),
    )


def age_text(*, seconds: float | None) -> str:
    """How long ago, in the largest unit that fits: 4 s, 3 min, 2 h, 5 d."""
    if seconds is None:
        return ""
    seconds = max(seconds, 0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


@dataclass
class UnitRow:
    unit: ExecutionUnit
    heard_at: datetime | None  # the latest heartbeat, Redis's or the database's
    age: str  # "12 s", or "" when never heard from
    late: bool  # silent past its heartbeat timeout while it should beat (online, draining)

    @property
    def version(self) -> str:
        metrics = self.unit.metrics if isinstance(self.unit.metrics, dict) else {}
        return str(metrics.get("version", ""))


def _unit_rows(units: list[ExecutionUnit], *, now: datetime) -> tuple[list[UnitRow], bool]:
    heard = last_heard(units=units)
    rows = []
    for unit in units:
        at = heard.at.get(unit.pk)
        seconds = (now - at).total_seconds() if at is not None else None
        rows.append(UnitRow(
            unit=unit, heard_at=at, age=age_text(seconds=seconds),
            late=unit.status in LIVE_STATES and (seconds is None
                                               or seconds > unit.heartbeat_timeout)))
    return rows, heard.live


def unit_list(*, units: QuerySet[ExecutionUnit],
              now: datetime | None = None) -> tuple[list[UnitRow], bool]:
    """The units page: each unit with when it was last heard from, and whether that is the
    live figure (False: Redis could not be asked). One query and one Redis round trip."""
    return _unit_rows(list(units), now=now or timezone.now())


@dataclass
class UnitPage:
    row: UnitRow
    live: bool
    held: list[Task]
    events: list[UnitEvent]
    ended: list[Task]


def unit_page(*, unit: ExecutionUnit, now: datetime | None = None) -> UnitPage:
    """A unit's page: the work it holds now, its latest status changes, and the work it ended
    in the last day (the latest few, read along the finished-tasks index)."""
    now = now or timezone.now()
    (row,), live = _unit_rows([unit], now=now)
    mine = Task.objects.filter(assignee_unit=unit).select_related("task_type")
    return UnitPage(
        row=row, live=live,
        held=list(mine.filter(status__in=sorted(HELD_STATES))
                  .order_by("started_at", "pk")[:UNIT_HELD_SHOWN]),
        events=list(unit.events.order_by("-created_at", "-id")[:UNIT_EVENTS]),
        ended=list(mine.filter(status__in=sorted(TERMINAL_STATES),
                               finished_at__gte=now - timedelta(days=1))
                   .order_by("-finished_at")[:UNIT_ENDED]),
    )


def unit_for_page(*, unit_id: str) -> ExecutionUnit | None:
    return ExecutionUnit.objects.filter(unit_id=unit_id).first()


def dashboard_figures(*, user) -> dict:
    """The counts the dashboard shows: the whole system's for managers and admins (shared,
    cached), and the caller's own work for everyone."""
    figures: dict = {"mine": tasks_for_me(user=user).count()}
    if sees_all_tasks(user):
        figures["by_status"] = cache.get_or_set(
            "dashboard:task-counts", task_counts_by_status, COUNTS_CACHE_SECONDS)
        figures["approvals"] = cache.get_or_set(
            "dashboard:approval-counts", approval_counts, COUNTS_CACHE_SECONDS)
    figures["inbox"] = (approvals_visible_to(user=user)
                        .filter(status=ApprovalStatus.PENDING).count())
    return figures
