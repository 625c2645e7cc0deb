"""Reads shared by the API, the admin, pages and metrics."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from apps.accounts.roles import sees_all_tasks

from .models import Task, TaskHistory, TaskLog, TaskType
from .states import OPEN_STATES, TERMINAL_STATES, TaskStatus

# How long a process trusts the active task types it looked up. Creating a task needs its
# type, and this saves a query on every create; the price is that another process's change
# to a type (deactivating it, requiring approval) applies here up to this much later. Keys
# not found are never cached, so a type created a moment ago elsewhere is found at once.
TASK_TYPE_CACHE_SECONDS = 5.0
# key -> (monotonic time it was read, the type). Shared by the threads of a process; a lost
# race only costs a second lookup. Holds only types that exist, so it stays small.
_active_types: dict[str, tuple[float, TaskType]] = {}


def tasks_visible_to(*, user) -> QuerySet[Task]:
    """Admins and managers see every task; a machine (an execution unit) what its
    credential's scope says (the types it serves); anyone else what they created or hold."""
    qs = Task.objects.select_related("task_type", "assignee_user__staff", "assignee_unit")
    if getattr(user, "is_machine", False):
        return qs.filter(user.task_scope)
    if sees_all_tasks(user):
        return qs
    return qs.filter(Q(created_by=user) | Q(assignee_user=user))


def task_history(*, task: Task) -> QuerySet[TaskHistory]:
    return task.history.select_related("actor_user").order_by("created_at", "id")


def task_logs(*, task: Task, attempt: int | None = None) -> QuerySet[TaskLog]:
    qs = task.logs.order_by("id")
    return qs if attempt is None else qs.filter(attempt=attempt)


def task_counts_by_status() -> dict[str, int]:
    counts = dict.fromkeys(TaskStatus.values, 0)
    for row in Task.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def task_counts_in(*, statuses: Iterable[str]) -> dict[str, int]:
    """Tasks in each of `statuses` (zeros included), one GROUP BY status. For open states it
    is an index-only scan of task_open_status_idx: open work is the small part of the table."""
    counts = dict.fromkeys(statuses, 0)
    rows = (Task.objects.order_by().filter(status__in=sorted(counts))
            .values("status").annotate(n=Count("*")))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def open_counts_by_status_priority() -> dict[tuple[str, int], int]:
    """Open tasks by (status, priority): an index-only scan of task_open_status_idx, so it
    costs the open work, not the table (the ended rows, nearly all of it, are never read)."""
    rows = (Task.objects.order_by().filter(status__in=sorted(OPEN_STATES))
            .values("status", "priority").annotate(n=Count("*")))
    return {(row["status"], row["priority"]): row["n"] for row in rows}


# --- the ended-counts snapshot -----------------------------------------------------------------
# Tasks in each ended state (completed, failed, cancelled, rejected): nearly every row of the
# table, so counting them reads most of it. They are counted by one sweep every
# STATS_SNAPSHOT_SECONDS (apps.stats.tasks.refresh_ended_counts) and kept in the cache for
# every process: the stats, the dashboard and the metrics snapshot (taskmanage_tasks for ended
# states, taskmanage_dead_letters) all read this one figure, never a count of their own.
ENDED_COUNTS_KEY = "tasks:ended-counts:v1"


@dataclass(frozen=True)
class EndedCounts:
    counts: dict[str, int]  # every ended state, zeros included
    as_of: datetime  # when they were counted


def refresh_ended_counts(*, now: datetime | None = None) -> EndedCounts:
    """Count the ended states now and keep the figures for every process (the sweep)."""
    as_of = now or timezone.now()
    counts = task_counts_in(statuses=sorted(TERMINAL_STATES))
    # Kept well past the refresh period: a late sweep leaves an older figure, not a recount
    # on every read.
    cache.set(ENDED_COUNTS_KEY, {"as_of": as_of.isoformat(), "counts": counts},
              timeout=settings.STATS_SNAPSHOT_SECONDS * 20)
    return EndedCounts(counts=counts, as_of=as_of)


def ended_counts() -> EndedCounts:
    """The latest snapshot; the first read after a start (or a cache lost) counts once."""
    snapshot = cache.get(ENDED_COUNTS_KEY)
    if snapshot is None:
        return refresh_ended_counts()
    counts = dict.fromkeys(sorted(TERMINAL_STATES), 0)
    counts.update(snapshot["counts"])
    return EndedCounts(counts=counts, as_of=datetime.fromisoformat(snapshot["as_of"]))


def forget_ended_counts() -> None:
    cache.delete(ENDED_COUNTS_KEY)


def oldest_queued_by_priority() -> dict[int, datetime]:
    """When the longest-waiting queued task of each priority was queued (the queue index)."""
    rows = (Task.objects.filter(status=TaskStatus.QUEUED).order_by().values("priority")
            .annotate(oldest=Min("queued_at")))
    return {row["priority"]: row["oldest"] for row in rows if row["oldest"] is not None}


def active_task_types(*, keys: Iterable[str]) -> dict[str, TaskType]:
    """The active task types among `keys`, by key; unknown or inactive keys are left out.

    Served from a per-process cache for TASK_TYPE_CACHE_SECONDS; one query for the keys it
    lacks. Callers must treat the types as read-only: they are shared.
    """
    now = time.monotonic()
    found: dict[str, TaskType] = {}
    missing = []
    for key in set(keys):
        cached = _active_types.get(key)
        if cached is not None and now - cached[0] < TASK_TYPE_CACHE_SECONDS:
            found[key] = cached[1]
        else:
            missing.append(key)
    if missing:
        for task_type in TaskType.objects.filter(key__in=missing, is_active=True):
            _active_types[task_type.key] = (now, task_type)
            found[task_type.key] = task_type
    return found


def forget_task_types() -> None:
    """Empty this process's task type cache (a type changed here; tests)."""
    _active_types.clear()


def task_types_changed(**kwargs) -> None:
    """A signal receiver (apps.tasks.hooks): a task type was saved or deleted."""
    # A change made in this process applies here at once; other processes wait out the TTL.
    forget_task_types()


def dead_letters(*, task_type_key: str | None = None,
                 since: datetime | None = None) -> QuerySet[Task]:
    """Tasks that failed for good (their retries spent): the dead-letter queue."""
    qs = Task.objects.filter(status=TaskStatus.FAILED)
    if task_type_key:
        qs = qs.filter(task_type__key=task_type_key)
    if since is not None:
        qs = qs.filter(finished_at__gte=since)
    return qs.order_by("finished_at", "pk")


def tasks_dependencies_known(*, tasks: Sequence[Task]) -> Sequence[Task]:
    """Set each task's `depends_on_ids` (what the API shows) in one query for them all, for
    tasks loaded without the prefetch (a unit's claim answers dozens at once)."""
    links: dict = {t.pk: [] for t in tasks}
    rows = Task.depends_on.through.objects.filter(from_task_id__in=list(links)).values_list(
        "from_task_id", "to_task_id")
    for from_id, to_id in rows:
        links[from_id].append(str(to_id))
    for task in tasks:
        task.depends_on_ids = links[task.pk]
    return tasks
