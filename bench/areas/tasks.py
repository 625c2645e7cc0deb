"""Benchmark area `tasks`: how fast the API creates tasks, against what the stack allows.

All on the deployed server (taskmanage.serving), 16 keep-alive clients, in one run:

- tasks.create.single: POST /api/v1/tasks, one task per request, with a bearer token. Its
  baseline is the lower of the platform's two floors: (a) a minimal Django JSON view on the
  same server (what the web tier allows) and (b) the same create transaction (type lookup,
  task row, history row) run by pgbench straight on PostgreSQL with as many clients (what
  the database allows). Target: 0.4 of it. A bare Django view doing the same INSERTs without
  DRF (bench.views) is reported beside it: the gap is what the API layers cost.
- tasks.create.single.p99: the 99th percentile latency of those creates; target below 50 ms.
- tasks.create.batch: POST /api/v1/tasks/batch with 1000 tasks per request; baseline:
  PostgreSQL's own COPY of the same rows (task + history) into the real tables, committed in
  1000-row transactions like the API's. Target: 0.5 of it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from typing import Any

from django.db import connection, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone

from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.states import AssigneeKind, Priority, TaskStatus
from bench.harness import (
    BenchContext,
    Figure,
    LoadResult,
    Principal,
    Server,
    http_request,
    pgbench,
)
from bench.harness import unique_nonce as _nonce

AREA = "tasks"
TASK_TYPE_KEY = "bench-tasks"
SINGLE_CONNECTIONS = 16
BATCH_CONNECTIONS = 4  # two per worker: one request runs while the next one is parsed
BATCH_SIZE = 1000
DELETE_CHUNK = 5000


def run(ctx: BenchContext) -> Iterator[Figure]:
    who = ctx.principal()
    task_type = _bench_task_type()
    # Tasks of killed runs: their user is gone (created_by SET NULL), the type marks them.
    _delete_tasks(Task.objects.filter(task_type=task_type, created_by__isnull=True))
    ctx.on_cleanup(_delete_task_type)
    ctx.on_cleanup(lambda: _delete_tasks(Task.objects.filter(created_by=who.user)))
    server = ctx.server()
    yield from _create_single(ctx, server, who, task_type)
    yield _create_batch(ctx, server, who, task_type)


# --- setup and cleanup ----------------------------------------------------------------------
def _bench_task_type() -> TaskType:
    # A unit type: no dispatcher picks these up, so a worker that happens to run meanwhile
    # has nothing to do with them.
    task_type, _ = TaskType.objects.get_or_create(
        key=TASK_TYPE_KEY,
        defaults={"name": "Benchmark tasks", "assignee_kind": AssigneeKind.UNIT},
    )
    return task_type


def _delete_task_type() -> None:
    # Another run on the same database may still have tasks of it (PROTECT): leave it then.
    with suppress(ProtectedError):
        TaskType.objects.filter(key=TASK_TYPE_KEY).delete()


def _delete_tasks(tasks: QuerySet[Task]) -> int:
    """Delete tasks (and, by cascade, their history) in chunks, so one run's hundreds of
    thousands of rows never sit in a single transaction or list."""
    deleted = 0
    tasks = tasks.order_by()
    while ids := list(tasks.values_list("pk", flat=True)[:DELETE_CHUNK]):
        with transaction.atomic():
            TaskHistory.objects.filter(task_id__in=ids).delete()  # one statement, not per row
            Task.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


# --- request bodies -------------------------------------------------------------------------
def _item(nonce: str, i: int) -> dict[str, Any]:
    return {
        "title": f"bench-{nonce}-{i}", "task_type": TASK_TYPE_KEY, "priority": "normal",
        "payload": {"i": i}, "reference": "bench", "labels": ["bench"],
    }


def _pool(server: Server, path: str, bodies: Sequence[dict[str, Any]], who: Principal):
    return [
        http_request("POST", path, host=server.hostport, body=json.dumps(b).encode(),
                     headers=who.auth_header)
        for b in bodies
    ]


def _smoke(server: Server, path: str, body: dict[str, Any], who: Principal) -> None:
    """One request before the load: a broken endpoint fails loudly, not as a rate of 0."""
    status, content = server.request("POST", path, json.dumps(body).encode(), who.auth_header)
    if status != 201:
        raise RuntimeError(f"POST {path} answered {status}: {content[:500]!r}")


def _measured(result: LoadResult, cpu: dict[str, Any]) -> dict[str, Any]:
    return {**result.summary(), **cpu}


# --- figures --------------------------------------------------------------------------------
def _create_single(
    ctx: BenchContext, server: Server, who: Principal, task_type: TaskType
) -> Iterator[Figure]:
    nonce = _nonce()
    # Enough distinct titles that none repeats below ~5000 creates/s.
    bodies = [_item(nonce, i) for i in range(int(5000 * ctx.seconds) + 1000)]
    minimal_pool = [http_request("GET", "/bench/minimal", host=server.hostport)]
    bare_pool = _pool(server, "/bench/bare-create", bodies, who)
    api_pool = _pool(server, "/api/v1/tasks", bodies, who)
    _smoke(server, "/bench/bare-create", bodies[0], who)
    _smoke(server, "/api/v1/tasks", bodies[1], who)
    load = {"connections": SINGLE_CONNECTIONS, "seconds": ctx.seconds}

    ctx.log("tasks.create.single: minimal Django view")
    minimal, minimal_cpu = server.load(minimal_pool, **load)
    ctx.log("tasks.create.single: PostgreSQL alone (pgbench)")
    database = pgbench(_create_transaction_script(who, task_type, _nonce()),
                       clients=SINGLE_CONNECTIONS, seconds=ctx.seconds)
    ctx.log("tasks.create.single: bare view")
    bare, bare_cpu = server.load(bare_pool, **load)
    ctx.log("tasks.create.single: API")
    api, api_cpu = server.load(api_pool, **load)

    floors = {"minimal_view": minimal.rate(200)}
    if database is not None:
        floors["postgres.create_transaction"] = database.tps
    floor_name = min(floors, key=floors.__getitem__)
    extra = {
        "api": _measured(api, api_cpu), "bare_view": _measured(bare, bare_cpu),
        "minimal_view": _measured(minimal, minimal_cpu),
        "postgres.create_transaction": None if database is None else {
            "tps": round(database.tps, 1), "latency_avg_ms": database.latency_ms,
            "clients": database.clients},
        "server": _server_info(server),
    }
    yield Figure(
        name="tasks.create.single", value=api.rate(201), unit="tasks/s",
        baseline_name=floor_name, baseline_value=floors[floor_name], min_ratio=0.4,
        target_note="of the lower of the minimal view and PostgreSQL alone", extra=extra,
    )
    yield Figure(
        name="tasks.create.single.p99", value=api.percentile_ms(99) or 0.0, unit="ms",
        baseline_name="minimal_view.p99", baseline_value=minimal.percentile_ms(99),
        max_value=50, target_note=f"{SINGLE_CONNECTIONS} concurrent clients",
        extra={"p50_ms": api.percentile_ms(50), "p90_ms": api.percentile_ms(90)},
    )


def _create_batch(
    ctx: BenchContext, server: Server, who: Principal, task_type: TaskType
) -> Figure:
    nonce = _nonce()
    # Distinct bodies for ~8 batches/s; later batches repeat titles, which nothing forbids.
    batches = max(4, int(8 * ctx.seconds))
    bodies = [
        {"tasks": [_item(f"{nonce}-{b}", i) for i in range(BATCH_SIZE)]} for b in range(batches)
    ]
    pool = _pool(server, "/api/v1/tasks/batch", bodies, who)
    started = time.perf_counter()
    _smoke(server, "/api/v1/tasks/batch", bodies[0], who)
    latency = time.perf_counter() - started
    # A batch request is slow: the window must hold a dozen or so of them, or the rate is a
    # few completions rounded. Still bounded, to ten times --seconds.
    seconds = min(max(ctx.seconds, 8 * latency), 10 * ctx.seconds)

    ctx.log(f"tasks.create.batch: API ({seconds:.1f} s)")
    api, api_cpu = server.load(pool, connections=BATCH_CONNECTIONS, seconds=seconds,
                               warmup=min(latency, seconds))
    copy_rate = None
    if connection.vendor == "postgresql":
        ctx.log("tasks.create.batch: PostgreSQL COPY")
        copy_rate = copy_rows_per_second(who.user, task_type, seconds=ctx.seconds)
    return Figure(
        name="tasks.create.batch", value=api.rate(201) * BATCH_SIZE, unit="tasks/s",
        baseline_name="postgres.copy", baseline_value=copy_rate,
        min_ratio=0.5,
        extra={"api": _measured(api, api_cpu), "batch_size": BATCH_SIZE,
               "measured_seconds": round(seconds, 1), "server": _server_info(server)},
    )


def _server_info(server: Server) -> dict[str, Any]:
    o = server.options
    return {"serving": o.serving, "workers": o.workers, "threads": o.threads, "loop": o.loop,
            "http": o.http}


# --- PostgreSQL alone: the create transaction -----------------------------------------------
def _create_transaction_script(who: Principal, task_type: TaskType, nonce: str) -> str:
    """pgbench's script for what one API create writes: the task type lookup, the task row and
    its history row, in one transaction."""
    user = who.user
    task_table, history_table = Task._meta.db_table, TaskHistory._meta.db_table
    columns = ", ".join(TASK_COLUMNS)
    return f"""\\set n random(1, 1000000000)
