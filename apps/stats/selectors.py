"""Figures about the whole system, for the stats API and the dashboard pages.

Pure reads returning plain dataclasses, so a page and the API show the same numbers. Each
figure is answered by an index or a snapshot, never by reading the task table whole on a
request (the table is meant to hold millions of rows):

- counts by status: open states are counted live on the open-status index (open work is the
  small part of the table; COUNT(*), so the index alone answers); ended states (completed,
  failed, cancelled, rejected: nearly every row) come from the tasks app's snapshot a sweep
  refreshes (`apps.tasks.selectors.refresh_ended_counts`, every STATS_SNAPSHOT_SECONDS; the
  metrics snapshot reads the same one), with its age in the answer;
- throughput, completion rate, durations, late completions and per-person rates: an
  index-only range of `task_finished_idx` (status, finished_at, then the holder, the type,
  started_at and due_at it carries) over the window asked for;
- overdue work: a range of `task_open_due_idx` (open tasks with a deadline);
- queues: `task_queued_type_idx` (type, priority, queued_at of queued tasks only), index-only,
  so it costs the backlog, not the table;
- units and staff: their own small tables, and the window's ended tasks for per-person rates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.execution.models import ExecutionUnit, UnitStatus
from apps.staff.models import RequiredSkill, Staff, StaffSkill
from apps.tasks import selectors as task_selectors
from apps.tasks.models import Task, TaskType
from apps.tasks.states import HELD_STATES, OPEN_STATES, Priority, TaskStatus

S = TaskStatus
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Outcomes of work: a cancelled or rejected task was a decision, not a success or a failure.
OUTCOMES = (S.COMPLETED, S.FAILED)
# Durations are figured over the latest completions of the window, at most this many.
DURATION_SAMPLE = 5000


# --- counts by status --------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusCounts:
    counts: dict[str, int]
    ended_as_of: datetime  # when the ended states were counted (open ones are live)

    @property
    def open(self) -> int:
        return sum(n for status, n in self.counts.items() if status in OPEN_STATES)


# The ended counts are the tasks app's snapshot (one cache key, one sweep), shared with the
# metrics snapshot; named here too for the callers of the stats (the sweep, the bench, tests).
refresh_ended_counts = task_selectors.refresh_ended_counts
forget_ended_counts = task_selectors.forget_ended_counts


def forget_status_samples(*, now: datetime | None = None, hours: int = 24) -> None:
    cache.delete_many([_sample_key(h) for h in hours_back(now=now or timezone.now(),
                                                          hours=hours)])


def status_counts() -> StatusCounts:
    ended = task_selectors.ended_counts()  # the first read after a start counts once
    counts = dict.fromkeys(S.values, 0)
    counts.update(ended.counts)
    counts.update(task_selectors.task_counts_in(statuses=OPEN_STATES))
    return StatusCounts(counts=counts, ended_as_of=ended.as_of)


# --- the overview ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Throughput:
    completed: int
    failed: int


@dataclass(frozen=True)
class Durations:
    """Running time (started → finished) of the tasks completed in the window (the latest
    DURATION_SAMPLE of them at most)."""

    sample: int
    mean_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class SlaBreaches:
    overdue_open: int  # open tasks past their due_at now
    completed_late: int  # completed in the last day after their due_at


@dataclass(frozen=True)
class Overview:
    as_of: datetime
    counts: StatusCounts
    last_hour: Throughput
    last_day: Throughput
    completion_rate: float | None  # completed / (completed + failed), last day
    durations: Durations
    sla: SlaBreaches


def overview(*, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    day = _ended_in_day(now)
    completed, failed = day["completed_day"], day["failed_day"]
    return Overview(
        as_of=now,
        counts=status_counts(),
        last_hour=Throughput(day["completed_hour"], day["failed_hour"]),
        last_day=Throughput(completed, failed),
        completion_rate=_ratio(completed, completed + failed),
        durations=completed_durations(since=now - DAY, now=now),
        sla=SlaBreaches(
            overdue_open=Task.objects.filter(
                due_at__isnull=False, status__in=sorted(OPEN_STATES), due_at__lt=now).count(),
            completed_late=day["late_day"],
        ),
    )


def _ended_in_day(now: datetime) -> dict[str, int]:
    hour_ago = now - HOUR
    return Task.objects.filter(
        status__in=OUTCOMES, finished_at__gte=now - DAY, finished_at__lte=now,
    ).aggregate(
        completed_day=Count("status", filter=Q(status=S.COMPLETED)),
        failed_day=Count("status", filter=Q(status=S.FAILED)),
        completed_hour=Count("status", filter=Q(status=S.COMPLETED, finished_at__gte=hour_ago)),
        failed_hour=Count("status", filter=Q(status=S.FAILED, finished_at__gte=hour_ago)),
        late_day=Count("status", filter=Q(status=S.COMPLETED, due_at__lt=F("finished_at"))),
    )


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def completed_durations(*, since: datetime, now: datetime) -> Durations:
    """Mean and 95th percentile (continuous, as PostgreSQL's percentile_cont) of running
    time over the tasks completed between `since` and `now`: the latest DURATION_SAMPLE of
    them at most, read backwards along task_finished_idx, so the sort stays small however
    busy the day was."""
    if connection.vendor == "postgresql":
        return _durations_in_database(since=since, now=now)
    window = Task.objects.filter(status=S.COMPLETED, finished_at__gte=since,
                                 finished_at__lte=now, started_at__isnull=False)
    seconds = [(f - s).total_seconds() for s, f in window.order_by("-finished_at").values_list(
        "started_at", "finished_at")[:DURATION_SAMPLE]]
    if not seconds:
        return Durations(0, None, None)
    return Durations(len(seconds), sum(seconds) / len(seconds),
                     percentile_cont(values=seconds, fraction=0.95))


def _durations_in_database(*, since: datetime, now: datetime) -> Durations:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), avg(d), percentile_cont(0.95) WITHIN GROUP (ORDER BY d) FROM ("
            " SELECT extract(epoch FROM (finished_at - started_at))::float8 AS d"
            f" FROM {Task._meta.db_table}"
            " WHERE status = %s AND finished_at >= %s AND finished_at <= %s"
            " AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT %s) AS w",
            [S.COMPLETED.value, since, now, DURATION_SAMPLE],
        )
        n, mean, p95 = cursor.fetchone()
    return Durations(n, mean, p95)


def percentile_cont(*, values: Sequence[float], fraction: float) -> float:
    """The continuous percentile of PostgreSQL's percentile_cont: linear between ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- over time ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class HourBucket:
    hour: datetime  # the hour's start, UTC
    completed: int
    failed: int


def hours_back(*, now: datetime, hours: int) -> list[datetime]:
    """The starts of the last `hours` hours, oldest first, the current (unfinished) one last."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - (hours - 1 - i) * HOUR for i in range(hours)]


def throughput_by_hour(*, now: datetime | None = None, hours: int = 24) -> list[HourBucket]:
    """Completed and failed tasks per hour over the last `hours` hours, every hour present
    (zeros included). One grouped query over an index-only range of task_finished_idx
    (status, finished_at leading): it costs the window's ended rows, not the table."""
    now = now or timezone.now()
    starts = hours_back(now=now, hours=hours)
    rows = (Task.objects.order_by()
            .filter(status__in=OUTCOMES, finished_at__gte=starts[0], finished_at__lte=now)
            .annotate(hour=TruncHour("finished_at", tzinfo=UTC))
            .values("hour", "status").annotate(n=Count("*")))
    found: dict[tuple[datetime, str], int] = {(r["hour"], r["status"]): r["n"] for r in rows}
    return [HourBucket(hour=h, completed=found.get((h, S.COMPLETED), 0),
                       failed=found.get((h, S.FAILED), 0)) for h in starts]


# Tasks by status over time: the counts are not kept per hour anywhere, and rebuilding them
# from the history table would read a day of transitions per view. Instead whoever counts
# them anyway (the ended-counts sweep, every STATS_SNAPSHOT_SECONDS, and the dashboard when
# it recomputes its figures) leaves the counts as this hour's sample in the cache: the latest
# sample of an hour stands for it. The chart then costs one cache read of `hours` keys.
STATUS_SAMPLE_KEY = "stats:status-sample:v1:{hour}"


def _sample_key(hour: datetime) -> str:
    return STATUS_SAMPLE_KEY.format(hour=hour.strftime("%Y%m%d%H"))


def record_status_sample(*, counts: StatusCounts, now: datetime | None = None) -> None:
    hour = hours_back(now=now or timezone.now(), hours=1)[0]
    cache.set(_sample_key(hour), counts.counts, timeout=int((DAY + 2 * HOUR).total_seconds()))


@dataclass(frozen=True)
class StatusSample:
    hour: datetime
    counts: dict[str, int] | None  # None: nothing counted in that hour (no sweep ran)


def status_by_hour(*, now: datetime | None = None, hours: int = 24) -> list[StatusSample]:
    starts = hours_back(now=now or timezone.now(), hours=hours)
    found = cache.get_many([_sample_key(h) for h in starts])
    return [StatusSample(hour=h, counts=found.get(_sample_key(h))) for h in starts]


# --- queues ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueRow:
    task_type: str
    queue: str
    priority: str
    depth: int
    oldest_queued_at: datetime | None
    oldest_age_seconds: float | None


def queue_depths(*, now: datetime | None = None) -> list[QueueRow]:
    """Queued tasks per task type and priority, with the age of the oldest; most urgent
    priority first, then deepest."""
    now = now or timezone.now()
    rows = (Task.objects.order_by().filter(status=S.QUEUED)
            .values("task_type_id", "priority")
            .annotate(depth=Count("*"), oldest=Min("queued_at")))
    rows = list(rows)
    types = {t.pk: t for t in TaskType.objects.filter(
        pk__in={r["task_type_id"] for r in rows}).only("key", "queue")}
    result = [
        QueueRow(
            task_type=types[r["task_type_id"]].key, queue=types[r["task_type_id"]].queue,
            priority=Priority(r["priority"]).key, depth=r["depth"],
            oldest_queued_at=r["oldest"],
            oldest_age_seconds=None if r["oldest"] is None
            else max((now - r["oldest"]).total_seconds(), 0.0),
        )
        for r in rows
    ]
    order = {p.key: -p.value for p in Priority}
    return sorted(result, key=lambda q: (order[q.priority], -q.depth, q.task_type))


@dataclass(frozen=True)
class QueueTotal:
    queue: str
    priority: str
    depth: int
    oldest_age_seconds: float | None


def queue_totals(*, rows: Sequence[QueueRow]) -> list[QueueTotal]:
    """The rows summed per Celery queue (critical, default, low) and priority."""
    grouped: dict[tuple[str, str], list[QueueRow]] = defaultdict(list)
    for row in rows:
        grouped[(row.queue, row.priority)].append(row)
    return [
        QueueTotal(queue=q, priority=p, depth=sum(r.depth for r in group),
                   oldest_age_seconds=max((r.oldest_age_seconds for r in group
                                           if r.oldest_age_seconds is not None), default=None))
        for (q, p), group in sorted(grouped.items())
    ]


# --- units -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitTypeStats:
    unit_type: str
    online: int
    draining: int
    offline: int
    capacity: int  # of the units that serve or finish work (online, draining)
    held: int  # tasks they hold now
    load: float | None  # held / capacity
    last_heartbeat_at: datetime | None


def unit_stats() -> list[UnitTypeStats]:
    live = Q(status__in=[UnitStatus.ONLINE, UnitStatus.DRAINING])
    rows = (ExecutionUnit.objects.order_by("unit_type").values("unit_type").annotate(
        online=Count("pk", filter=Q(status=UnitStatus.ONLINE)),
        draining=Count("pk", filter=Q(status=UnitStatus.DRAINING)),
        offline=Count("pk", filter=Q(status=UnitStatus.OFFLINE)),
        capacity=Sum("capacity", filter=live, default=0),
        held=Sum("held", filter=live, default=0),
        last_heartbeat_at=Max("last_heartbeat_at"),
    ))
    return [UnitTypeStats(**row, load=_ratio(row["held"], row["capacity"])) for row in rows]


# --- staff -------------------------------------------------------------------------------------
@dataclass
class PersonStats:
    user_id: int
    username: str
    name: str
    team: str  # "" for nobody's team
    availability: str
    load: int
    capacity: int
    free_capacity: int
    open_tasks: int
    utilisation: float | None
    completed: int = 0
    failed: int = 0
    completion_rate: float | None = None
    on_time_rate: float | None = None  # completed by due_at, of those completed with one
    skill_match_rate: float | None = None  # ended work whose type's skills they have


@dataclass(frozen=True)
class StaffStats:
    since: datetime
    staff: list[PersonStats] = field(default_factory=list)
    load_gini: float = 0.0  # 0: load spread evenly; towards 1: held by a few
    skill_match_rate: float | None = None


def staff_stats(*, people, since: datetime, now: datetime | None = None) -> StaffStats:
    """Per person: load against capacity, open tasks held, and over the ended work they held
    between `since` and now: completion rate, on-time rate, skill-match rate. `people` is a
    Staff queryset (who the caller may see). Five queries at most whatever the number of
    people or of ended tasks: the ended work is tallied in PostgreSQL, one row per person."""
    now = now or timezone.now()
    staff = list(people.select_related("user", "team").order_by("user__username"))
    by_user = {s.user_id: s for s in staff}
    held = _held_counts(by_user)
    tallies = _ended_by_holder(by_user, people, unmatched=_unmatched_work(staff),
                               since=since, now=now)
    result = [_person(s, tallies.get(s.user_id, {}), held.get(s.user_id, 0)) for s in staff]
    ended = sum(p.completed + p.failed for p in result)
    matched = sum(tallies.get(s.user_id, {}).get("matched", 0) for s in staff)
    return StaffStats(since=since, staff=result, load_gini=gini(values=[s.load for s in staff]),
                      skill_match_rate=_ratio(matched, ended))


def _ended_by_holder(by_user: dict, people, *, unmatched: Q | None, since: datetime,
                     now: datetime) -> dict[int, dict[str, int]]:
    """Per holder, their outcomes in the window: one GROUP BY assignee_user over an
    index-only range of task_finished_idx (every column it reads is in the index), so the
    answer is a row per person, not the window's ~30,000 ended rows (or their thousands of
    (person, type, status) groups) for Python to tally."""
    if not by_user:
        return {}
    window = Task.objects.order_by().filter(status__in=OUTCOMES, finished_at__gte=since,
                                            finished_at__lte=now)
    # Everyone: no list of ids to send; a subset: its ids (a team is small).
    if people.query.where:
        window = window.filter(assignee_user_id__in=list(by_user))
    else:
        window = window.filter(assignee_user__isnull=False)
    completed = Q(status=S.COMPLETED)
    # COUNT(status), not COUNT(*) over the primary key: status is in the index, the key is not.
    figures = {
        S.COMPLETED.value: Count("status", filter=completed),
        S.FAILED.value: Count("status", filter=Q(status=S.FAILED)),
        "with_due": Count("status", filter=completed & Q(due_at__isnull=False)),
        "on_time": Count("status", filter=completed & Q(due_at__isnull=False,
                                                         finished_at__lte=F("due_at"))),
    }
    if unmatched is not None:
        figures["unmatched"] = Count("status", filter=unmatched)
    tallies = {}
    for row in window.values("assignee_user_id").annotate(**figures):
        tally = {name: row[name] for name in figures}
        tally["matched"] = (tally[S.COMPLETED] + tally[S.FAILED]
                            - tally.pop("unmatched", 0))
        tallies[row["assignee_user_id"]] = tally
    return tallies


def _unmatched_work(staff: list[Staff]) -> Q | None:
    """A condition on a task row: its type requires a skill (or a level of it) its holder
    lacks (their skills today). One OR branch per task type that requires skills, naming the
    people who fall short of it: `task_type = t AND assignee_user IN (…)`, which PostgreSQL
    checks per row against a hashed list. None when nobody falls short of anything.

    Built from the two small tables (required skills, the people's skills) rather than by a
    subquery per ended row, which would probe them ~30,000 times a day's window."""
    required: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in RequiredSkill.objects.values("task_type_id", "skill_id", "level"):
        required[r["task_type_id"]].append((r["skill_id"], r["level"]))
    if not required or not staff:
        return None
    levels: dict[int, dict[int, int]] = defaultdict(dict)
    for row in StaffSkill.objects.filter(staff__in=[s.pk for s in staff]).values(
            "staff__user_id", "skill_id", "level"):
        levels[row["staff__user_id"]][row["skill_id"]] = row["level"]
    condition = None
    for type_id, needs in sorted(required.items()):
        short = sorted(s.user_id for s in staff
                       if any(levels[s.user_id].get(skill, 0) < level for skill, level in needs))
        if short:
            branch = Q(task_type_id=type_id, assignee_user_id__in=short)
            condition = branch if condition is None else condition | branch
    return condition


def _held_counts(by_user: dict) -> dict[int, int]:
    """Open tasks each person holds, in one grouped query. Only held states have a holder
    (task_waiting_has_no_assignee), and naming the people lets PostgreSQL probe
    task_held_status_idx per person and state, index-only, instead of reading every held
    or ended row. (A correlated count per person had a cost estimate over a big table that
    set PostgreSQL's JIT compiling for a second.)"""
    if not by_user:
        return {}
    rows = Task.objects.order_by().filter(status__in=sorted(HELD_STATES),
                                          assignee_user_id__in=list(by_user))
    return dict(rows.values("assignee_user_id").annotate(n=Count("*")).values_list(
        "assignee_user_id", "n"))


def _person(s: Staff, tally: dict[str, int], open_tasks: int) -> PersonStats:
    completed, failed = tally.get(S.COMPLETED, 0), tally.get(S.FAILED, 0)
    return PersonStats(
        user_id=s.user_id, username=s.user.get_username(),
        name=s.user.get_full_name() or s.user.get_username(),
        team=s.team.name if s.team else "", availability=s.availability,
        load=s.load, capacity=s.capacity, free_capacity=s.free_capacity,
        open_tasks=open_tasks, utilisation=_ratio(s.load, s.capacity),
        completed=completed, failed=failed,
        completion_rate=_ratio(completed, completed + failed),
        on_time_rate=_ratio(tally.get("on_time", 0), tally.get("with_due", 0)),
        skill_match_rate=_ratio(tally.get("matched", 0), completed + failed),
    )


def gini(*, values: Sequence[float]) -> float:
    """The Gini coefficient: the mean absolute difference between every two values over
    twice the mean. 0 when everyone holds the same (or nobody holds anything)."""
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    ranked = sorted(values)
    weighted = sum(rank * v for rank, v in enumerate(ranked, start=1))
    return 2 * weighted / (n * total) - (n + 1) / n
