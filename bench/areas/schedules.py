"""Benchmark area `schedules`: spawn lateness and beat failover, ours beside stock beat.

Real processes on the configured PostgreSQL and Redis: `celery beat` and a `celery worker`
(concurrency 2) of the product, with the Celery messages on a Redis database of their own.

- schedules.lateness_{p50,p95,p99,max}_ms: from each planned time to its task `queued`
  (the worker's transaction), over COUNT interval schedules of INTERVAL seconds whose anchors
  are spread evenly over the interval, measured for `max(--seconds, INTERVAL)` seconds after
  a warm-up; ours (apps.schedules.leader.LeaderScheduler: every due planned time in one pass,
  batches of `schedules.fire_many`) beside stock django-celery-beat DatabaseScheduler on the
  same schedules (one `schedules.fire` message per entry), in the same run. Lateness is
  counted from the planned time at or before the task was queued, the same way for both (the
  stock firing does not carry its planned time); planned times of the window that spawned
  nothing are reported as `missing`. Target: p99 under 1 s.
- schedules.failover_seconds: two beats with the leader scheduler, the leader SIGKILLed; from
  the kill to the new leader's first firing (sent; `extra.first_spawn_seconds`: to its first
  task queued, which adds the worker's backlog). Target: under 2 s. Stock beat has no
  failover: two stock beats both fire everything (the next figure).
- schedules.failover_doubles: planned times spawned twice across the switch (the unique
  constraint makes it 0) and, in `extra`, firings the worker found spawned already; beside
  two stock beats on the same schedules for the same time: every firing sent twice.

Then the DAG figures of the `workflows` area (release latency on a 1,000-node graph, a
1,000-node workflow created in one request): the issue's schedules figures are one report.

COUNT and INTERVAL come from BENCH_SCHEDULES_COUNT (default 1000) and
BENCH_SCHEDULES_INTERVAL (default 60). README "Benchmarks" shows a 10,000-schedule run.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from datetime import datetime, timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.db.models import Count, F
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from apps.schedules.models import LeaderFence, Schedule, Spawn
from apps.schedules.services import FIRE_TASK
from apps.tasks.models import Task, TaskType
from bench.harness import BenchContext, Figure, bench_broker_url, redis_url_with_db
from bench.peers import percentile

from . import workflows

AREA = "schedules"
INCLUDES = (workflows.AREA,)
TASK_TYPE = "bench-schedules"
BROKER_DB = 14
REPO_DIR = Path(__file__).resolve().parents[2]
WARMUP_SECONDS = 10.0
START_TIMEOUT = 120.0
OURS = "apps.schedules.leader:LeaderScheduler"
STOCK = "django_celery_beat.schedulers:DatabaseScheduler"
FAILOVER_STEADY_SECONDS = 8.0
# Celery's own line for each run of a stock firing; a spawn returns its task id (quoted).
FIRE_SUCCEEDED = r"Task schedules\.fire\[[^\]]+\] succeeded"


def _count() -> int:
    return max(1, int(os.environ.get("BENCH_SCHEDULES_COUNT", "1000")))


def _interval() -> int:
    return max(1, int(os.environ.get("BENCH_SCHEDULES_INTERVAL", "60")))


def run(ctx: BenchContext) -> Iterator[Figure]:
    count, interval = _count(), _interval()
    window = max(ctx.seconds, float(interval))
    _clean()
    ctx.on_cleanup(_clean)
    ctx.on_cleanup(_purge_broker)
    task_type = TaskType.objects.create(key=TASK_TYPE, name="Bench schedules")
    ctx.log(f"schedules: {count} schedules every {interval} s, windows of {window:g} s")
    made = _make_schedules(task_type, count, interval)

    ours = _lateness_run(ctx, made, interval, window, scheduler=OURS)
    _align_stock_entries(made, interval)
    stock = _lateness_run(ctx, made, interval, window, scheduler=STOCK)
    for name in ("p50", "p95", "p99", "max"):
        yield Figure(
            f"schedules.lateness_{name}_ms", ours[name], "ms",
            baseline_name=f"stock django-celery-beat DatabaseScheduler, {name}",
            baseline_value=stock[name], max_value=1000.0 if name == "p99" else None,
            extra={"ours": _summary(ours), "stock": _summary(stock), "schedules": count,
                   "interval_s": interval, "window_s": window} if name == "p99" else {})

    failover = _failover_run(ctx, made, interval)
    _align_stock_entries(made, interval)
    stock_doubles = _stock_pair_run(ctx, made, interval)
    yield Figure("schedules.failover_seconds", failover["seconds"], "s",
                 baseline_name="stock beat: no failover (two beats both fire)",
                 baseline_value=None, max_value=2.0, extra=failover)
    yield Figure("schedules.failover_doubles", failover["doubled"], "planned times",
                 baseline_name="two stock beats: firings sent twice",
                 baseline_value=stock_doubles["sent_twice"], max_value=0.5,
                 target_note="0 doubles", extra={"stock": stock_doubles})
    yield from workflows.run(ctx)


# --- the schedules ------------------------------------------------------------------------
def _make_schedules(task_type: TaskType, count: int, interval: int) -> list[Schedule]:
    """COUNT interval schedules with anchors spread over one interval, and their beat rows,
    written in bulk (the schedule service would take minutes for 10,000)."""
    # The first planned times lie ahead: a beat starting up has nothing to catch up on.
    base = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    every = IntervalSchedule.objects.filter(every=interval, period=IntervalSchedule.SECONDS)
    every = every.first() or IntervalSchedule.objects.create(every=interval,
                                                             period=IntervalSchedule.SECONDS)
    nonce = secrets.token_hex(3)
    schedules = Schedule.objects.bulk_create([
        Schedule(name=f"{TASK_TYPE}-{nonce}-{i}", task_type=task_type,
                 title="Bench {planned:%H:%M:%S}", interval_seconds=interval,
                 anchor=base + timedelta(seconds=interval * i / count))
        for i in range(count)], batch_size=2000)
    periodic = PeriodicTask.objects.bulk_create([
        PeriodicTask(name=f"schedule:{s.pk}", task=FIRE_TASK, args=f"[{s.pk}]", interval=every,
                     enabled=True, description=TASK_TYPE)
        for s in schedules], batch_size=2000)
    for schedule, row in zip(schedules, periodic, strict=True):
        schedule.periodic_task_id = row.pk
    Schedule.objects.bulk_update(schedules, ["periodic_task"], batch_size=2000)
    PeriodicTasks.update_changed()
    return list(Schedule.objects.filter(task_type=task_type).order_by("pk"))


def _align_stock_entries(made: list[Schedule], interval: int) -> None:
    """Stock beat counts an interval from the entry's last run: set it to each schedule's
    latest planned time, so stock fires on the same planned times as ours."""
    now = timezone.now()
    rows = []
    for schedule in made:
        row = PeriodicTask(pk=schedule.periodic_task_id)
        row.last_run_at = _floor_slot(schedule.anchor, interval, now)
        rows.append(row)
    PeriodicTask.objects.bulk_update(rows, ["last_run_at"], batch_size=2000)
    PeriodicTasks.update_changed()


def _floor_slot(anchor: datetime, interval: int, when: datetime) -> datetime:
    k = int((when - anchor).total_seconds() // interval)
    return anchor + timedelta(seconds=k * interval)


def _clean() -> None:
    Task.objects.filter(task_type__key=TASK_TYPE).delete()
    ids = list(Schedule.objects.filter(task_type__key=TASK_TYPE)
               .values_list("periodic_task_id", flat=True))
    Schedule.objects.filter(task_type__key=TASK_TYPE).delete()
    PeriodicTask.objects.filter(pk__in=[i for i in ids if i]).delete()
    PeriodicTask.objects.filter(description=TASK_TYPE).delete()
    TaskType.objects.filter(key=TASK_TYPE).delete()
    PeriodicTasks.update_changed()


# --- processes ----------------------------------------------------------------------------
class _Processes:
    def __init__(self, stack: ExitStack, key: str) -> None:
        self.stack = stack
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO",
                    "CELERY_BROKER_URL": bench_broker_url(settings.REDIS_URL, BROKER_DB),
                    "SCHEDULES_LEADER_KEY": key, "DJANGO_SETTINGS_MODULE": "taskmanage.settings"}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        fd, path = tempfile.mkstemp(prefix=f"bench-schedules-{name}-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "taskmanage", *args], cwd=REPO_DIR,
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                process_group=0)
        self.logs[name] = Path(path)
        self.stack.callback(Path(path).unlink, missing_ok=True)
        self.stack.callback(_stop, process)
        return process

    def worker(self) -> subprocess.Popen:
        return self.start("worker", "worker", "-l", "info", "-Q", "critical,default,low",
                          "--concurrency", "2", "--without-mingle", "--without-gossip")

    def beat(self, name: str, scheduler: str) -> subprocess.Popen:
        schedule_file = Path(tempfile.mkdtemp(prefix="bench-beat-")) / "schedule"
        return self.start(name, "beat", "-l", "info", "--scheduler", scheduler,
                          "--schedule", str(schedule_file))

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(15)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _purge_broker() -> None:
    client = redis.Redis.from_url(redis_url_with_db(settings.REDIS_URL, BROKER_DB))
    try:
        client.flushdb()
    finally:
        client.close()


def _wait(what: str, check, timeout: float = START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"bench schedules: timed out waiting for {what}")


def _key() -> str:
    return f"tm:bench:schedules:leader:{secrets.token_hex(4)}"


# --- lateness -----------------------------------------------------------------------------
def _lateness_run(ctx: BenchContext, made: list[Schedule], interval: int, window: float, *,
                  scheduler: str) -> dict:
    label = "ours" if scheduler == OURS else "stock"
    _purge_broker()
    with ExitStack() as stack:
        processes = _Processes(stack, _key())
        processes.worker()
        started = timezone.now()
        processes.beat("beat", scheduler)
        _wait(f"{label} beat's first spawn",
              lambda: Spawn.objects.filter(schedule__task_type__key=TASK_TYPE,
                                           created_at__gt=started).exists())
        ctx.log(f"schedules: {label} beat firing; warm-up {WARMUP_SECONDS:g} s, "
                f"then {window:g} s measured")
        time.sleep(WARMUP_SECONDS)
        begin = timezone.now()
        time.sleep(window)
        end = timezone.now()
        # The firings of the window's last moments reach the worker a little later.
        time.sleep(min(5.0, interval / 2))
    return _lateness(made, interval, begin, end)


def _lateness(made: list[Schedule], interval: int, begin: datetime, end: datetime) -> dict:
    anchors = {s.pk: s.anchor for s in made}
    rows = (Spawn.objects.filter(schedule__task_type__key=TASK_TYPE, task__isnull=False)
            .annotate(queued=F("task__queued_at"))
            .values_list("schedule_id", "queued"))
    late: dict[tuple[int, datetime], float] = {}
    for schedule_id, queued in rows.filter(task__queued_at__gte=begin):
        slot = _floor_slot(anchors[schedule_id], interval, queued)
        if begin <= slot < end:
            late.setdefault((schedule_id, slot), (queued - slot).total_seconds() * 1000)
    expected = sum(_slots_between(s.anchor, interval, begin, end) for s in made)
    values = list(late.values()) or [float("nan")]
    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "max": max(values), "spawned": len(late),
            "expected": expected, "missing": max(0, expected - len(late))}


def _slots_between(anchor: datetime, interval: int, begin: datetime, end: datetime) -> int:
    """How many planned times anchor + k * interval fall in [begin, end)."""
    first = math.ceil((begin - anchor).total_seconds() / interval)
    last = math.ceil((end - anchor).total_seconds() / interval) - 1
    return max(0, last - first + 1)


def _summary(result: dict) -> dict:
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()}


# --- failover -----------------------------------------------------------------------------
def _failover_run(ctx: BenchContext, made: list[Schedule], interval: int) -> dict:
    _purge_broker()
    with ExitStack() as stack:
        processes = _Processes(stack, _key())
        processes.worker()
        beats = {name: processes.beat(name, OURS) for name in ("beat-1", "beat-2")}
        started = timezone.now()
        holder = _wait("a leader", lambda: _holder_since(started))
        old_token = LeaderFence.objects.get(pk=1).token
        ctx.log(f"schedules: failover: leader token {old_token}; steady for "
                f"{FAILOVER_STEADY_SECONDS:g} s, then SIGKILL")
        time.sleep(FAILOVER_STEADY_SECONDS)
        leader = next(p for p in beats.values() if f":{p.pid}:" in holder)
        killed_at = timezone.now()
        os.killpg(leader.pid, signal.SIGKILL)
        # The new leader records how far it has dispatched right after its first send: the
        # first value seen is the moment of its first firing (sampled every 20 ms).
        sent = _wait("the new leader's first firing", lambda: _first_dispatch(old_token), 30)
        new_token = LeaderFence.objects.get(pk=1).token
        first = _wait("the new leader's first spawn", lambda: Task.objects.filter(
            pk__in=Spawn.objects.filter(token=new_token).values("task_id"))
            .order_by("queued_at").values_list("queued_at", flat=True).first(), 60)
        time.sleep(FAILOVER_STEADY_SECONDS)
        worker_log = processes.log("worker")
    already = sum(int(n) for n in re.findall(r"(\d+) spawned before", worker_log))
    doubled = (Spawn.objects.filter(schedule__task_type__key=TASK_TYPE)
               .values("schedule_id", "planned_time").order_by()
               .annotate(n=Count("id")).filter(n__gt=1).count())
    return {"seconds": (sent - killed_at).total_seconds(),
            "first_spawn_seconds": (first - killed_at).total_seconds(), "doubled": doubled,
            "old_token": old_token, "new_token": new_token,
            "firings_found_spawned_already": already, "schedules": len(made),
            "interval_s": interval}


def _first_dispatch(old_token: int) -> datetime | None:
    fence = LeaderFence.objects.filter(pk=1, token__gt=old_token).first()
    if fence is None or fence.dispatched_until is None or fence.raised_at is None:
        return None
    return fence.dispatched_until if fence.dispatched_until >= fence.raised_at else None


def _holder_since(started: datetime) -> str | None:
    fence = LeaderFence.objects.filter(pk=1, raised_at__gt=started).first()
    return fence.holder if fence is not None else None


def _stock_pair_run(ctx: BenchContext, made: list[Schedule], interval: int) -> dict:
    """Two stock beats for as long as the failover run lasted: every firing goes out twice;
    the unique planned time keeps the second from spawning."""
    _purge_broker()
    seconds = FAILOVER_STEADY_SECONDS * 2
    with ExitStack() as stack:
        processes = _Processes(stack, _key())
        processes.worker()
        started = timezone.now()
        processes.beat("stock-1", STOCK)
        processes.beat("stock-2", STOCK)
        _wait("stock beats' first spawn",
              lambda: Spawn.objects.filter(schedule__task_type__key=TASK_TYPE,
                                           created_at__gt=started).exists())
        ctx.log(f"schedules: two stock beats for {seconds:g} s")
        time.sleep(seconds)
        time.sleep(3.0)
        worker_log = processes.log("worker")
    ran = len(re.findall(FIRE_SUCCEEDED, worker_log))
    spawned = len(re.findall(FIRE_SUCCEEDED + r" in [\d.e-]+s: '", worker_log))
    return {"fire_messages_run": ran, "spawned": spawned, "sent_twice": max(0, ran - spawned),
            "seconds": seconds}
