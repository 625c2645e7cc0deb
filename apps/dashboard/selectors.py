"""What the pages read, built on the domain apps' own selectors and policies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.approvals.policies import allowed_actions as approval_actions
from apps.approvals.selectors import approval_counts, approvals_visible_to
from apps.assignment.models import Assignment
from apps.execution.models import LIVE_STATES, ExecutionUnit, UnitEvent
from apps.execution.selectors import last_heard
from apps.schedules import selectors as schedule_selectors
from apps.schedules import services as schedule_services
from apps.staff.models import Leave, Staff, StaffSkill
from apps.staff.selectors import tasks_for_me
from apps.stats import policies as stats_policies
from apps.stats import selectors as stats
from apps.stats.selectors import PersonStats, staff_stats
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory, TaskLog
from apps.tasks.policies import API_ACTIONS, may_act
from apps.tasks.selectors import task_history, tasks_visible_to
from apps.tasks.states import HELD_STATES, TERMINAL_STATES, TaskStatus

S = TaskStatus
# The log lines a task page shows: the latest ones (the API pages through all of them).
LOG_TAIL = 200
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


def log_lines_after(*, task: Task, after: int) -> list[TaskLog]:
    """The task's log lines after line `after`, oldest first, at most a tail's worth: what a
    live page appends when it hears lines were added."""
    return list(task.logs.filter(pk__gt=after).order_by("id")[:LOG_TAIL])


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


# --- the dashboard ----------------------------------------------------------------------------
# The system figures (KPIs, charts, queues, units, failures, schedules) are the same for every
# manager. Each part is cheap on its own (apps.stats: snapshot + index-only ranges), but
# together they are a dozen queries, ~0.3 s at 1,000,000 tasks: so a beat task
# (apps.dashboard.tasks, every settings.DASHBOARD_FIGURES_SECONDS) takes them for every
# viewer and process, and a page view only reads them. Kept several periods, so a late
# refresh leaves older figures (the page says as of when) rather than a computation on a
# page view; a view computes them only when there are none (a fresh start, beat down).
SYSTEM_FIGURES_KEY = "dashboard:system-figures:v1"
# How many refresh periods the figures are kept.
SYSTEM_FIGURES_KEPT_PERIODS = 6
CHART_HOURS = 24
RECENT_FAILURES = 10
UPCOMING_RUNS = 10
BUSIEST_PEOPLE = 5
# Utilisation (load over capacity) bands of the staff load distribution, as (label, upper
# bound exclusive); whoever is at or above capacity falls in the last band.
LOAD_BANDS = (("idle", 0.0), ("under half", 0.5), ("half to 80 %", 0.8),
              ("80 % to full", 1.0), ("full", math.inf))


@dataclass(frozen=True)
class FailureRow:
    pk: str
    title: str
    task_type: str
    finished_at: datetime
    attempts: int
    error: str


@dataclass(frozen=True)
class UpcomingRun:
    schedule: str
    task_type: str
    at: datetime


@dataclass(frozen=True)
class SystemFigures:
    overview: stats.Overview
    queues: list[stats.QueueRow]
    units: list[stats.UnitTypeStats]
    throughput: list[stats.HourBucket]
    status: list[stats.StatusSample]
    failures: list[FailureRow]
    upcoming: list[UpcomingRun]
    approvals: dict[str, int]


@dataclass(frozen=True)
class BusyPerson:
    name: str
    load: int
    capacity: int
    availability: str


@dataclass(frozen=True)
class StaffLoad:
    people: int
    gini: float
    bands: list[tuple[str, int]]
    busiest: list[BusyPerson]


@dataclass(frozen=True)
class DashboardFigures:
    mine: int
    inbox: int
    system: SystemFigures | None  # None: the caller may not see system figures
    staff: StaffLoad | None  # None: nobody's figures, or no system view


def dashboard_figures(*, user) -> DashboardFigures:
    """What /dashboard/ shows `user`: their own open work and the approvals they see; for
    whoever the stats API shows system figures (apps.stats.policies.may_see_system: admins
    and managers), the system's figures, and the load of the staff that API would show them
    (apps.stats.policies.visible_staff)."""
    mine = tasks_for_me(user=user).count()
    inbox = approvals_visible_to(user=user).filter(status=ApprovalStatus.PENDING).count()
    if not stats_policies.may_see_system(user):
        return DashboardFigures(mine=mine, inbox=inbox, system=None, staff=None)
    system = cache.get(SYSTEM_FIGURES_KEY)
    if system is None:
        system = refresh_system_figures()
    people = stats_policies.visible_staff(user)
    return DashboardFigures(mine=mine, inbox=inbox, system=system,
                            staff=None if people is None else staff_load(people=people))


def refresh_system_figures() -> SystemFigures:
    system = system_figures()
    cache.set(SYSTEM_FIGURES_KEY, system,
              settings.DASHBOARD_FIGURES_SECONDS * SYSTEM_FIGURES_KEPT_PERIODS)
    return system


def forget_system_figures() -> None:
    cache.delete(SYSTEM_FIGURES_KEY)


def system_figures(*, now: datetime | None = None) -> SystemFigures:
    """The whole system's figures, in a fixed number of queries whatever the rows."""
    now = now or timezone.now()
    overview = stats.overview(now=now)
    # The counts were read anyway: they are this hour's point of the status chart too.
    stats.record_status_sample(counts=overview.counts, now=now)
    return SystemFigures(
        overview=overview,
        queues=stats.queue_depths(now=now),
        units=stats.unit_stats(),
        throughput=stats.throughput_by_hour(now=now, hours=CHART_HOURS),
        status=stats.status_by_hour(now=now, hours=CHART_HOURS),
        failures=recent_failures(limit=RECENT_FAILURES),
        upcoming=upcoming_runs(now=now, limit=UPCOMING_RUNS),
        approvals=approval_counts(),
    )


