"""The tasks' metrics: counters and histograms counted after commit (apps.tasks.subscribers),
in whichever process made the change (web, Celery worker, beat: merged across processes, see
taskmanage/multiproc.py), and gauges from the periodic snapshot (apps.core.metrics)."""

from __future__ import annotations

from django.utils import timezone
from prometheus_client import Counter, Histogram

from apps.core.metrics import SnapshotGauge, register_snapshot

from .states import OPEN_STATES, Priority, TaskStatus

# Seconds: from a few seconds of machine work to days of human work.
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400,
                    7 * 86400)

TRANSITIONS = Counter(
    "taskmanage_task_transitions_total", "Task transitions performed",
    ["transition", "to_status"],
)
CREATED = Counter("taskmanage_tasks_created_total", "Tasks created",
                  ["task_type", "priority"])
COMPLETED = Counter("taskmanage_tasks_completed_total", "Tasks that ended completed",
                    ["task_type", "priority"])
FAILED = Counter("taskmanage_tasks_failed_total",
                 "Tasks that ended failed, retries spent: each one a new dead letter",
                 ["task_type", "priority"])
RETRIES = Counter("taskmanage_task_retries_total",
                  "Failed attempts scheduled to run again after their backoff", ["task_type"])
WAIT = Histogram("taskmanage_task_wait_seconds",
                 "From creation to the start of an attempt (waiting, approval, queue, offer)",
                 ["task_type"], buckets=DURATION_BUCKETS)
RUN = Histogram("taskmanage_task_run_seconds",
                "From the start of the last attempt to the end (completed or failed)",
                ["task_type"], buckets=DURATION_BUCKETS)


def priority_name(value: int) -> str:
    return Priority(value).label


def read_snapshot() -> dict:
    """Open tasks by (status, priority) from the open-status index (open work is small); the
    ended states and the dead letters from the ended-counts snapshot (apps.tasks.selectors,
    recounted every STATS_SNAPSHOT_SECONDS by its own sweep, shared with the stats), so no
    statement here reads the ended rows that make up nearly all of the table; the oldest
    queued task per priority from the queue's index."""
    from .selectors import ended_counts, oldest_queued_by_priority, open_counts_by_status_priority

    counts = open_counts_by_status_priority()
    totals = dict.fromkeys(TaskStatus.values, 0)
    for (status, _), count in counts.items():
        totals[status] += count
    totals.update(ended_counts().counts)
    now = timezone.now()
    oldest = oldest_queued_by_priority()
    return {
        "taskmanage_tasks": [((status,), n) for status, n in totals.items()],
        # Every open status at every priority, zeros included: a series that vanishes at
        # zero would leave an alert on it undefined rather than resolved.
        "taskmanage_queue_depth": [
            ((status, priority_name(p)), counts.get((status, p), 0))
            for status in sorted(OPEN_STATES) for p in Priority.values],
        "taskmanage_queue_oldest_age_seconds": [
            ((priority_name(p),), (now - oldest[p]).total_seconds() if p in oldest else 0.0)
            for p in Priority.values],
        "taskmanage_dead_letters": [((), totals[TaskStatus.FAILED])],
    }


register_snapshot(read=read_snapshot, gauges=[
    SnapshotGauge("taskmanage_tasks", "Tasks by status", ("status",)),
    SnapshotGauge("taskmanage_queue_depth", "Open tasks by status and priority",
                  ("status", "priority")),
    SnapshotGauge("taskmanage_queue_oldest_age_seconds",
                  "Age of the longest-queued task by priority (0: none queued)", ("priority",)),
    SnapshotGauge("taskmanage_dead_letters", "Tasks failed for good (the dead-letter queue)"),
])
