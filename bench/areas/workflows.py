"""Benchmark area `workflows`: DAG release latency and workflow creation, beside floors.

On a layered graph of 1,000 nodes (LAYERS layers of WIDTH; each node after the first layer
depends on two of the layer before, and each node has two dependants: fan-in and fan-out),
of a unit task type no unit of this run's server claims by itself, in one run:

- workflows.release.*: for each dependant released, the time from the start of the call
  that completed its last dependency to the dependant being `queued` and committed (the
  call's return: the release is in the completing transaction). A call is matched to the
  dependants it released by their `queued_at` (one machine, one clock). p50/p95/p99 over
  the ~900 releases of a graph; target p99 < 100 ms. Measured four ways, each on a fresh
  graph:
    - service: `task_complete` by the unit holding the task, one completion per call;
    - service_batch: a unit's batch of results (`unit_report_results`), a whole layer per
      call, so each call releases the next layer (100 dependants);
    - api: the units' results endpoint on the served stack, one result per request;
    - api_batch: the same endpoint, a whole layer per request.
  Baseline: the floor, the same completion and release written straight on PostgreSQL by
  psycopg (UPDATE the completed task; UPDATE its blocked dependants with no open dependency
  to `queued`, in one transaction), one completion per transaction, on a graph of its own.
- workflows.create_1000: one POST /api/v1/workflows of 1,000 nodes and 1,800 edges
  (median of CREATE_RUNS requests, and the statements it sends, counted in-process);
  baseline: one POST /api/v1/tasks/batch of 1,000 tasks (the same way), and COPY of 1,000
  task rows with their history (PostgreSQL's own rate, bench.areas.tasks) beside it.

Not measured here: a peer's (Celery chain's) hand-over from one task's end to the next one's
start.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any

from django.db import connection, reset_queries, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.execution import services as unit_services
from apps.execution.models import ExecutionUnit
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.states import AssigneeKind, TaskStatus
from apps.workflows.models import Workflow
from apps.workflows.services import NodeSpec, workflow_create
from bench.harness import BenchContext, Figure, Principal, Server
from bench.peers import database_conninfo

AREA = "workflows"
TASK_TYPE = "bench-workflows"
UNIT_ID = "bench-workflows-unit"
NAME_PREFIX = "bench-dag-"
LAYERS, WIDTH = 10, 100
CREATE_RUNS = 5
TARGET_P99_MS = 100


def run(ctx: BenchContext) -> Iterator[Figure]:
    who = ctx.principal()
    task_type = _bench_task_type()
    _clean()
    ctx.on_cleanup(_delete_task_type)
    ctx.on_cleanup(_clean)
    server = ctx.server()
    unit, token = _register()
    floor = _release_floor(ctx, task_type)
    series = {
        "service": _release_service(ctx, unit, task_type, batch=False),
        "service_batch": _release_service(ctx, unit, task_type, batch=True),
        "api": _release_api(ctx, server, unit, token, task_type, batch=False),
        "api_batch": _release_api(ctx, server, unit, token, task_type, batch=True),
    }
    for name, latencies in series.items():
        yield _release_figure(name, latencies, floor)
    yield _create_figure(ctx, server, who, task_type)


# --- setup and cleanup ----------------------------------------------------------------------
def _bench_task_type() -> TaskType:
    found = TaskType.objects.filter(key=TASK_TYPE).first()
    return found or task_services.task_type_create(
        by=Actor.system("bench"), key=TASK_TYPE, name="Benchmark workflow tasks",
        assignee_kind=AssigneeKind.UNIT, max_retries=0)


def _clean() -> None:
    Workflow.objects.filter(name__startswith=NAME_PREFIX).delete()
    tasks = Task.objects.filter(task_type__key=TASK_TYPE)
    while ids := list(tasks.values_list("pk", flat=True)[:2000]):
        with transaction.atomic():
            TaskHistory.objects.filter(task_id__in=ids).delete()
            Task.depends_on.through.objects.filter(from_task_id__in=ids).delete()
            Task.depends_on.through.objects.filter(to_task_id__in=ids).delete()
            Task.objects.filter(pk__in=ids).delete()
    ExecutionUnit.objects.filter(unit_id=UNIT_ID).delete()


def _delete_task_type() -> None:
    with suppress(ProtectedError):
        TaskType.objects.filter(key=TASK_TYPE).delete()


def _register() -> tuple[ExecutionUnit, str]:
    done = unit_services.unit_register(
        unit_id=UNIT_ID, by=Actor.system("bench"), may_rotate=True, unit_type=TASK_TYPE,
        capacity=LAYERS * WIDTH, heartbeat_timeout=3600)
    return done.unit, done.token


# --- the graph ------------------------------------------------------------------------------
def _key(layer: int, i: int) -> str:
    return f"L{layer}-{i}"


def _edges() -> list[tuple[str, str]]:
    return [(_key(layer - 1, j % WIDTH), _key(layer, i))
            for layer in range(1, LAYERS) for i in range(WIDTH) for j in (i, i + 1)]


def _body(name: str) -> dict[str, Any]:
    return {"name": name, "on_failure": "cancel_downstream",
            "tasks": [{"key": _key(layer, i), "title": f"{name} {layer}/{i}",
                       "task_type": TASK_TYPE, "payload": {"i": i}}
                      for layer in range(LAYERS) for i in range(WIDTH)],
            "edges": [list(e) for e in _edges()]}


def _graph(name: str, task_type: TaskType) -> list[list[str]]:
    """A fresh graph through the service; its task ids by layer."""
    keys = [_key(layer, i) for layer in range(LAYERS) for i in range(WIDTH)]
    nodes = [NodeSpec(key=k, spec=task_services.TaskSpec(title=f"{name} {k}",
                                                          task_type=task_type)) for k in keys]
    _, tasks = workflow_create(name=NAME_PREFIX + name, on_failure="cancel_downstream",
                               nodes=nodes, edges=_edges(), by=Actor.system("bench"))
    ids = [str(t.pk) for t in tasks]
    return [ids[layer * WIDTH:(layer + 1) * WIDTH] for layer in range(LAYERS)]


def graph_for_pages(ctx: BenchContext) -> Workflow:
    """A graph of this area's shape (1,000 nodes, 1,800 edges) for the dashboard area to draw;
    removed with this area's rows at the end of the run."""
    _clean()
    ctx.on_cleanup(_delete_task_type)
    ctx.on_cleanup(_clean)
    first = _graph("page", _bench_task_type())[0][0]
    return Workflow.objects.get(nodes__task_id=first)


