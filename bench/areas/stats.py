"""Benchmark area `stats`: the stats API on 1,000,000 tasks in PostgreSQL.

Builds ROWS tasks in one INSERT … SELECT (most ended over the last 30 days, a few per cent
queued, running, scheduled or cancelled; held and ended ones by STAFF people of TYPES task
types, some with a deadline), VACUUM ANALYZEs it (as autovacuum soon would), then calls each
endpoint through Django's full stack in this process (authentication, view, selectors,
serializer; no network) CALLS times and reports, per endpoint:

- stats.<endpoint>.p95_ms, target below 200 ms; `extra` holds p50, and the queries per call.
  Baseline, measured in the same run: `naive.counts_by_status` (p95 ms of one
  `COUNT(*) … GROUP BY status` over the whole table: what counting by status costs without
  the snapshot, and the floor a request-time count could never beat).
- stats.overview.counts_snapshot_ms: the sweep's refresh of the ended counts (it runs every
  STATS_SNAPSHOT_SECONDS in beat, never on a request), for scale.

The rows are marked (reference `bench-stats`, task types and people named `bench-stats-…`)
and deleted at the end, unless BENCH_STATS_KEEP=1 keeps them for the next run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from rest_framework.test import APIClient

from apps.staff.models import Staff
from apps.stats import selectors
from apps.tasks.models import Task, TaskType
from bench.harness import BenchContext, Figure

AREA = "stats"
PREFIX = "bench-stats"
ROWS = int(os.environ.get("BENCH_STATS_ROWS", "1000000"))
STAFF, TYPES = 200, 10
CALLS = 40
ENDPOINTS = ("overview", "queues", "workers", "staff")


def run(ctx: BenchContext) -> Iterator[Figure]:
    if connection.vendor != "postgresql":
        ctx.log("stats: PostgreSQL only (1,000,000 rows); skipped")
        return
    if os.environ.get("BENCH_STATS_KEEP") != "1":
        ctx.on_cleanup(cleanup)
    admin = build(ctx)
    client = APIClient(SERVER_NAME="localhost")  # an allowed host
    client.force_authenticate(admin)
    naive = timed(lambda: list(Task.objects.order_by().values("status").annotate(
        n=Count("pk"))), calls=5)
    started = time.perf_counter()
    selectors.refresh_ended_counts()
    yield Figure(name="stats.overview.counts_snapshot_ms",
                 value=(time.perf_counter() - started) * 1000, unit="ms",
                 target_note="the sweep's recount, off the request path")
    for endpoint in ENDPOINTS:
        path = f"/api/v1/stats/{endpoint}"
        answer, queries = counting_queries(lambda p=path: client.get(p))
        assert answer.status_code == 200, (path, answer.status_code, answer.content[:200])
        times = timed(lambda p=path: client.get(p), calls=CALLS)
        yield Figure(
            name=f"stats.{endpoint}.p95_ms", value=p95(times), unit="ms",
            baseline_name="naive.counts_by_status.p95_ms", baseline_value=p95(naive),
            max_value=200.0, target_note=f"{ROWS:,} tasks",
            extra={"p50_ms": round(statistics.median(times), 1),
                   "queries": queries})


def counting_queries(call) -> tuple:
    """What `call` returns and the statements it sent, counted at the cursor (a request's
    start empties Django's own query log)."""
    sent = []

    def count(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        result = call()
    return result, len(sent)


def timed(call, *, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    return selectors.percentile_cont(values=times, fraction=0.95)


def build(ctx: BenchContext):
    User = get_user_model()  # noqa: N806

    def bench_admin():
        return User.objects.get_or_create(username=f"{PREFIX}-admin",
                                          defaults={"is_staff": True, "is_superuser": True})[0]

    if Task.objects.filter(reference=PREFIX).count() >= ROWS:  # kept from an earlier run
        ctx.log(f"stats: reusing {ROWS:,} tasks")
        return bench_admin()
    cleanup()  # deletes every bench-stats user too: the admin is made after it
    admin = bench_admin()
    ctx.log(f"stats: building {ROWS:,} tasks")
    started = time.perf_counter()
    types = [TaskType.objects.create(key=f"{PREFIX}-{i}", name=f"{PREFIX} {i}").pk
             for i in range(TYPES)]
    people = []
    for i in range(STAFF):
        user = User.objects.create(username=f"{PREFIX}-{i}")
        Staff.objects.create(user=user, capacity=5)
        people.append(user.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT, {"rows": ROWS, "types": types, "people": people,
                                 "ref": PREFIX})
    with connection.cursor() as cursor:
        # What autovacuum does to a table of this size soon after: the visibility map lets
        # the stats' index-only scans skip the table.
        cursor.execute(f"VACUUM ANALYZE {Task._meta.db_table}")
    ctx.log(f"stats: built in {time.perf_counter() - started:.0f} s")
    return admin


# Row n's status by n mod 100: 90 completed, 3 failed, 2 cancelled, 3 queued, 1 running,
# 1 scheduled. Ended work spread over 30 days; a third of it had a deadline.
_INSERT = f"""
INSERT INTO {Task._meta.db_table} (
  id, title, priority, status, payload, error, progress, reference, labels, attempts,
  created_at, updated_at, queued_at, assigned_at, started_at, finished_at, due_at, run_at,
  assignee_user_id, task_type_id, held_weight)
SELECT gen_random_uuid(), 'bench task ' || n, (n %% 4), s.status, '{{}}', '', 0, %(ref)s, '[]',
  1, t0, t0, t0, CASE WHEN s.held THEN t0 END, CASE WHEN s.held THEN t0 + interval '1 minute' END,
  CASE WHEN s.ended THEN t0 + (n %% 3600) * interval '1 second' + interval '1 minute' END,
  CASE WHEN n %% 3 = 0 THEN t0 + interval '30 minutes' END,
  CASE WHEN s.status = 'scheduled' THEN now() + interval '1 day' END,
  CASE WHEN s.held THEN (%(people)s::int[])[1 + (n / 100) %% {STAFF}] END,
  (%(types)s::bigint[])[1 + n %% {TYPES}],
  CASE WHEN s.status = 'running' THEN 1 ELSE 0 END
FROM generate_series(1, %(rows)s) AS n,
LATERAL (SELECT now() - (n::float8 / %(rows)s) * interval '30 days' AS t0) AS c,
LATERAL (SELECT CASE
    WHEN n %% 100 < 90 THEN 'completed' WHEN n %% 100 < 93 THEN 'failed'
    WHEN n %% 100 < 95 THEN 'cancelled' WHEN n %% 100 < 98 THEN 'queued'
    WHEN n %% 100 < 99 THEN 'running' ELSE 'scheduled' END AS status) AS st,
LATERAL (SELECT st.status,
    st.status IN ('completed', 'failed', 'running') AS held,
    st.status IN ('completed', 'failed', 'cancelled') AS ended) AS s
"""


def cleanup() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Task._meta.db_table} WHERE reference = %s", [PREFIX])
    Staff.objects.filter(user__username__startswith=f"{PREFIX}-").delete()
    get_user_model().objects.filter(username__startswith=f"{PREFIX}-").delete()
    TaskType.objects.filter(key__startswith=f"{PREFIX}-").delete()
    selectors.forget_ended_counts()
