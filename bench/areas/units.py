"""Benchmark area `units`: execution units against the platform's floor and the peers.

On the deployed server (taskmanage.serving) with PostgreSQL and Redis, in one run:

- units.heartbeats: heartbeats ingested per second, HEARTBEAT_UNITS units beating over 16
  keep-alive connections; baseline: a minimal Django JSON view on the same server. Target:
  0.7 of it.
- units.claim_complete: no-op tasks claimed and completed per second by UNITS simulated units,
  each claiming BATCH at a time and reporting BATCH results in one request, from the first
  claim to the last result; baseline: the faster of Celery (publish + worker ack) and
  Procrastinate doing the same number of no-op tasks with as many workers on the same Redis
  and PostgreSQL, measured in this run (bench/peers.py). Target: ahead of both.
- units.dispatch_p99: from a task's `queued_at` (set by the server as the API creates it) to
  an idle long-polling unit holding the claim's answer, p99 over SAMPLES tasks created one at
  a time through the API; beside the peers' dispatch p99 (publish to the task body
  starting). Target: below 100 ms. The API call's own time before the task is queued (auth,
  validation) is not counted, as a peer's publisher's is not.
- units.reference_unit: the same no-op tasks done end to end by REFERENCE_UNITS processes of the
  reference unit (`python -m taskmanage_client.unit`, handler `noop`, capacity BATCH each):
  from the tasks being queued (the units already long-polling) to the last one completed;
  beside the raw protocol figure of this run (units.claim_complete), which batches its
  results where the reference unit reports each task as its handler returns. No target: it
  shows what a real unit's own work (threads, one report per task) costs over the protocol.
- units.failover_seconds: from a unit's last heartbeat to its task claimed by another unit
  (the units sweep running every UNIT_SWEEP_INTERVAL_SECONDS, as beat runs it). Target: at
  most the unit's heartbeat timeout + 2 s.

The simulated units are threads of this process with one keep-alive connection each: their
Python costs CPU on the same cores as the server, as the peers' publishers do.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError

from apps.core.actors import Actor
from apps.execution import beats
from apps.execution import services as unit_services
from apps.execution.models import ExecutionUnit
from apps.tasks import services as task_services
from apps.tasks.models import Task, TaskHistory, TaskType
from apps.tasks.states import AssigneeKind, TaskStatus
from bench.harness import BenchContext, Figure, Server, http_request
from bench.peers import database_conninfo, figures, peer_results

AREA = "units"
UNIT_TYPE = "bench-units"
UNIT_PREFIX = "bench-unit-"
HEARTBEAT_UNITS = 64
HEARTBEAT_CONNECTIONS = 16
UNITS = 4  # as many workers as the peers get (bench.areas.peers.CONCURRENCY)
BATCH = 50
SAMPLES = 100
FAILOVER_TIMEOUT = 3  # the silent unit's heartbeat timeout, seconds
SWEEP_EVERY = 0.5


def run(ctx: BenchContext) -> Iterator[Figure]:
    who = ctx.principal()
    task_type = _bench_task_type()
    _clean()
    ctx.on_cleanup(_delete_task_type)
    ctx.on_cleanup(_clean)
    server = ctx.server()
    yield _heartbeats(ctx, server)
    tasks = max(500, int(400 * ctx.seconds))
    throughput = _claim_complete(ctx, server, task_type, tasks)
    reference = _reference_units(ctx, server, tasks)
    latency = _dispatch_latency(ctx, server, who)
    failover = _failover(ctx, server, task_type)
    peers = dict(peer_results(
        redis_url=settings.REDIS_URL, database_url=database_conninfo(), tasks=tasks,
        concurrency=UNITS, samples=SAMPLES, timeout=max(60.0, 20 * ctx.seconds), log=ctx.log))
    for peer, result in peers.items():
        yield from figures(peer, result)
    yield _throughput_figure(throughput, peers)
    yield _reference_figure(reference, throughput)
    yield _latency_figure(latency, peers)
    yield failover


# --- setup and cleanup ----------------------------------------------------------------------
def _bench_task_type() -> TaskType:
    found = TaskType.objects.filter(key=UNIT_TYPE).first()
    return found or task_services.task_type_create(
        by=Actor.system("bench"), key=UNIT_TYPE, name="Benchmark unit tasks",
        assignee_kind=AssigneeKind.UNIT, max_retries=0)


def _clean() -> None:
    tasks = Task.objects.filter(task_type__key=UNIT_TYPE)
    while ids := list(tasks.values_list("pk", flat=True)[:5000]):
        with transaction.atomic():
            TaskHistory.objects.filter(task_id__in=ids).delete()
            Task.objects.filter(pk__in=ids).delete()
    ExecutionUnit.objects.filter(unit_id__startswith=UNIT_PREFIX).delete()


def _delete_task_type() -> None:
    with suppress(ProtectedError):
        TaskType.objects.filter(key=UNIT_TYPE).delete()


def _register(name: str, **fields: Any) -> tuple[str, str]:
    done = unit_services.unit_register(
        unit_id=f"{UNIT_PREFIX}{name}", by=Actor.system("bench"), may_rotate=True,
        unit_type=UNIT_TYPE, **fields)
    return done.unit.unit_id, done.token


def _queue(n: int) -> list[str]:
    task_type = TaskType.objects.get(key=UNIT_TYPE)
    ids: list[str] = []
    for start in range(0, n, 1000):
        specs = [task_services.TaskSpec(title=f"bench {i}", task_type=task_type)
                 for i in range(start, min(n, start + 1000))]
        _, created = task_services.tasks_create_batch(specs=specs, by=Actor.system("bench"))
        ids += [str(t.pk) for t in created]
    return ids


class UnitClient:
    """A simulated unit: one keep-alive connection, its own token."""

    def __init__(self, server: Server, unit_id: str, token: str):
        self.unit_id, self.token = unit_id, token
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=60)

    def post(self, path: str, body: dict) -> dict:
        self.conn.request("POST", path, body=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {data[:300]!r}")
        return json.loads(data)

    def claim(self, n: int, wait: float = 0) -> list[dict]:
        return self.post(f"/api/v1/execution-units/{self.unit_id}/claim",
                         {"max": n, "wait": wait})["tasks"]

    def complete(self, tasks: list[dict]) -> None:
        self.post(f"/api/v1/execution-units/{self.unit_id}/results", {"results": [
            {"task_id": t["id"], "outcome": "completed", "result": None} for t in tasks]})

    def heartbeat(self) -> dict:
        return self.post(f"/api/v1/execution-units/{self.unit_id}/heartbeat", {})


# --- heartbeats -----------------------------------------------------------------------------
def _heartbeats(ctx: BenchContext, server: Server) -> Figure:
    units = [_register(f"hb-{i}", capacity=1) for i in range(HEARTBEAT_UNITS)]
    pool = [http_request("POST", f"/api/v1/execution-units/{unit_id}/heartbeat",
                         host=server.hostport, body=b'{"current_load": 0}',
                         headers={"Authorization": f"Bearer {token}"})
            for unit_id, token in units]
    status, content = server.request("POST", f"/api/v1/execution-units/{units[0][0]}/heartbeat",
                                     b"{}", {"Authorization": f"Bearer {units[0][1]}"})
    if status != 200:
        raise RuntimeError(f"heartbeat answered {status}: {content[:300]!r}")
    load = {"connections": HEARTBEAT_CONNECTIONS, "seconds": ctx.seconds}
    ctx.log("units.heartbeats: minimal Django view")
    minimal, minimal_cpu = server.load(
        [http_request("GET", "/bench/minimal", host=server.hostport)], **load)
    ctx.log("units.heartbeats: heartbeats")
    beats, beats_cpu = server.load(pool, **load)
    return Figure(
        name="units.heartbeats", value=beats.rate(200), unit="heartbeats/s",
        baseline_name="minimal_view", baseline_value=minimal.rate(200), min_ratio=0.7,
        target_note=f"{HEARTBEAT_UNITS} units over {HEARTBEAT_CONNECTIONS} connections",
        extra={"heartbeats": {**beats.summary(), **beats_cpu},
               "minimal_view": {**minimal.summary(), **minimal_cpu}},
    )


# --- claim and complete ---------------------------------------------------------------------
def _claim_complete(ctx: BenchContext, server: Server, task_type: TaskType,
                    n: int) -> dict[str, Any]:
    units = [UnitClient(server, *_register(f"w-{i}", capacity=BATCH)) for i in range(UNITS)]
    ids = _queue(n)
    ctx.log(f"units.claim_complete: {UNITS} units, {n} tasks, batches of {BATCH}")
    done = [0] * UNITS
    errors: list[BaseException] = []

    def work(i: int) -> None:
        unit = units[i]
        try:
            while batch := unit.claim(BATCH):
                unit.complete(batch)
                done[i] += len(batch)
        except BaseException as exc:  # reported below, never silently a lower rate
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(UNITS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    completed = Task.objects.filter(pk__in=ids, status=TaskStatus.COMPLETED).count()
    if completed != n or sum(done) != n:
        raise RuntimeError(f"{completed} of {n} tasks completed ({sum(done)} reported)")
    return {"rate": n / elapsed, "tasks": n, "seconds": round(elapsed, 2), "units": UNITS,
            "batch": BATCH}


def _reference_units(ctx: BenchContext, server: Server, n: int) -> dict[str, Any]:
    """The reference unit's processes against the server: how fast they finish `n` tasks."""
    ctx.log(f"units.reference_unit: {UNITS} reference unit processes, {n} no-op tasks")
    processes, logs = [], []
    for i in range(UNITS):
        unit_id, token = _register(f"ref-{i}", capacity=BATCH)
        fd, name = tempfile.mkstemp(prefix=f"bench-reference-unit-{i}-", suffix=".log")
        logs.append(name)
        with os.fdopen(fd, "wb") as log:  # the child keeps its own copy of the descriptor
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "taskmanage_client.unit", "--id", unit_id,
                 "--type", UNIT_TYPE, "--capacity", str(BATCH),
                 "--url", f"http://{server.hostport}", "--token", token,
                 "--handler-for", f"{UNIT_TYPE}=noop", "--heartbeat-every", "1",
                 "--claim-wait", "5", "--log-level", "WARNING"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))
    try:
        _wait_heard(UNITS, prefix=f"{UNIT_PREFIX}ref-")
        ids = _queue(n)
        started = time.perf_counter()
        done = _wait_completed(ids, timeout=max(60.0, 20 * ctx.seconds))
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
    if done != n:
        raise RuntimeError(f"the reference units completed {done} of {n} tasks; logs: {logs}")
    for name in logs:
        Path(name).unlink(missing_ok=True)
    return {"rate": n / elapsed, "tasks": n, "seconds": round(elapsed, 2), "units": UNITS,
            "capacity": BATCH}