def _queued_at(ids: Sequence[str]) -> list[float]:
    return [q.timestamp() for q in Task.objects.filter(pk__in=ids, status=TaskStatus.QUEUED)
            .values_list("queued_at", flat=True)]


def _matched(calls: list[tuple[float, float]], queued: list[float]) -> list[float]:
    """For each release (its queued_at), the duration of the call it happened in, in ms."""
    out = []
    for at in queued:
        for start, end in calls:
            if start <= at <= end:
                out.append((end - start) * 1000)
                break
        else:
            raise RuntimeError("a dependant was released outside every completing call")
    return out


def _run_layers(layers: list[list[str]], claim: Callable[[int], None],
                complete: Callable[[list[str]], None], *, batch: bool) -> list[float]:
    """Complete the graph layer by layer, timing each completing call; the latencies of the
    releases each call made."""
    latencies: list[float] = []
    for layer in range(LAYERS):
        claim(len(layers[layer]))
        calls = []
        for chunk in [layers[layer]] if batch else [[t] for t in layers[layer]]:
            start = time.time()
            complete(chunk)
            calls.append((start, time.time()))
        if layer + 1 < LAYERS:
            released = _queued_at(layers[layer + 1])
            if len(released) != WIDTH:
                raise RuntimeError(f"{len(released)} of {WIDTH} dependants released")
            latencies += _matched(calls, released)
    return latencies


def _claim_by_service(unit: ExecutionUnit) -> Callable[[int], None]:
    by = unit_services.unit_actor(unit=unit)

    def claim(n: int) -> None:
        got = len(unit_services.tasks_claim(unit=unit, max_tasks=n, by=by))
        if got != n:
            raise RuntimeError(f"claimed {got} of {n} queued tasks")
    return claim


# --- release: service, API, PostgreSQL alone -----------------------------------------------
def _release_service(ctx: BenchContext, unit: ExecutionUnit, task_type: TaskType, *,
                     batch: bool) -> list[float]:
    ctx.log(f"workflows.release: service, {'a layer' if batch else 'one task'} per call")
    layers = _graph(f"service-{int(batch)}", task_type)
    by = unit_services.unit_actor(unit=unit)

    def complete(ids: list[str]) -> None:
        if batch:
            unit_services.unit_report_results(unit=unit, by=by, results=[
                {"task_id": t, "outcome": "completed", "result": {"ok": 1}} for t in ids])
        else:
            task_services.task_complete(task_id=ids[0], result={"ok": 1}, by=by)

    return _run_layers(layers, _claim_by_service(unit), complete, batch=batch)


def _release_api(ctx: BenchContext, server: Server, unit: ExecutionUnit, token: str,
                 task_type: TaskType, *, batch: bool) -> list[float]:
    import http.client

    ctx.log(f"workflows.release: API (units' results), {'a layer' if batch else 'one task'} "
            "per request")
    layers = _graph(f"api-{int(batch)}", task_type)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/api/v1/execution-units/{UNIT_ID}/results"

    def complete(ids: list[str]) -> None:
        body = json.dumps({"results": [{"task_id": t, "outcome": "completed",
                                        "result": {"ok": 1}} for t in ids]}).encode()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"results answered {response.status}: {data[:300]!r}")

    try:
        return _run_layers(layers, _claim_by_service(unit), complete, batch=batch)
    finally:
        conn.close()


RELEASE_SQL = """
UPDATE {task} t SET status = 'queued', queued_at = now(), updated_at = now()
WHERE t.status = 'blocked'
  AND t.id IN (SELECT from_task_id FROM {links} WHERE to_task_id = %(id)s)
  AND NOT EXISTS (SELECT 1 FROM {links} l JOIN {task} d ON d.id = l.to_task_id
                  WHERE l.from_task_id = t.id AND d.status <> 'completed')
RETURNING t.id"""


