"""/metrics adds up every process of the host: a transition made in a real Celery worker (its
forked pool process) appears in the web's /metrics (taskmanage/multiproc.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from apps.ops.management.commands.run_system import Command as RunSystem
from apps.tasks.models import Task
from apps.tasks.states import TaskStatus
from apps.tasks.tasks import promote_due_tasks
from taskmanage import multiproc
from tests.builders import make_task_type, task_in_state
from tests.metrics import Metrics, value

REPO_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


def _start_worker(queue: str, metrics_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _database_url(), multiproc.ENV: str(metrics_dir),
           "DEBUG": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "taskmanage", "worker", "-l", "warning",
         "-Q", queue, "--concurrency", "1", "--without-heartbeat", "--without-mingle",
         "--without-gossip", "-n", f"{queue}@%h"],
        cwd=REPO_DIR, env=env, stdin=subprocess.DEVNULL, process_group=0)


def _wait_for(check, what: str, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited"
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {WAIT_SECONDS} s")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="the worker process needs the test database on a server")
def test_a_transition_in_a_celery_worker_appears_in_the_web_metrics(
        alice, client, settings, monkeypatch, tmp_path):
    metrics_dir = tmp_path / "prometheus"
    multiproc.reset_directory(metrics_dir)
    kind = make_task_type("metrics-from-worker")
    task = task_in_state("scheduled", creator=alice, task_type=kind, priority=2,
                         run_at=timezone.now() - timedelta(minutes=1))
    queue = f"metrics-{uuid.uuid4().hex[:8]}"  # nobody else's worker takes this message
    worker = _start_worker(queue, metrics_dir)
    try:
        promote_due_tasks.apply_async(queue=queue)
        _wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED,
                  "the worker promoted the task", worker)
        # The web reads the directory every process of the host writes to.
        monkeypatch.setenv(multiproc.ENV, str(metrics_dir))
        _wait_for(lambda: value(Metrics(client, settings).now(),
                                "taskmanage_task_transitions_total",
                                transition="promote", to_status="queued") == 1,
                  "the worker's transition counted in /metrics", worker)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    # Its files are named after the host and the pool process, not the bare pid.
    written = [p.name for p in metrics_dir.iterdir()]
    assert any(name.startswith("counter_") and f"{multiproc._HOST}-" in name
               for name in written), written


def test_dead_processes_of_this_host_lose_their_live_gauges_not_their_counters(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = multiproc._HOST
    files = {
        "dead_live": tmp_path / f"gauge_livesum_{host}-{dead.pid}.db",
        "dead_counter": tmp_path / f"counter_{host}-{dead.pid}.db",
        "alive_live": tmp_path / f"gauge_livesum_{host}-{os.getpid()}.db",
        "other_host": tmp_path / f"gauge_livesum_elsewhere-{dead.pid}.db",
    }
    for path in files.values():
        path.write_bytes(b"")

    multiproc.forget_dead_processes(str(tmp_path))

    assert {name for name, path in files.items() if path.exists()} == {
        "dead_counter", "alive_live", "other_host"}


def test_run_system_gives_every_child_one_fresh_directory(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_gone-1.db").write_bytes(b"stale")
    monkeypatch.setenv(multiproc.ENV, str(directory))

    RunSystem()._share_metrics_directory()

    # The children inherit this environment (Popen without env=).
    assert os.environ[multiproc.ENV] == str(directory)
    assert directory.is_dir() and not any(directory.iterdir())


def test_run_system_defaults_to_a_directory_under_var(settings, tmp_path, monkeypatch):
    monkeypatch.delenv(multiproc.ENV, raising=False)
    settings.VAR_DIR = tmp_path
    try:
        RunSystem()._share_metrics_directory()
        assert os.environ[multiproc.ENV] == str(tmp_path / "prometheus")
        assert (tmp_path / "prometheus").is_dir()
    finally:
        os.environ.pop(multiproc.ENV, None)