BEGIN;
SELECT id, key, name, priority, assignee_kind, is_active FROM {TaskType._meta.db_table}
  WHERE key = '{TASK_TYPE_KEY}' AND is_active LIMIT 1;
INSERT INTO {task_table} ({columns}) VALUES (gen_random_uuid(), 'bench-pg-{nonce}-' || :n,
  {int(Priority.NORMAL)}, '{TaskStatus.QUEUED}', '{{"i": 1}}', '', 0, 'bench', '["bench"]', 0,
  now(), now(), now(), {user.pk}, {task_type.pk}, 0) RETURNING id AS task_id \\gset
INSERT INTO {history_table} ({", ".join(HISTORY_COLUMNS)}) VALUES (':task_id', 'create', '',
  '{TaskStatus.QUEUED}', 'user', '{user.get_username()}', 'submitted on creation', now(),
  {user.pk});
END;
"""


# --- the COPY baseline ----------------------------------------------------------------------
TASK_COLUMNS = (
    "id", "title", "priority", "status", "payload", "error", "progress", "reference", "labels",
    "attempts", "created_at", "updated_at", "queued_at", "created_by_id", "task_type_id",
    "held_weight",
)
HISTORY_COLUMNS = (
    "task_id", "transition", "from_status", "to_status", "actor_kind", "actor_name", "reason",
    "created_at", "actor_user_id",
)


def _copy_chunk(user: Any, task_type: TaskType, nonce: str, size: int) -> tuple[bytes, bytes]:
    """COPY text for `size` tasks and their history rows, as the API would write them.

    Values are plain ASCII without tabs, newlines or backslashes, so no escaping is needed.
    """
    now = timezone.now().isoformat()
    tasks, history = [], []
    for i in range(size):
        pk = str(uuid.uuid4())
        tasks.append("\t".join((
            pk, f"bench-{nonce}-{i}", str(int(Priority.NORMAL)), TaskStatus.QUEUED,
            json.dumps({"i": i}), "", "0", "bench", '["bench"]', "0", now, now, now,
            str(user.pk), str(task_type.pk), "0",
        )))
        history.append("\t".join((
            pk, "create", "", TaskStatus.QUEUED, "user", user.get_username(),
            "submitted on creation", now, str(user.pk),
        )))
    return ("\n".join(tasks) + "\n").encode(), ("\n".join(history) + "\n").encode()


def copy_rows_per_second(
    user: Any, task_type: TaskType, *, seconds: float, chunk: int = BATCH_SIZE
) -> float:
    """Tasks/s PostgreSQL stores through COPY (task + history row each, FK checks, indexes,
    one commit per chunk). Only the database round trips are timed: the rows are built
    beforehand, so this is PostgreSQL's rate, not Python's."""
    task_sql = f"COPY {Task._meta.db_table} ({', '.join(TASK_COLUMNS)}) FROM STDIN"
    history_sql = (
        f"COPY {TaskHistory._meta.db_table} ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"
    )
    nonce, rows, spent = _nonce(), 0, 0.0
    while spent < seconds:
        task_data, history_data = _copy_chunk(user, task_type, f"copy-{nonce}-{rows}", chunk)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor: Django's wrapper has no COPY
            with raw.copy(task_sql) as copy:
                copy.write(task_data)
            with raw.copy(history_sql) as copy:
                copy.write(history_data)
        spent += time.perf_counter() - started
        rows += chunk
    return rows / spent