def recent_failures(*, limit: int) -> list[FailureRow]:
    """The latest failed tasks: a backward range of task_finished_idx (status, finished_at;
    `finished_at IS NOT NULL` is its condition), `limit` rows whatever the table holds."""
    rows = (Task.objects.filter(status=S.FAILED, finished_at__isnull=False)
            .select_related("task_type").order_by("-finished_at")
            # status too: the state machine's mixin reads it as each row is built (deferred,
            # that would be one more query per row).
            .only("id", "status", "title", "finished_at", "attempts", "error",
                  "task_type__key")[:limit])
    return [FailureRow(pk=str(t.pk), title=t.title, task_type=t.task_type.key,
                       finished_at=t.finished_at, attempts=t.attempts,
                       error=t.error[:200]) for t in rows]


def upcoming_runs(*, now: datetime, limit: int) -> list[UpcomingRun]:
    """The next run of every enabled schedule, soonest first, the first `limit`: the
    schedules API's own next_runs, over the schedules page's query (fixed-delay schedules'
    latest spawns prefetched), so three queries whatever the number of schedules."""
    runs = []
    for schedule in schedule_selectors.schedules_with_last_spawn().filter(enabled=True):
        found = schedule_services.next_runs(schedule=schedule, count=1, after=now)
        if found:
            runs.append(UpcomingRun(schedule=schedule.name, task_type=schedule.task_type.key,
                                    at=found[0]))
    return sorted(runs, key=lambda r: (r.at, r.schedule))[:limit]


def staff_load(*, people: QuerySet[Staff]) -> StaffLoad:
    """Load against capacity over `people`: how many in each utilisation band, the Gini
    coefficient of load (apps.stats.gini, as /stats/staff), and the busiest few. Two
    queries: loads and capacities are small integers on the staff table itself."""
    pairs = list(people.order_by().values_list("load", "capacity"))
    bands = dict.fromkeys((label for label, _ in LOAD_BANDS), 0)
    for load, capacity in pairs:
        share = load / capacity if capacity else (math.inf if load else 0.0)
        label = "idle" if load == 0 else next(
            lbl for lbl, upper in LOAD_BANDS[1:] if share < upper or upper == math.inf)
        bands[label] += 1
    busiest = [
        BusyPerson(name=s.user.get_full_name() or s.user.get_username(), load=s.load,
                   capacity=s.capacity, availability=s.availability)
        for s in people.select_related("user").filter(load__gt=0)
        .order_by("-load", "user__username")[:BUSIEST_PEOPLE]
    ]
    return StaffLoad(people=len(pairs), gini=stats.gini(values=[p[0] for p in pairs]),
                     bands=list(bands.items()), busiest=busiest)


def chart_data(*, figures: DashboardFigures) -> dict:
    """What charts.js draws, as plain lists for `json_script`; the page's tables show the
    same numbers as text."""
    data: dict = {}
    system = figures.system
    if system is not None:
        data["throughput"] = {
            "labels": [hour_label(hour=b.hour) for b in system.throughput],
            "series": {"Completed": [b.completed for b in system.throughput],
                       "Failed": [b.failed for b in system.throughput]},
        }
        data["status"] = {
            "labels": [hour_label(hour=s.hour) for s in system.status],
            # An hour nobody counted is a gap in the line (null), not a zero.
            "series": {S(status).label: [None if s.counts is None else s.counts.get(status, 0)
                                         for s in system.status]
                       for status in CHART_STATUSES},
        }
        data["queues"] = {
            "labels": [f"{q.task_type} · {q.priority}" for q in system.queues],
            "series": {"Queued": [q.depth for q in system.queues]},
        }
        data["units"] = {
            "labels": [u.unit_type for u in system.units],
            "series": {"Held": [u.held for u in system.units],
                       "Capacity": [u.capacity for u in system.units]},
        }
    if figures.staff is not None:
        data["staff"] = {
            "labels": [label for label, _ in figures.staff.bands],
            "series": {"People": [n for _, n in figures.staff.bands]},
        }
    return data


# The open states the status chart draws (ended ones grow for ever and would flatten them).
CHART_STATUSES = (S.QUEUED, S.ASSIGNED, S.RUNNING, S.PAUSED, S.IN_REVIEW, S.BLOCKED,
                  S.SCHEDULED, S.PENDING_APPROVAL)


def hour_label(*, hour: datetime) -> str:
    return hour.strftime("%H:00")


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
