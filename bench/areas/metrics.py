"""Benchmark area `metrics`: what a Prometheus scrape costs with TASKS tasks in PostgreSQL.

- metrics.scrape_p95 (ms): `/metrics` answered (the view, in this process, as a web thread
  runs it) p95 over SCRAPES scrapes; baseline `metrics.count_per_scrape_p95`: the queries the
  collectors ran per scrape before the snapshot (tasks by status, approvals waiting), p95 on
  the same data. Target: under 50 ms whatever the number of tasks.
- metrics.snapshot (ms): one `snapshot_take` (every reader, every gauge), what beat's
  `ops.snapshot_metrics` costs every METRICS_SNAPSHOT_INTERVAL_SECONDS. No target: shown so
  its price is known; `extra.queries` is how many statements it runs.
- metrics.tasks_snapshot (ms): the tasks' reader alone (tasks by status, queue depth, dead
  letters), median of a few calls; baseline `metrics.whole_table_count`: the GROUP BY
  (status, priority) over the whole table it ran before open work got its index and the
  ended states their shared snapshot. `extra.ended_counts_refresh_ms`: that snapshot's
  recount (the stats sweep's, every STATS_SNAPSHOT_SECONDS), for scale.

The tasks are COPYed in (90 % completed, the rest queued across priorities) under a task type
named `bench-metrics` and deleted at the end. BENCH_METRICS_TASKS sets how many (default
300,000); 0 copies none and measures the table as it is, e.g. the million rows the stats area
keeps (`BENCH_STATS_KEEP=1 make bench BENCH_ARGS="stats"` first).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.deletion import ProtectedError
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext, override_settings

from apps.approvals.selectors import approval_counts
from apps.core.metrics import snapshot_take
from apps.ops.metrics import metrics as metrics_view
from apps.tasks.metrics import read_snapshot
from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.selectors import forget_ended_counts, refresh_ended_counts, task_counts_by_status
from apps.tasks.states import AssigneeKind
from bench.areas.tasks import HISTORY_COLUMNS, TASK_COLUMNS, _copy_chunk
from bench.harness import BenchContext, Figure

AREA = "metrics"
TASK_TYPE_KEY = "bench-metrics"
TASKS = int(os.environ.get("BENCH_METRICS_TASKS", "300000"))
CHUNK, SCRAPES, READS = 10_000, 60, 7


def run(ctx: BenchContext) -> Iterator[Figure]:
    if connection.vendor != "postgresql":
        ctx.log("metrics: skipped, it measures PostgreSQL (set DATABASE_URL)")
        return
    if TASKS:
        who = ctx.principal()
        task_type = _task_type()
        ctx.on_cleanup(_cleanup)
        ctx.log(f"metrics: copying {TASKS:,} tasks")
        _build(who.user, task_type)
    rows = Task.objects.count()
    ctx.log(f"metrics: {rows:,} tasks in the table")
    started = time.perf_counter()
    refresh_ended_counts()  # as the stats sweep keeps it, before any snapshot reads it
    refresh_ms = (time.perf_counter() - started) * 1000
    whole_table = _median_ms(lambda: list(
        Task.objects.order_by().values("status", "priority").annotate(n=Count("pk"))))
    tasks_reader = _median_ms(read_snapshot)
    snapshot_ms, snapshot_queries = _snapshot()
    scrape = _p95_ms(_scrape)
    counted = _p95_ms(lambda: (task_counts_by_status(), approval_counts()))
    yield Figure(name="metrics.scrape_p95", value=scrape, unit="ms",
                 baseline_name="metrics.count_per_scrape_p95", baseline_value=counted,
                 max_value=50, target_note=f"{rows:,} tasks; no query per scrape",
                 extra={"tasks": rows, "scrapes": SCRAPES})
    yield Figure(name="metrics.snapshot", value=snapshot_ms, unit="ms",
                 target_note="once per METRICS_SNAPSHOT_INTERVAL_SECONDS, by beat",
                 extra={"queries": snapshot_queries, "tasks": rows})
    yield Figure(name="metrics.tasks_snapshot", value=tasks_reader, unit="ms",
                 baseline_name="metrics.whole_table_count", baseline_value=whole_table,
                 target_note=f"{rows:,} tasks; the tasks' reader, median of {READS}",
                 extra={"ended_counts_refresh_ms": round(refresh_ms, 1), "tasks": rows})


def _median_ms(func: Callable[[], object]) -> float:
    func()  # warm, as for the scrapes
    spent = []
    for _ in range(READS):
        started = time.perf_counter()
        func()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent)


def _scrape() -> None:
    request = RequestFactory().get("/metrics", REMOTE_ADDR="127.0.0.1")
    with override_settings(METRICS_ALLOWED_IPS=["127.0.0.1"]):
        response = metrics_view(request)
    assert response.status_code == 200, response.status_code


def _p95_ms(func: Callable[[], object]) -> float:
    func()  # warm: the first call builds what later ones reuse
    spent = []
    for _ in range(SCRAPES):
        started = time.perf_counter()
        func()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(spent, n=20)[-1]


def _snapshot() -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        snapshot_take()
        spent = (time.perf_counter() - started) * 1000
    return spent, len(queries)


def _task_type() -> TaskType:
    task_type, _ = TaskType.objects.get_or_create(
        key=TASK_TYPE_KEY,
        defaults={"name": "Metrics benchmark", "assignee_kind": AssigneeKind.UNIT})
    return task_type


def _build(user, task_type: TaskType) -> None:
    task_sql = f"COPY {Task._meta.db_table} ({', '.join(TASK_COLUMNS)}) FROM STDIN"
    history_sql = f"COPY {TaskHistory._meta.db_table} ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"
    nonce = uuid.uuid4().hex[:8]
    for start in range(0, TASKS, CHUNK):
        tasks, history = _copy_chunk(user, task_type, f"metrics-{nonce}-{start}", CHUNK)
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(task_sql) as copy:
                copy.write(tasks)
            with cursor.cursor.copy(history_sql) as copy:
                copy.write(history)
    # Most of a real table is finished work; the queue spreads over the priorities.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Task._meta.db_table} SET status = CASE WHEN random() < 0.9 "
            "THEN 'completed' ELSE 'queued' END, priority = floor(random() * 4)::int "
            "WHERE task_type_id = %s", [task_type.pk])
        cursor.execute(f"ANALYZE {Task._meta.db_table}")


def _cleanup() -> None:
    # In SQL: the ORM would collect 300,000 rows in Python to cascade a delete nothing needs.
    ours = (f"SELECT t.id FROM {Task._meta.db_table} t JOIN {TaskType._meta.db_table} k "
            "ON k.id = t.task_type_id WHERE k.key = %s")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TaskHistory._meta.db_table} WHERE task_id IN ({ours})",
                       [TASK_TYPE_KEY])
        cursor.execute(f"DELETE FROM {Task._meta.db_table} WHERE id IN ({ours})",
                       [TASK_TYPE_KEY])
    with suppress(ProtectedError):  # another run still has tasks of it
        TaskType.objects.filter(key=TASK_TYPE_KEY).delete()
    forget_ended_counts()  # it counted the rows just deleted