def _wait_heard(count: int, *, prefix: str, timeout: float = 60.0) -> None:
    """Until `count` units of `prefix` have heartbeated (started, registered, claiming)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pks = set(ExecutionUnit.objects.filter(unit_id__startswith=prefix)
                  .values_list("pk", flat=True))
        if len(pks & set(beats.latest())) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} reference units did not heartbeat within {timeout:g} s")


def _wait_completed(ids: list[str], *, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = Task.objects.filter(pk__in=ids, status=TaskStatus.COMPLETED).count()
        if done == len(ids):
            break
        time.sleep(0.02)
    return done


def _reference_figure(reference: dict[str, Any], raw: dict[str, Any]) -> Figure:
    return Figure(
        name="units.reference_unit", value=reference["rate"], unit="tasks/s",
        baseline_name="units.claim_complete", baseline_value=raw["rate"],
        target_note="none: reported beside the raw protocol (batched results) of this run",
        extra={"reference_unit": reference},
    )


def _throughput_figure(units: dict[str, Any], peers: dict[str, dict[str, Any]]) -> Figure:
    best = max(peers.items(), key=lambda kv: kv[1]["throughput"], default=None)
    return Figure(
        name="units.claim_complete", value=units["rate"], unit="tasks/s",
        baseline_name=f"peers.{best[0]}.throughput" if best else None,
        baseline_value=best[1]["throughput"] if best else None, min_ratio=1.0,
        target_note="ahead of both peers, the same tasks and workers",
        extra={"units": units, "peers": {p: r["throughput"] for p, r in peers.items()}},
    )


# --- dispatch latency -----------------------------------------------------------------------
def _dispatch_latency(ctx: BenchContext, server: Server, who) -> list[float]:
    ctx.log(f"units.dispatch_p99: {SAMPLES} tasks to an idle long-polling unit")
    unit = UnitClient(server, *_register("idle", capacity=1))
    got: dict[str, float] = {}
    queued: dict[str, float] = {}
    arrived = threading.Condition()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            tasks = unit.claim(1, wait=5)
            now = time.time()  # the same clock as the server's queued_at: one machine
            with arrived:
                for t in tasks:
                    got[t["id"]] = now
                    queued[t["id"]] = datetime.fromisoformat(t["queued_at"]).timestamp()
                arrived.notify_all()
            if tasks:
                unit.complete(tasks)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    creator = http.client.HTTPConnection(server.host, server.port, timeout=30)
    body = json.dumps({"title": "bench dispatch", "task_type": UNIT_TYPE}).encode()
    latencies = []
    time.sleep(0.5)  # the unit is waiting before the first task is created
    for _ in range(SAMPLES):
        creator.request("POST", "/api/v1/tasks", body=body, headers={
            **who.auth_header, "Content-Type": "application/json"})
        response = creator.getresponse()
        task_id = json.loads(response.read())["id"]
        with arrived:
            if not arrived.wait_for(lambda tid=task_id: tid in got, timeout=10):
                raise RuntimeError(f"task {task_id} was not claimed within 10 s")
        latencies.append((got[task_id] - queued[task_id]) * 1000)
        time.sleep(0.02)  # the unit reports and waits again
    stop.set()
    poller.join(10)  # its last wait ends before the failover's task is created
    return latencies


def _latency_figure(latencies: list[float], peers: dict[str, dict[str, Any]]) -> Figure:
    p99 = statistics.quantiles(latencies, n=100)[98]
    best = min(peers.items(), key=lambda kv: kv[1]["dispatch_p99_ms"], default=None)
    return Figure(
        name="units.dispatch_p99", value=p99, unit="ms",
        baseline_name=f"peers.{best[0]}.dispatch_p99_ms" if best else None,
        baseline_value=best[1]["dispatch_p99_ms"] if best else None, max_value=100,
        target_note="queued → claimed by an idle long-polling unit",
        extra={"p50_ms": round(statistics.median(latencies), 2), "samples": len(latencies),
               "peers_p99_ms": {p: r["dispatch_p99_ms"] for p, r in peers.items()}},
    )


# --- failover -------------------------------------------------------------------------------
def _failover(ctx: BenchContext, server: Server, task_type: TaskType) -> Figure:
    ctx.log("units.failover_seconds: a unit goes silent holding a task")
    # The sweep runs here, as beat runs it; Redis's restart grace does not apply to this run.
    settings.UNIT_HEARTBEAT_GRACE_SECONDS = 0
    silent = UnitClient(server, *_register("silent", heartbeat_timeout=FAILOVER_TIMEOUT))
    rescuer = UnitClient(server, *_register("rescuer", heartbeat_timeout=60))
    (task_id,) = _queue(1)
    (held,) = silent.claim(1)
    silent.heartbeat()
    last_beat = time.perf_counter()
    stop = threading.Event()
    taken: dict[str, float] = {}

    def sweep() -> None:
        while not stop.wait(SWEEP_EVERY):
            unit_services.units_sweep()

    def rescue() -> None:
        while not stop.is_set() and not taken:
            rescuer.heartbeat()
            for t in rescuer.claim(1, wait=1):
                taken[t["id"]] = time.perf_counter()

    threads = [threading.Thread(target=sweep, daemon=True),
               threading.Thread(target=rescue, daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + FAILOVER_TIMEOUT + 30
    while not taken and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    if held["id"] not in taken:
        raise RuntimeError("the silent unit's task was not taken over within 30 s")
    seconds = taken[held["id"]] - last_beat
    return Figure(
        name="units.failover_seconds", value=seconds, unit="s",
        # The floor: no failover can come before the unit's silence is its timeout long.
        baseline_name="unit.heartbeat_timeout", baseline_value=float(FAILOVER_TIMEOUT),
        max_value=FAILOVER_TIMEOUT + 2,
        target_note=f"heartbeat timeout {FAILOVER_TIMEOUT} s + 2 s; sweep every {SWEEP_EVERY} s",
        extra={"task": task_id},
    )