def _release_floor(ctx: BenchContext, task_type: TaskType) -> list[float] | None:
    """The completion and release alone, straight on PostgreSQL: per completion, one
    transaction of two UPDATEs (the task; its dependants with no open dependency left)."""
    import psycopg

    conninfo = database_conninfo()
    if conninfo is None:
        return None
    ctx.log("workflows.release: PostgreSQL alone (the two UPDATEs)")
    layers = _graph("postgres", task_type)
    table, links = Task._meta.db_table, Task.depends_on.through._meta.db_table
    release = RELEASE_SQL.format(task=f'"{table}"', links=f'"{links}"')
    complete = (f'UPDATE "{table}" SET status = \'completed\', finished_at = now(), '
                f'updated_at = now() WHERE id = %(id)s')
    latencies: list[float] = []
    with psycopg.connect(conninfo) as conn:
        for layer in layers:
            for task_id in layer:
                start = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(complete, {"id": task_id})
                    cur.execute(release, {"id": task_id})
                    released = cur.fetchall()
                latencies += [(time.perf_counter() - start) * 1000] * len(released)
    return latencies


def _percentiles(latencies: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2),
            "p99_ms": round(cuts[98], 2), "samples": len(latencies)}


def _release_figure(name: str, latencies: list[float], floor: list[float] | None) -> Figure:
    mine = _percentiles(latencies)
    base = _percentiles(floor) if floor else None
    return Figure(
        name=f"workflows.release.{name}.p99", value=mine["p99_ms"], unit="ms",
        baseline_name="postgres.release_update.p99" if base else None,
        baseline_value=base["p99_ms"] if base else None, max_value=TARGET_P99_MS,
        target_note=f"last dependency's completing call started → dependant queued, "
                    f"{LAYERS * WIDTH}-node layered graph",
        extra={name: mine, "postgres.release_update": base,
               "loadavg_1m": round(os.getloadavg()[0], 2)},
    )


# --- creation -------------------------------------------------------------------------------
def _statements(who: Principal, path: str, body: dict[str, Any]) -> int:
    """What one request sends to the database, counted in-process (the served stack runs the
    same code)."""
    client = APIClient(HTTP_HOST="localhost")  # a host the settings allow
    client.force_authenticate(who.user)  # no token lookup: the request's own statements
    reset_queries()  # with DEBUG the log may be full (it keeps 9,000): nothing would count
    with CaptureQueriesContext(connection) as captured:
        response = client.post(path, body, format="json")
    if response.status_code != 201:
        raise RuntimeError(f"POST {path} answered {response.status_code}")
    return len(captured.captured_queries)


def _timed_posts(server: Server, who: Principal, path: str,
                 bodies: Sequence[dict[str, Any]]) -> list[float]:
    times = []
    for body in bodies:
        raw = json.dumps(body).encode()
        start = time.perf_counter()
        status, content = server.request("POST", path, raw, who.auth_header)
        times.append((time.perf_counter() - start) * 1000)
        if status != 201:
            raise RuntimeError(f"POST {path} answered {status}: {content[:300]!r}")
    return times


def _create_figure(ctx: BenchContext, server: Server, who: Principal,
                   task_type: TaskType) -> Figure:
    from bench.areas.tasks import copy_rows_per_second

    ctx.log(f"workflows.create_1000: {CREATE_RUNS} POSTs of a 1,000-node workflow")
    size = LAYERS * WIDTH
    workflow_bodies = [_body(f"{NAME_PREFIX}create-{i}") for i in range(CREATE_RUNS + 1)]
    batch_bodies = [{"tasks": [{"title": f"bench batch {r}/{i}", "task_type": TASK_TYPE,
                                "payload": {"i": i}} for i in range(size)]}
                    for r in range(CREATE_RUNS + 1)]
    workflow_statements = _statements(who, "/api/v1/workflows", workflow_bodies[-1])
    batch_statements = _statements(who, "/api/v1/tasks/batch", batch_bodies[-1])
    workflow_ms = statistics.median(
        _timed_posts(server, who, "/api/v1/workflows", workflow_bodies[:-1]))
    batch_ms = statistics.median(
        _timed_posts(server, who, "/api/v1/tasks/batch", batch_bodies[:-1]))
    copy_ms = None
    if connection.vendor == "postgresql":
        rate = copy_rows_per_second(who.user, task_type, seconds=min(ctx.seconds, 2.0),
                                    chunk=size)
        copy_ms = round(size / rate * 1000, 1)
    return Figure(
        name="workflows.create_1000", value=workflow_ms, unit="ms",
        baseline_name="tasks.batch_1000", baseline_value=batch_ms,
        target_note="one request: 1,000 nodes, 1,800 edges, beside 1,000 tasks in one batch",
        extra={"workflow": {"ms": round(workflow_ms, 1), "statements": workflow_statements,
                            "edges": len(_edges())},
               "tasks_batch": {"ms": round(batch_ms, 1), "statements": batch_statements},
               "postgres.copy_1000": {"ms": copy_ms}},
    )
