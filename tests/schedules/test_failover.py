"""Two real `celery beat` processes with the leader scheduler, and a real worker, on this
test's PostgreSQL database: the leader killed, the leader paused and resumed.

Each test has its own lease key and its own broker database, so nothing of another test (or
another pytest worker) takes part.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.schedules.models import LeaderFence, Schedule, Spawn
from apps.tasks.models import Task

from .conftest import make_schedule

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the processes need this test's database: PostgreSQL only"),
]
REPO_DIR = Path(__file__).resolve().parents[2]
INTERVAL = 2  # seconds between planned times
START_TIMEOUT = 120  # process start-up on a busy 2-core machine
TAKEOVER_LIMIT = timedelta(seconds=2)


def _broker_url() -> str:
    # A Redis database of its own per pytest worker: no other test's worker takes our firings.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db = 8 + int(worker.removeprefix("gw") or 0) % 6
    url = settings.REDIS_URL
    if url.startswith("unix://"):
        return f"redis+socket://{url.removeprefix('unix://')}?virtual_host={db}"
    return url.rsplit("/", 1)[0] + f"/{db}"


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = f"tm:test:beat:{uuid.uuid4().hex}"
        self.broker = _broker_url()
        self.env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
                    "CELERY_BROKER_URL": self.broker, "SCHEDULES_LEADER_KEY": self.key,
                    "DB_POOL": "0", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps it)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "taskmanage", *args], cwd=REPO_DIR,
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            process_group=0)
        log.close()
        self.processes[name] = process
        return process

    def beat(self, name: str) -> subprocess.Popen:
        return self.start(name, "beat", "-l", "info", "--scheduler",
                          "apps.schedules.leader:LeaderScheduler",
                          "--schedule", str(self.tmp / f"{name}.db"))

    def worker(self) -> subprocess.Popen:
        return self.start("worker", "worker", "-l", "info", "-Q", "critical,default,low",
                          "--pool", "solo", "--without-mingle", "--without-gossip")

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        client = redis.Redis.from_url(settings.SCHEDULES_LEADER_REDIS_URL)
        client.delete(self.key, f"{self.key}:token")
        client.close()
        broker = redis.Redis.from_url(self.broker.replace("redis+socket://", "unix://")
                                      .replace("?virtual_host=", "?db="))
        broker.flushdb()
        broker.close()


@contextmanager
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def wait_for(what: str, check: Callable[[], object], timeout: float,
             running: Stack | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    logs = "".join(f"\n--- {name}:\n{running.log(name)[-3000:]}"
                   for name in (running.processes if running else ()))
    raise AssertionError(f"timed out waiting for {what}{logs}")


def fence() -> LeaderFence | None:
    return LeaderFence.objects.filter(pk=1).first()


def leader_of(running: Stack) -> str | None:
    state = fence()
    if state is None or not state.token:
        return None
    pid = int(state.holder.split(":")[1])
    return next((n for n, p in running.processes.items() if p.pid == pid), None)


def schedules(report_type, count: int) -> list[Schedule]:
    return [make_schedule(report_type, name=f"every {INTERVAL} s #{i}",
                          interval_seconds=INTERVAL) for i in range(count)]


def assert_every_planned_time_spawned_once(made: list[Schedule], since: datetime,
                                           until: datetime) -> None:
    for schedule in made:
        planned = list(Spawn.objects.filter(schedule=schedule, planned_time__gt=since,
                                            planned_time__lte=until)
                       .order_by("planned_time").values_list("planned_time", flat=True))
        assert planned, f"{schedule} spawned nothing"
        steps = {(b - a).total_seconds() for a, b in zip(planned, planned[1:], strict=False)}
        assert steps <= {float(INTERVAL)}, f"{schedule}: a gap or a double in {planned}"
    # The unique constraint forbids doubles; no spawn without its task either.
    assert not Spawn.objects.filter(task__isnull=True).exists()


def test_the_leader_killed_the_other_beat_fires_the_next_run_on_time(report_type, tmp_path):
    made = schedules(report_type, 3)
    with stack(tmp_path) as running:
        running.worker()
        running.beat("beat-a")
        running.beat("beat-b")
        leader = wait_for("a leader", lambda: leader_of(running), START_TIMEOUT, running)
        old_token = fence().token
        wait_for("the leader's spawns", lambda: Spawn.objects.filter(token=old_token).count() >= 6,
                 START_TIMEOUT)
        time.sleep(INTERVAL * 1.5)

        killed_at = timezone.now()
        os.killpg(running.processes[leader].pid, signal.SIGKILL)
        wait_for("a new leader", lambda: fence().token > old_token, 10, running)
        new_token = fence().token
        first_after = wait_for(
            "the first run after the kill",
            lambda: Spawn.objects.filter(planned_time__gt=killed_at, token=new_token)
            .order_by("planned_time").first(), 10)
        time.sleep(INTERVAL * 2.5)
        survivor = leader_of(running)
        settled = timezone.now() - timedelta(seconds=1)

    assert survivor is not None and survivor != leader
    # The first planned time after the kill is spawned (task queued) within 2 s of it.
    queued_at = Task.objects.get(pk=first_after.task_id).queued_at
    assert queued_at - first_after.planned_time < TAKEOVER_LIMIT
    # Nothing doubled, nothing lost, across the switch.
    first = Spawn.objects.filter(token=old_token).order_by("planned_time").first().planned_time
    assert_every_planned_time_spawned_once(made, first - timedelta(microseconds=1), settled)
    assert Spawn.objects.filter(token=old_token, planned_time__gt=killed_at).count() == 0


def test_a_paused_leader_resumed_fires_nothing(report_type, tmp_path):
    made = schedules(report_type, 3)
    with stack(tmp_path) as running:
        # No worker yet: the paused leader's firings wait in the broker, as they would behind
        # a slow worker, and reach the worker only after the new leader raised the fence.
        running.beat("beat-a")
        running.beat("beat-b")
        leader = wait_for("a leader", lambda: leader_of(running), START_TIMEOUT, running)
        old_token = fence().token
        wait_for("the leader's first firings", lambda: "beat: sent" in running.log(leader),
                 START_TIMEOUT)
        time.sleep(INTERVAL * 1.5)

        paused = running.processes[leader]
        os.killpg(paused.pid, signal.SIGSTOP)
        paused_at = timezone.now()
        wait_for("a new leader", lambda: fence().token > old_token, 10, running)
        new_token = fence().token
        time.sleep(INTERVAL)
        resumed_log = len(running.log(leader))
        os.killpg(paused.pid, signal.SIGCONT)
        time.sleep(INTERVAL * 1.5)

        running.worker()
        resumed_at = timezone.now()
        wait_for("the new leader's spawns after the resume",
                 lambda: Spawn.objects.filter(token=new_token,
                                              planned_time__gt=resumed_at).exists(),
                 START_TIMEOUT)
        time.sleep(INTERVAL)
        settled = timezone.now() - timedelta(seconds=1)
        after_resume = running.log(leader)[resumed_log:]
        state = fence()

    assert "beat: sent" not in after_resume  # it knew its lease had run out
    assert state.refused > 0  # what it sent before the pause was refused by the fence
    assert not Spawn.objects.filter(token=old_token).exists()
    # The new leader replayed what the old one's refused firings were for: nothing lost.
    first = Spawn.objects.order_by("planned_time").first().planned_time
    assert first < paused_at
    assert_every_planned_time_spawned_once(made, first - timedelta(microseconds=1), settled)
